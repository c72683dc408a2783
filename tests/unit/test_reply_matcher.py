"""Hostile bytes never crash the reply matcher: each is accepted, a mismatch or malformed."""

from __future__ import annotations

import random

import dns.flags
import dns.message
import dns.rrset

from probes.transport import WireQuery, _ReplyMatcher, make_query


def genuine(query: WireQuery) -> bytes:
    message = dns.message.make_response(dns.message.from_wire(query.wire))
    message.flags |= dns.flags.AA
    message.answer.append(dns.rrset.from_text(
        "fr.", 60, "IN", "SOA", "ns1.nic.fr. h.nic.fr. 1 14400 3600 604800 3600"))
    return message.to_wire()


def test_the_genuine_reply_is_accepted_and_case_changes_are_fine():
    query = WireQuery.from_message(make_query("fr.", "SOA")).with_new_id()
    matcher = _ReplyMatcher(query)
    assert matcher.accept(genuine(query)) is not None
    shouted = bytearray(genuine(query))
    shouted[13:15] = b"FR"  # servers may echo the question in another case (0x20)
    assert matcher.accept(bytes(shouted)) is not None


def test_wrong_id_and_wrong_question_are_mismatches():
    query = WireQuery.from_message(make_query("fr.", "SOA")).with_new_id()
    matcher = _ReplyMatcher(query)
    wire = bytearray(genuine(query))
    wire[0] ^= 0xFF
    assert matcher.accept(bytes(wire)) is None
    other = WireQuery.from_message(make_query("de.", "SOA")).with_new_id()
    other_reply = bytearray(genuine(other))
    other_reply[:2] = query.wire[:2]
    assert matcher.accept(bytes(other_reply)) is None
    assert (matcher.mismatches, matcher.malformed) == (2, 0)


def test_random_and_mutated_bytes_never_raise():
    rng = random.Random(20261127)  # fixed seed: the same 3,000 inputs every run
    query = WireQuery.from_message(make_query("fr.", "SOA")).with_new_id()
    good = genuine(query)
    matcher = _ReplyMatcher(query)
    accepted = 0
    for i in range(3000):
        if i % 2:
            data = bytes(rng.getrandbits(8) for _ in range(rng.randrange(0, 600)))
        else:
            mutated = bytearray(good)
            for _ in range(rng.randrange(1, 6)):
                mutated[rng.randrange(len(mutated))] = rng.getrandbits(8)
            data = bytes(mutated[: rng.randrange(1, len(mutated) + 1)])
        accepted += matcher.accept(data) is not None
    assert matcher.mismatches + matcher.malformed + accepted == 3000
    assert matcher.malformed > 0 and matcher.mismatches > 0
