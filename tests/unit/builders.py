"""Hand-made observations for the judges: replies written as text, the way dig shows them."""

from __future__ import annotations

import dns.flags
import dns.message
import dns.rcode
import dns.rrset

from probes.checks import Evidence
from probes.model import (
    Delegation,
    FailureKind,
    NameServer,
    Observation,
    Question,
    Source,
    Transport,
)
from probes.settings import ProbeSettings

ZONE = "fr."
SOA_TEXT = "ns1.nic.fr. hostmaster.nic.fr. {serial} 14400 3600 604800 3600"


def reply(
    qname: str = ZONE, rdtype: str = "SOA", *, rcode: int = dns.rcode.NOERROR, aa: bool = True,
    answer: list[str] | None = None, authority: list[str] | None = None,
) -> dns.message.Message:
    """A reply to `qname rdtype`; records as zone-file lines ("fr. 3600 IN NS ns1.nic.fr.")."""
    query = dns.message.make_query(qname, rdtype)
    msg = dns.message.make_response(query)
    msg.flags = dns.flags.QR | (dns.flags.AA if aa else 0)
    msg.set_rcode(rcode)  # after the flags: the rcode's low bits live in them
    for section, lines in ((msg.answer, answer or []), (msg.authority, authority or [])):
        for line in lines:
            section.append(dns.rrset.from_text(*_split(line)))
    return msg


def _split(line: str) -> tuple[str, int, str, str, str]:
    owner, ttl, rdclass, rdtype, rdata = line.split(None, 4)
    return owner, int(ttl), rdclass, rdtype, rdata


def soa_reply(serial: int = 2026112701, *, owner: str = ZONE, soa: str | None = None,
              aa: bool = True) -> dns.message.Message:
    text = soa or SOA_TEXT.format(serial=serial)
    return reply(answer=[f"{owner} 3600 IN SOA {text}"], aa=aa)


def obs(
    nameserver: str = "ns1.nic.fr.", address: str = "192.0.2.1", *, rdtype: str = "SOA",
    transport: Transport = Transport.UDP, msg: dns.message.Message | None = None,
    rtt: float | None = 0.02, failure: FailureKind | None = None, qname: str = ZONE,
    variant: str = "",
) -> Observation:
    return Observation(
        nameserver=nameserver, address=address, transport=transport,
        question=Question(qname, rdtype, variant), sent_at=0.0,
        rtt=rtt if msg is not None else None, reply=msg, failure=failure,
    )


def delegation(servers: dict[str, list[str]], *, glue: dict[str, list[str]] | None = None,
               parent_ns: list[str] | None = None) -> Delegation:
    names = parent_ns if parent_ns is not None else sorted(servers)
    return Delegation(
        zone=ZONE,
        parent_ns=tuple(names),
        glue={n: tuple(a) for n, a in (glue or {}).items()},
        nameservers=tuple(
            NameServer(n, tuple(a), frozenset({Source.PARENT, Source.GLUE}))
            for n, a in servers.items()
        ),
        parent_addresses=("198.51.100.1",),
    )


def evidence(observations: list[Observation], servers: dict[str, list[str]] | None = None,
             settings: ProbeSettings | None = None, **kw: object) -> Evidence:
    """Evidence whose delegation lists exactly the (NS, address) pairs observed."""
    if servers is None:
        servers = {}
        for o in observations:
            if o.address not in servers.setdefault(o.nameserver, []):
                servers[o.nameserver].append(o.address)
    return Evidence(ZONE, delegation(servers, **kw), tuple(observations),  # type: ignore[arg-type]
                    settings or ProbeSettings())


def healthy(nameserver: str, address: str, serial: int = 2026112701,
            rtt: float = 0.02) -> list[Observation]:
    """SOA over UDP and TCP, both authoritative and quick."""
    return [
        obs(nameserver, address, msg=soa_reply(serial), rtt=rtt),
        obs(nameserver, address, msg=soa_reply(serial), rtt=rtt * 2, transport=Transport.TCP),
    ]
