"""The further queries, per address: DNSSEC material, AXFR and recursion attempts, EDNS
variants and NSID, plus the parent's DS set: the further probe of probes.observe.EXTRA_PROBES.

Per responding address at most 8 queries (DNSKEY, SOA+DO, AXFR, recursion, three EDNS
variants, NSID), fewer when the checks that read them are disabled; an address that
did not respond at all to the core SOA queries only gets the query without EDNS (does it
answer when EDNS is left out?). The engine bounds the concurrency per address.
"""

from __future__ import annotations

import asyncio
import dataclasses
import functools
import struct
from collections.abc import Awaitable, Coroutine, Iterable
from typing import Any

import dns.edns
import dns.flags
import dns.rdatatype

from probes import labels
from probes.engine import QueryEngine
from probes.evidence import responded
from probes.model import Delegation, FailureKind, Observation, Question, Transport
from probes.transport import WireQuery

DNSSEC_CHECKS = frozenset({"DNSSEC01", "DNSSEC02", "DNSSEC03", "DNSSEC04"})
MAX_PARENT_TRIES = 2  # parent servers asked for the DS set, one after the other


@dataclasses.dataclass(frozen=True, slots=True)
class FurtherQuery:
    """One further query per address, and the checks that read its answer: it is sent
    while one of them is enabled."""

    label: str  # probes.labels; _WIRE says what goes on the wire
    readers: frozenset[str]


#: The further queries of a responding address, in the order they are sent: an explicit
#: list (an address that did not respond gets only the query without EDNS).
FURTHER_QUERIES: tuple[FurtherQuery, ...] = (
    FurtherQuery(labels.SOA_PLAIN, frozenset({"EDNS01"})),
    FurtherQuery(labels.DNSKEY_DO, DNSSEC_CHECKS),
    FurtherQuery(labels.SOA_DO, DNSSEC_CHECKS | {"EDNS01"}),
    FurtherQuery(labels.SOA_EDNS1, frozenset({"EDNS01"})),
    FurtherQuery(labels.SOA_OPTION, frozenset({"EDNS01"})),
    FurtherQuery(labels.SOA_NSID, frozenset({"NSID01"})),
    FurtherQuery(labels.AXFR, frozenset({"SEC01"})),
    FurtherQuery(labels.RECURSION, frozenset({"SEC02"})),
)


def wanted_queries(disabled: Iterable[str], *, responding: bool) -> list[str]:
    """The labels of the further queries for one address, given the disabled checks."""
    off = set(disabled)
    wanted = [q.label for q in FURTHER_QUERIES if q.readers - off]
    return wanted if responding else [label for label in wanted if label == labels.SOA_PLAIN]


@dataclasses.dataclass(frozen=True, slots=True)
class _Wire:
    """What one further query puts on the wire beside its name and type."""

    rdtype: str
    transport: Transport = Transport.UDP
    edns: bool = True  # an OPT record (EDNS version `version`, our buffer size)
    version: int = 0
    dnssec_ok: bool = False
    option: int | None = None  # the code of one empty EDNS option
    recursion_desired: bool = False
    qname: str | None = None  # None: the zone


_WIRE: dict[str, _Wire] = {
    labels.SOA_PLAIN: _Wire("SOA", edns=False),
    labels.SOA_EDNS1: _Wire("SOA", version=1),
    labels.SOA_OPTION: _Wire("SOA", option=labels.UNKNOWN_OPTION_CODE),
    labels.SOA_DO: _Wire("SOA", dnssec_ok=True),
    labels.SOA_NSID: _Wire("SOA", option=int(dns.edns.OptionType.NSID)),
    labels.RECURSION: _Wire("SOA", recursion_desired=True, qname=labels.RECURSION_QNAME),
    labels.DNSKEY_DO: _Wire("DNSKEY", dnssec_ok=True),
    labels.DS_DO: _Wire("DS", dnssec_ok=True),
    labels.AXFR: _Wire("AXFR", transport=Transport.TCP, edns=False),
}

_FLAGS = struct.Struct("!H")
_OPT = struct.Struct("!HHIH")  # the OPT record after its root owner: type, size, TTL, length
_OPTION = struct.Struct("!HH")  # an EDNS option's code and length
_OPT_LENGTH = 1 + _OPT.size  # the OPT the engine's standard query ends with (no options)


@functools.lru_cache(maxsize=65536)
def build_query(label: str, zone: str, edns_buffer: int) -> tuple[str, str, Transport,
                                                                   WireQuery]:
    """(qname, wire type, transport, query bytes) for one labelled query. Built once per
    (label, zone, buffer) and shared (the engine sends it under a fresh ID each time). The
    bytes are the engine's standard query (`WireQuery.standard`: the question, and an OPT
    without options) with the header flags and the OPT record rewritten; dnspython built
    each of these messages at ~100 µs, 5,000 of them in a one-shot check of the ccTLDs."""
    spec = _WIRE.get(label)
    if spec is None:
        raise ValueError(f"unknown further query {label!r}")
    qname = zone if spec.qname is None else spec.qname
    base = WireQuery.standard(qname, spec.rdtype, edns_buffer if spec.edns else None)
    wire = base.wire
    if spec.recursion_desired:
        wire = wire[:2] + _FLAGS.pack(dns.flags.RD) + wire[4:]
    if spec.edns:
        data = b"" if spec.option is None else _OPTION.pack(spec.option, 0)
        ttl = spec.version << 16 | (dns.flags.DO if spec.dnssec_ok else 0)
        opt = b"\0" + _OPT.pack(dns.rdatatype.OPT, edns_buffer, ttl, len(data)) + data
        wire = wire[:-_OPT_LENGTH] + opt
    return qname, spec.rdtype, spec.transport, WireQuery(wire, base.question, base.payload)


def ask_further(engine: QueryEngine, nameserver: str, address: str, zone: str,
                label: str) -> Coroutine[Any, Any, Observation]:
    """One further query (to await); its observation's question carries the label as its
    variant. The engine's own coroutine, with no frame of ours around it: ~20,000 of them
    in a one-shot check of the ccTLDs, each resumed through every frame of its chain."""
    qname, wire_type, transport, query = build_query(label, zone, engine.settings.edns_buffer)
    return engine.ask(nameserver, address, qname, wire_type, transport, query=query,
                      variant=label)


def _responding(core: list[Observation], zone: str) -> set[tuple[str, str]]:
    return {
        (o.nameserver, o.address) for o in core
        if o.question.rdtype == "SOA" and o.question.name == zone and responded(o)
    }


def _silent_by_timeout(core: list[Observation], zone: str, key: tuple[str, str]) -> bool:
    """No reply because of a timeout (maybe dropping EDNS queries), not a refused port."""
    return any(
        o.failure is FailureKind.TIMEOUT for o in core
        if (o.nameserver, o.address) == key and o.question.rdtype == "SOA"
        and o.question.name == zone and o.transport is Transport.UDP
    )


async def parent_ds_queries(delegation: Delegation, engine: QueryEngine) -> list[Observation]:
    """The parent's DS set, asked of its servers one after the other until one answers."""
    tried: list[Observation] = []
    for address in delegation.parent_addresses[:MAX_PARENT_TRIES]:
        obs = await ask_further(engine, labels.PARENT, address, delegation.zone, labels.DS_DO)
        tried.append(obs)
        if obs.reply is not None:
            break
    return tried


async def further_queries(
    delegation: Delegation, core: list[Observation], engine: QueryEngine
) -> list[Observation]:
    """The further probe: every further query of the enabled checks, concurrently."""
    zone = delegation.zone
    disabled = engine.settings.disabled_checks
    responding = _responding(core, zone)
    # One observation per query, or a list of them for the step by step ones, in probe order
    tasks: list[Awaitable[Observation | list[Observation]]] = []
    for ns in delegation.nameservers:
        for address in ns.addresses:
            key = (ns.name, address)
            if key in responding:
                tasks += [ask_further(engine, ns.name, address, zone, label)
                          for label in wanted_queries(disabled, responding=True)]
            elif _silent_by_timeout(core, zone, key):
                tasks.append(_plain_then_edns(engine, ns.name, address, zone, disabled))
            # else: refused port or never probed: nothing more to learn
    want_ds = not set(disabled) >= DNSSEC_CHECKS and bool(delegation.parent_addresses)
    per_address, parent = await asyncio.gather(
        asyncio.gather(*tasks),
        parent_ds_queries(delegation, engine) if want_ds else _nothing(),
    )
    found: list[Observation] = []
    for result in per_address:
        if isinstance(result, list):
            found += result
        else:
            found.append(result)
    return found + parent + _edns0_copies(core, zone)


async def _plain_then_edns(engine: QueryEngine, nameserver: str, address: str, zone: str,
                           disabled: Iterable[str]) -> list[Observation]:
    """An address whose core (EDNS0) SOA queries timed out: does it answer without EDNS? If
    it does, the EDNS variants too, so that a server dropping EDNS shows it on every one of
    them, and one lost datagram on a lossy path is not mistaken for that (EDNS01)."""
    wanted = wanted_queries(disabled, responding=False)
    if not wanted:
        return []
    plain = await ask_further(engine, nameserver, address, zone, wanted[0])
    if plain.reply is None:
        return [plain]
    variants = [labels.SOA_EDNS1, labels.SOA_OPTION, labels.SOA_DO]
    more = await asyncio.gather(*(ask_further(engine, nameserver, address, zone, label)
                                  for label in variants))
    return [plain, *more]


def _edns0_copies(core: list[Observation], zone: str) -> list[Observation]:
    """The core EDNS0 SOA answers, relabelled to travel with this batch (labels.SOA_EDNS0)."""
    return [
        dataclasses.replace(o, question=Question(o.question.name, "SOA", labels.SOA_EDNS0))
        for o in core
        if o.question.rdtype == "SOA" and not o.question.variant and o.question.name == zone
        and o.transport is Transport.UDP
    ]


async def _nothing() -> list[Observation]:
    return []

