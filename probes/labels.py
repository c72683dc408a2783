"""Names of the further queries, shared by the probe that sends them and the judges.

Several of these are SOA queries for the zone apex that differ only in EDNS or header
flags. They must not be mistaken for the core SOA observations (LAME01, SOA01, RTT01 read
`Evidence.soa()`), so each observation carries its name here as `Question.variant` beside
the record type it asked (`Question.rdtype`, e.g. "SOA"); the core queries have no variant.
"""

from __future__ import annotations

from collections.abc import Mapping

from probes.evidence import Evidence
from probes.model import Observation

SOA_EDNS0 = "SOA/edns0"  # a copy of the core UDP SOA observation, taken with this batch:
# the further answers may be reused for a while (further_checks_interval), and EDNS01 must
# compare answers of one moment, not an old plain answer with a fresh EDNS0 one.
SOA_PLAIN = "SOA/no-edns"  # no OPT record at all (EDNS01 "plain")
SOA_EDNS1 = "SOA/edns-version-1"  # EDNS version 1: the answer must be BADVERS, version 0
SOA_OPTION = "SOA/edns-unknown-option"  # an unassigned EDNS option: must be ignored
SOA_DO = "SOA/do"  # DO=1: the DO bit echoed, and the SOA with its RRSIG (DNSSEC02/03)
SOA_NSID = "SOA/nsid"  # the NSID option (RFC 5001): the server's identity
RECURSION = "SOA/rd"  # ". SOA" with RD=1: a recursive answer means an open resolver
DNSKEY_DO = "DNSKEY/do"  # the apex DNSKEY set with its RRSIGs
DS_DO = "DS/do"  # the zone's DS set, asked of the parent (name server "parent")
AXFR = "AXFR"  # over TCP; the first message of a granted transfer starts with the SOA

RECURSION_QNAME = "."  # outside every ccTLD; an authoritative-only server will not answer it
UNKNOWN_OPTION_CODE = 100  # unassigned in the IANA EDNS option registry (as ISC's genreport)
PARENT = "parent"  # Observation.nameserver of the parent's DS answer


def by_label(evidence: Evidence, label: str) -> Mapping[tuple[str, str], Observation]:
    """The observation of one further query per (name server, address): read only."""
    return evidence.by_address(label)


def parent_ds(evidence: Evidence) -> Observation | None:
    """The parent's answer to the DS query: the first one that came back, else the last."""
    tried = [o for o in evidence.variant(DS_DO) if o.nameserver == PARENT]
    answered = [o for o in tried if o.reply is not None]
    if answered:
        return answered[0]
    return tried[-1] if tried else None
