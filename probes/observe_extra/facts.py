"""Per-address facts of the further queries, for the report's ServerStatus rows. Pure."""

from __future__ import annotations

import dataclasses

from probes.checks import dnssec, edns, security
from probes.checks.evidence import Evidence
from probes.model import ServerStatus, Transport
from probes.observe_extra.labels import AXFR, RECURSION, by_label


def with_address_facts(statuses: list[ServerStatus], evidence: Evidence) -> list[ServerStatus]:
    """The statuses, their UDP rows with the per-address facts filled in (TCP rows as given)."""
    expiries = dnssec.expiries(evidence)
    valid: dict[tuple[str, str], bool] = {}
    if dnssec.is_signed(evidence):
        valid = {key: all(v.status == "valid" for v in verdicts)
                 for key, verdicts in dnssec.signature_verdicts(evidence).items()}
    nsids = edns.nsids(evidence)
    outcomes = edns.edns_outcomes(evidence)
    axfr = by_label(evidence, AXFR)
    recursion = by_label(evidence, RECURSION)
    out = []
    for status in statuses:
        key = (status.nameserver, status.address)
        if status.transport is Transport.UDP:
            expiry = expiries.get(key)
            status = dataclasses.replace(
                status,
                rrsig_expires_at=expiry.expires_at if expiry else None,
                dnssec_valid=valid.get(key),
                nsid=nsids.get(key, ""),
                edns=outcomes.get(key, {}),
                axfr_open=security.axfr_granted(axfr.get(key), evidence.zone),
                recursion_open=security.recursion_offered(recursion.get(key)),
            )
        out.append(status)
    return out
