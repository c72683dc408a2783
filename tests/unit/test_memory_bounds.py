"""Issue 17, memory bounded in bytes: the parse cache holds at most its byte budget, large
replies keep only what the judges read and are never cached, and the readings the judges
share live for one sweep only."""

from __future__ import annotations

import gc
import os
import weakref

import dns.flags
import dns.message
import dns.rrset
import pytest

from monitor.config import ConfigError, parse_config
from probes.evidence import (
    Evidence,
    apex_soa,
    per_evidence,
    per_reply,
    reply_lame_reason,
    sweep_readings,
)
from probes.model import Delegation
from probes.settings import DEFAULT_PARSE_CACHE_BYTES, ProbeSettings
from probes.transport import (
    LARGE_REPLY_BYTES,
    PARSE_CACHE,
    ParseCache,
    WireQuery,
    _ReplyMatcher,
    entry_cost,
    make_query,
)
from probes.wire import parse_reply

SOA = "ns1.nic.fr. h.nic.fr. 1 14400 3600 604800 3600"


def reply_wire(serial: int = 1, padding: int = 0, query: WireQuery | None = None) -> bytes:
    """An authoritative `fr. SOA` reply (ID 0 unless a query is given), padded with about
    `padding` bytes of random TXT records in the additional section."""
    asked = dns.message.from_wire(query.wire) if query else make_query("fr.", "SOA")
    message = dns.message.make_response(asked)
    message.flags |= dns.flags.AA
    message.answer.append(dns.rrset.from_text("fr.", 60, "IN", "SOA",
                                              SOA.replace(" 1 ", f" {serial} ")))
    message.authority.append(dns.rrset.from_text("fr.", 60, "IN", "NS", "ns1.nic.fr."))
    message.additional.append(dns.rrset.from_text("ns1.nic.fr.", 60, "IN", "A", "192.0.2.1"))
    if query is None:
        message.id = 0
    wire = message.to_wire(max_size=65535)
    while len(wire) < padding:  # one ~240-byte record at a time, up to the size asked
        message.additional.append(dns.rrset.from_text(
            f"pad{len(message.additional)}.fr.", 60, "IN", "TXT",
            '"' + os.urandom(100).hex() + '"'))
        wire = message.to_wire(max_size=65535)
    return wire


def test_the_cache_holds_what_fits_its_budget_and_no_byte_more():
    a, b, c = (reply_wire(serial) for serial in (1, 2, 3))
    cache = ParseCache(entry_cost(a, parse_reply(a))
                       + entry_cost(b, parse_reply(b)))  # exactly two entries
    first = cache.parse(a)
    cache.parse(b)
    assert len(cache) == 2 and cache.used == cache.budget
    assert cache.parse(a) is first and cache.hits == 1  # equal bytes: parsed once
    cache.parse(c)  # one byte too many: the least recently used (b) goes, a stays
    assert len(cache) == 2 and cache.used <= cache.budget
    assert cache.parse(a) is first
    misses = cache.misses
    cache.parse(b)
    assert cache.misses == misses + 1


def test_one_byte_under_two_entries_keeps_one():
    a, b = reply_wire(1), reply_wire(2)
    cache = ParseCache(entry_cost(a, parse_reply(a)) + entry_cost(b, parse_reply(b)) - 1)
    cache.parse(a)
    cache.parse(b)
    assert len(cache) == 1 and cache.used == entry_cost(b, parse_reply(b))


def test_a_zero_budget_caches_nothing_and_shrinking_evicts():
    wire = reply_wire()
    off = ParseCache(0)
    assert off.parse(wire) is not off.parse(wire) and len(off) == 0
    cache = ParseCache(10 * entry_cost(wire, parse_reply(wire)))
    for serial in range(10):
        cache.parse(reply_wire(serial))
    assert len(cache) == 10
    cache.resize(3 * entry_cost(wire, parse_reply(wire)))
    assert len(cache) == 3 and cache.used <= cache.budget


@pytest.mark.parametrize("padding", [0, 2_000, 14_000])
def test_the_cost_estimate_covers_what_a_parsed_reply_holds(padding):
    """Replies our reader reads (padding 0: SOA, NS, A) and those dnspython parses (TXT
    padding), each with its own serial as a sweep meets them: the estimate is within
    [0.8, 2] of what the key and the parsed message really hold (tracemalloc)."""
    import tracemalloc

    wires = [reply_wire(serial, padding=padding) for serial in range(1, 21)]
    parse_reply(reply_wire(1000))  # the shared name tables hold the names already
    tracemalloc.start()
    kept = [parse_reply(wire) for wire in wires]
    held = tracemalloc.get_traced_memory()[0] / len(kept) + len(wires[0]) + 33  # + the key
    tracemalloc.stop()
    assert (kept[0].index is None) == (padding == 0)  # which parser read it
    assert 0.8 * held <= entry_cost(wires[0], kept[0]) <= 2 * held


def test_many_distinct_replies_stay_within_the_byte_budget():
    padded = reply_wire(padding=1_000)
    cache = ParseCache(200_000)
    for serial in range(2_000):  # a server whose answers change every time
        cache.parse(serial.to_bytes(2, "big") + padded[2:])  # other bytes every time
    assert cache.used <= 200_000
    assert len(cache) == 200_000 // entry_cost(padded, parse_reply(padded))


@pytest.mark.parametrize("oversize", [False, True])
def test_replies_over_the_limit_are_slimmed_and_never_cached(oversize):
    query = WireQuery.from_message(make_query("fr.", "SOA")).with_new_id()
    size = LARGE_REPLY_BYTES + 1 if oversize else LARGE_REPLY_BYTES - 300
    wire = reply_wire(7, padding=size, query=query)
    assert (len(wire) > LARGE_REPLY_BYTES) is oversize, len(wire)
    PARSE_CACHE.clear()
    reply = _ReplyMatcher(query).accept(wire)
    assert reply is not None
    # the facts the judges read are there either way
    assert reply.rcode() == 0 and reply.flags & dns.flags.AA
    assert apex_soa(reply, "fr.") is not None and int(apex_soa(reply, "fr.").serial) == 7
    assert reply_lame_reason(reply, "fr.") is None
    glue = [r for r in reply.additional if r.rdtype == dns.rdatatype.A]
    assert [r.to_text() for r in glue] == ["ns1.nic.fr. 60 IN A 192.0.2.1"]
    padding = [r for r in reply.additional if r.rdtype == dns.rdatatype.TXT]
    assert (len(padding) == 0) is oversize  # the body is dropped only over the limit
    assert (len(PARSE_CACHE) == 0) is oversize


def test_readings_are_shared_within_a_sweep_and_forgotten_after_it():
    calls: list[str] = []

    @per_reply
    def reading(reply: dns.message.Message, zone: str) -> int:
        calls.append(zone)
        return len(reply.answer)

    reply = dns.message.from_wire(reply_wire())
    with sweep_readings():
        assert reading(reply, "fr.") == reading(reply, "fr.") == 1
        assert calls == ["fr."]  # read once in the sweep
        reading(reply, "de.")
        assert calls == ["fr.", "de."]
    reading(reply, "fr.")  # outside a sweep nothing is remembered
    reading(reply, "fr.")
    assert calls == ["fr.", "de.", "fr.", "fr."]


def test_evidence_readings_are_worked_out_once_per_sweep_and_per_evidence():
    """What the judges and the summarise stage both read of a sweep (EDNS outcomes, signature
    verdicts, expiries) is worked out once while the sweep is judged, per evidence object."""
    calls: list[str] = []

    @per_evidence
    def reading(evidence: Evidence) -> list[str]:
        calls.append(evidence.zone)
        return [evidence.zone]

    fr, de = _evidence("fr."), _evidence("de.")
    with sweep_readings():
        assert reading(fr) is reading(fr)
        reading(de)
        reading(_evidence("fr."))  # an equal but other evidence (the unmeasured rows'): anew
        assert calls == ["fr.", "de.", "fr."]
    reading(fr)  # outside a sweep nothing is remembered
    assert calls == ["fr.", "de.", "fr.", "fr."]


def _evidence(zone: str) -> Evidence:
    delegation = Delegation(zone=zone, parent_ns=(), glue={}, nameservers=(), parent_addresses=())
    return Evidence(zone, delegation, (), ProbeSettings())


def test_no_reading_keeps_a_reply_alive_after_its_sweep():
    reply = dns.message.from_wire(reply_wire(padding=20_000))
    alive = weakref.ref(reply)
    with sweep_readings():
        assert reply_lame_reason(reply, "fr.") is None
        assert apex_soa(reply, "fr.") is not None
        del reply
        gc.collect()
        assert alive() is not None  # the sweep's memo holds it while the sweep is judged
    gc.collect()
    assert alive() is None


def test_parse_cache_bytes_is_read_from_the_probe_section():
    assert parse_config("zones: [fr]\n").probe.parse_cache_bytes is None  # the default, grown
    explicit = f"zones: [fr]\nprobe:\n  parse_cache_bytes: {DEFAULT_PARSE_CACHE_BYTES}\n"
    assert parse_config(explicit).probe.parse_cache_bytes == DEFAULT_PARSE_CACHE_BYTES
    config = parse_config("zones: [fr]\nprobe:\n  parse_cache_bytes: 0\n")
    assert config.probe.parse_cache_bytes == 0
    for bad in ("-1", str(2**30 + 1), "lots"):
        with pytest.raises(ConfigError, match=r"probe\.parse_cache_bytes"):
            parse_config(f"zones: [fr]\nprobe:\n  parse_cache_bytes: {bad}\n")
    assert parse_config(f"zones: [fr]\nprobe:\n  parse_cache_bytes: {2**30}\n")
