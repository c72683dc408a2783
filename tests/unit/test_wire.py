"""probes.wire against dnspython: the same message for every reply it reads, None for every
reply it leaves to dnspython, and never an acceptance of bytes dnspython refuses."""

from __future__ import annotations

import random
import struct

import dns.edns
import dns.flags
import dns.message
import dns.rcode
import dns.rrset
import pytest

from probes.evidence import apex_ns_names, apex_soa, reply_lame_reason, rrset_addresses
from probes.transport import WireQuery, _ReplyMatcher, make_query
from probes.wire import parse_reply, read_reply


def dnspython(wire: bytes) -> dns.message.Message | Exception:
    try:
        return dns.message.from_wire(wire, ignore_trailing=True)
    except Exception as exc:  # the reference refuses: ours must not read it either
        return exc


def assert_same(ours: dns.message.Message, theirs: dns.message.Message) -> None:
    """Everything a reader of the reply can see, down to record hashes and name case."""
    assert ours.to_text() == theirs.to_text()
    assert (ours.id, ours.flags, ours.rcode(), ours.opcode()) == (
        theirs.id, theirs.flags, theirs.rcode(), theirs.opcode())
    assert (ours.edns, ours.ednsflags, ours.payload, ours.options) == (
        theirs.edns, theirs.ednsflags, theirs.payload, theirs.options)
    assert ours.opt == theirs.opt and ours.wire == theirs.wire
    # Ours keeps no index (memory): find_rrset scans instead and finds the same RRsets.
    for number, section in enumerate(theirs.sections):
        for rrset in section:
            key = (number, rrset.name, rrset.rdclass, rrset.rdtype)
            found, expected = ours.find_rrset(*key), theirs.find_rrset(*key)
            assert found == expected and found.ttl == expected.ttl
            assert ours.sections[number].index(found) == section.index(expected)
    for mine, ref in zip(ours.sections, theirs.sections, strict=True):
        assert len(mine) == len(ref)
        for a, b in zip(mine, ref, strict=True):
            assert (a.name.labels, a.rdclass, a.rdtype, a.covers, a.ttl, a.deleting) == (
                b.name.labels, b.rdclass, b.rdtype, b.covers, b.ttl, b.deleting)
            assert a == b and len(a) == len(b)
            for x, y in zip(a, b, strict=True):
                assert x == y and hash(x) == hash(y) and x.to_text() == y.to_text()
                assert x.to_digestable() == y.to_digestable()
                assert {x} == {y}  # mixed in one set, equal records are one
    for zone in ("fr.", "nic.fr.", "de."):
        assert reply_lame_reason(ours, zone) == reply_lame_reason(theirs, zone)
        assert apex_soa(ours, zone) == apex_soa(theirs, zone)
        assert apex_ns_names(ours, zone) == apex_ns_names(theirs, zone)
        assert rrset_addresses(ours, "d.nic." + zone) == rrset_addresses(theirs, "d.nic." + zone)


def check(wire: bytes) -> dns.message.Message | None:
    """Ours and dnspython's on the same bytes: equal, or ours left them to dnspython."""
    ours = read_reply(wire)
    theirs = dnspython(wire)
    if ours is not None:
        assert not isinstance(theirs, Exception), f"read what dnspython refuses: {theirs!r}"
        assert_same(ours, theirs)
    parsed = dnspython(wire)
    if isinstance(parsed, Exception):
        with pytest.raises(type(parsed)):
            parse_reply(wire)
    else:
        assert_same(parse_reply(wire), parsed)
    return ours


def soa_reply(*, edns: bool = True, glue: bool = True) -> dns.message.Message:
    query = dns.message.make_query("fr.", "SOA", use_edns=0 if edns else False, payload=1232)
    reply = dns.message.make_response(query)
    reply.id = 0
    reply.flags |= dns.flags.AA
    reply.answer.append(dns.rrset.from_text(
        "fr.", 3600, "IN", "SOA", "nsmaster.nic.fr. hostmaster.nic.fr. 2026113001 3600 1800 "
        "3600000 5400"))
    reply.authority.append(dns.rrset.from_text(
        "fr.", 3600, "IN", "NS", "d.nic.fr.", "e.ext.nic.fr.", "f.ext.nic.fr."))
    if glue:
        reply.additional.append(dns.rrset.from_text("d.nic.fr.", 3600, "IN", "A", "194.0.9.1"))
        reply.additional.append(dns.rrset.from_text(
            "d.nic.fr.", 3600, "IN", "AAAA", "2001:678:c::1", "::ffff:1.2.3.4", "fe80::"))
    return reply


GOOD = soa_reply().to_wire()
QUESTION_END = 12 + len(b"\x02fr\x00") + 4


def header(flags: int = 0x8400, counts: tuple[int, int, int, int] = (1, 0, 0, 0)) -> bytes:
    return struct.pack("!HHHHHH", 0, flags, *counts)


QUESTION = b"\x02fr\x00\x00\x06\x00\x01"


def rr(owner: bytes, rdtype: int, rdata: bytes, rdclass: int = 1, ttl: int = 60) -> bytes:
    return owner + struct.pack("!HHIH", rdtype, rdclass, ttl, len(rdata)) + rdata


SOA_DATA = b"\x02ns\xc0\x0c\x01h\xc0\x0c" + struct.pack("!IIIII", 7, 1, 2, 3, 4)


def test_the_usual_replies_are_read_here_and_equal_dnspythons() -> None:
    for reply in (soa_reply(), soa_reply(edns=False), soa_reply(glue=False)):
        assert check(reply.to_wire()) is not None
    refused = soa_reply()
    refused.answer.clear()
    refused.set_rcode(dns.rcode.REFUSED)
    assert check(refused.to_wire()) is not None
    badvers = soa_reply()
    badvers.set_rcode(dns.rcode.BADVERS)  # the extended rcode lives in the OPT's TTL
    assert check(badvers.to_wire()).rcode() == dns.rcode.BADVERS  # type: ignore[union-attr]


def test_grouping_ttl_case_singleton_and_duplicates_follow_dnspython() -> None:
    records = (rr(b"\x02fr\x00", 2, b"\x01a\x02fr\x00", ttl=300)
               + rr(b"\x02FR\x00", 1, b"\x01\x02\x03\x04")  # another type in between
               + rr(b"\x02Fr\x00", 2, b"\x01A\x02FR\x00", ttl=100)  # duplicate, other case
               + rr(b"\x02fr\x00", 2, b"\x01b\xc0\x0c", ttl=200))
    wire = header(counts=(1, 4, 0, 0)) + QUESTION + records
    ours = check(wire)
    assert ours is not None and len(ours.answer[0]) == 2 and ours.answer[0].ttl == 100
    two_soas = (header(counts=(1, 2, 0, 0)) + QUESTION + rr(b"\xc0\x0c", 6, SOA_DATA)
                + rr(b"\xc0\x0c", 6, SOA_DATA[:-20] + struct.pack("!IIIII", 8, 1, 2, 3, 4)))
    ours = check(two_soas)
    assert ours is not None and apex_soa(ours, "fr.").serial == 8  # type: ignore[union-attr]
    huge_ttl = header(counts=(1, 1, 0, 0)) + QUESTION + rr(b"\xc0\x0c", 6, SOA_DATA,
                                                           ttl=0x80000000)
    assert check(huge_ttl).answer[0].ttl == 0  # type: ignore[union-attr]


# Bytes this reader must leave to dnspython (which reads or refuses them); each row also
# says whether dnspython refuses them, so the table pins both sides.
LEFT_TO_DNSPYTHON = {
    "short header": (header()[:11], True),
    "question runs past the end": (header() + QUESTION[:-1], True),
    "counts lying: one answer more than sent": (
        header(counts=(1, 2, 0, 0)) + QUESTION + rr(b"\xc0\x0c", 6, SOA_DATA), True),
    "record data past the end": (header(counts=(1, 1, 0, 0)) + QUESTION
                                 + rr(b"\xc0\x0c", 6, SOA_DATA)[:-3], True),
    "pointer to itself": (header(counts=(1, 1, 0, 0)) + QUESTION
                          + rr(b"\xc0\x14", 1, b"\x01\x02\x03\x04"), True),
    "pointer past the end": (header(counts=(1, 1, 0, 0)) + QUESTION
                             + rr(b"\xc0\xff", 1, b"\x01\x02\x03\x04"), True),
    "pointer forwards": (header(counts=(1, 1, 0, 0)) + QUESTION
                         + rr(b"\xc0\x16", 1, b"\x01\x02\x03\x04"), True),
    "compression loop of two pointers": (
        header(counts=(1, 1, 0, 0)) + b"\xc0\x0e\xc0\x0c\x00\x06\x00\x01"
        + rr(b"\xc0\x0c", 1, b"\x01\x02\x03\x04"), True),
    "pointer into its own name": (header(counts=(1, 1, 0, 0)) + QUESTION
                                  + rr(b"\x01a\xc0\x14", 1, b"\x01\x02\x03\x04"), True),
    "label type 01": (header(counts=(1, 1, 0, 0)) + QUESTION
                      + rr(b"\x41a\x00", 1, b"\x01\x02\x03\x04"), True),
    "name longer than 255": (header(counts=(1, 1, 0, 0)) + QUESTION
                             + rr(b"\x3f" + b"a" * 63 + b"\x3f" + b"b" * 63 + b"\x3f"
                                  + b"c" * 63 + b"\x3f" + b"d" * 63 + b"\x00", 1,
                                  b"\x01\x02\x03\x04"), True),
    "A of 5 octets": (header(counts=(1, 1, 0, 0)) + QUESTION
                      + rr(b"\xc0\x0c", 1, b"\x01\x02\x03\x04\x05"), True),
    "SOA with a trailing octet": (header(counts=(1, 1, 0, 0)) + QUESTION
                                  + rr(b"\xc0\x0c", 6, SOA_DATA + b"\x00"), True),
    "NS name past its data": (header(counts=(1, 1, 0, 0)) + QUESTION
                              + rr(b"\xc0\x0c", 2, b"\x01a\x02fr"), True),
    "OPT in the answer": (header(counts=(1, 1, 0, 0)) + QUESTION + rr(b"\x00", 41, b"", 1232),
                          True),
    "two OPTs": (header(counts=(1, 0, 0, 2)) + QUESTION + rr(b"\x00", 41, b"", 1232) * 2, True),
    "OPT not owned by the root": (header(counts=(1, 0, 0, 1)) + QUESTION
                                  + rr(b"\xc0\x0c", 41, b"", 1232), True),
    "two questions": (header(counts=(2, 0, 0, 0)) + QUESTION * 2, False),
    "no question": (header(counts=(0, 0, 0, 0)), False),
    "opcode NOTIFY": (header(flags=0xA400) + QUESTION, False),
    "class CH": (header(counts=(1, 1, 0, 0)) + QUESTION + rr(b"\xc0\x0c", 1, b"\x00\x00\x01", 3),
                 False),
    "a TXT record": (header(counts=(1, 1, 0, 0)) + QUESTION + rr(b"\xc0\x0c", 16, b"\x01x"),
                     False),
    "OPT option running past its data": (header(counts=(1, 0, 0, 1)) + QUESTION
                                         + rr(b"\x00", 41, b"\x00\x03\x00\x05ab", 1232),
                                         True),
}


@pytest.mark.parametrize("case", sorted(LEFT_TO_DNSPYTHON))
def test_bytes_outside_the_subset_are_left_to_dnspython(case: str) -> None:
    wire, refused = LEFT_TO_DNSPYTHON[case]
    assert check(wire) is None
    assert isinstance(dnspython(wire), Exception) is refused


def test_every_truncation_of_a_good_reply() -> None:
    read = [cut for cut in range(len(GOOD) + 1) if check(GOOD[:cut]) is not None]
    # Every shorter cut leaves a record the counts promise unsent: only the whole is read.
    assert read == [len(GOOD)]


def test_trailing_bytes_are_ignored_as_dnspython_is_told_to() -> None:
    assert check(GOOD + b"\x00\x01junk") is not None


def test_mutated_and_random_bytes_agree_with_dnspython() -> None:
    rng = random.Random(20261130)  # fixed seed: the same inputs every run
    seeds = [GOOD, soa_reply(edns=False).to_wire(),
             header(counts=(1, 2, 0, 0)) + QUESTION + rr(b"\xc0\x0c", 6, SOA_DATA)
             + rr(b"\xc0\x0c", 2, b"\x01a\xc0\x0c")]
    read = 0
    for i in range(2000):
        if i % 4 == 3:
            data = bytes(rng.getrandbits(8) for _ in range(rng.randrange(0, 300)))
        else:
            mutated = bytearray(seeds[i % 3])
            for _ in range(rng.randrange(1, 4)):
                mutated[rng.randrange(len(mutated))] = rng.getrandbits(8)
            data = bytes(mutated)
        read += check(data) is not None
    assert read > 250  # most single-byte changes still make a message both readers read


def test_the_matcher_still_sorts_hostile_bytes() -> None:
    query = WireQuery.from_message(make_query("fr.", "SOA")).with_new_id()
    matcher = _ReplyMatcher(query)
    good = bytearray(GOOD)
    good[:2] = query.wire[:2]
    assert matcher.accept(bytes(good)) is not None
    wrong_id = bytes([good[0] ^ 0xFF]) + bytes(good[1:])
    assert matcher.accept(wrong_id) is None  # mismatch: read, but not our reply
    loop = query.wire[:2] + LEFT_TO_DNSPYTHON["pointer to itself"][0][2:]
    assert matcher.accept(loop) is None  # malformed: neither reader reads it
    assert (matcher.mismatches, matcher.malformed) == (1, 1)


def test_edns_options_are_read_by_dnspythons_opt_reader() -> None:
    reply = soa_reply()
    reply.use_edns(0, dns.flags.DO, 1232, options=[
        dns.edns.GenericOption(dns.edns.NSID, b"ns1"), dns.edns.GenericOption(65001, b"")])
    ours = check(reply.to_wire())
    assert ours is not None and ours.options[0].otype == dns.edns.NSID
    assert ours.ednsflags & dns.flags.DO


def test_the_caches_stay_bounded_whatever_names_and_options_come() -> None:
    import probes.wire as wire

    for i in range(wire._NAMES_KEPT + 10):
        owner = b"\x08" + f"{i:08d}".encode() + b"\x00"
        assert read_reply(header(counts=(1, 1, 0, 0)) + QUESTION
                          + rr(owner, 1, b"\x01\x02\x03\x04")) is not None
    assert len(wire._names) <= wire._NAMES_KEPT
    for i in range(wire._OPTS_KEPT + 10):
        option = struct.pack("!HH", 3, 4) + struct.pack("!I", i)
        assert read_reply(header(counts=(1, 0, 0, 1)) + QUESTION
                          + rr(b"\x00", 41, option, 1232)) is not None
    assert len(wire._opts) <= wire._OPTS_KEPT
    before = len(wire._opts)
    padded = struct.pack("!HH", 12, 400) + bytes(400)  # EDNS padding: read, never kept
    assert read_reply(header(counts=(1, 0, 0, 1)) + QUESTION + rr(b"\x00", 41, padded, 1232))
    assert len(wire._opts) == before


def test_equal_records_of_different_replies_are_one_object_with_their_case_kept() -> None:
    """Records are shared between replies (memory), but only byte-equal ones: the same NS
    target in another case is another object and reads as sent."""
    def ns_reply(target: bytes, serial: int) -> bytes:
        soa = b"\x02ns\xc0\x0c\x01h\xc0\x0c" + struct.pack("!IIIII", serial, 1, 2, 3, 4)
        return (header(counts=(1, 2, 0, 1)) + QUESTION + rr(b"\xc0\x0c", 6, soa)
                + rr(b"\xc0\x0c", 2, target) + rr(b"\x01a\x02fr\x00", 1, b"\x01\x02\x03\x04"))
    lower, again, upper = (check(ns_reply(t, s)) for t, s in (
        (b"\x01a\x02fr\x00", 1), (b"\x01a\x02fr\x00", 2), (b"\x01A\x02FR\x00", 3)))
    assert lower is not None and again is not None and upper is not None
    assert lower.answer[1][0] is again.answer[1][0]  # the same NS record: one object
    assert lower.additional[0][0] is upper.additional[0][0]  # the same A record
    assert lower.answer[0][0] is not again.answer[0][0]  # SOA serials differ
    assert upper.answer[1][0] is not lower.answer[1][0]
    assert upper.answer[1][0].to_text() == "A.FR." and lower.answer[1][0].to_text() == "a.fr."
    assert upper.answer[1][0] == lower.answer[1][0]  # equal as dnspython compares them


def test_the_shared_record_table_is_dropped_whole_at_its_bound(monkeypatch) -> None:
    import probes.wire as wire

    monkeypatch.setattr(wire, "_RDATAS_KEPT", 4)
    wire._rdatas.clear()
    sizes = []
    for serial in range(1, 7):  # one new SOA record per reply
        soa = b"\x02ns\xc0\x0c\x01h\xc0\x0c" + struct.pack("!IIIII", serial, 1, 2, 3, 4)
        assert check(header(counts=(1, 1, 0, 0)) + QUESTION + rr(b"\xc0\x0c", 6, soa))
        sizes.append(len(wire._rdatas))
    assert sizes == [1, 2, 3, 4, 1, 2]  # at 4 held, the fifth starts a new table
    wire._rdatas.clear()


def test_query_ids_come_from_the_random_pool_each_once_across_its_refills() -> None:
    import probes.transport as transport

    template = WireQuery.standard("fr.", "SOA", 1232)
    transport._forget_ids()  # what a forked child does first (os.register_at_fork)
    ids = [template.with_new_id().wire[:2] for _ in range(3 * 2048 + 5)]  # three refills
    assert all(len(i) == 2 for i in ids)
    # 6,149 draws of 16 bits: ~5,900 distinct expected; a stuck or repeating pool has far fewer
    assert len(set(ids)) > 5_500
    assert ids[:2048] != ids[2048:4096]  # each refill is a new read, not the same bytes again
    pool = transport._id_pool
    transport._forget_ids()
    template.with_new_id()
    assert transport._id_pool != pool and transport._id_at == 2
