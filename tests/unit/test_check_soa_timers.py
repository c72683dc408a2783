"""SOA04: SOA timers against RFC 1912 / Zonemaster ranges, both sides of every boundary."""

import pytest

from probes.checks import judge
from probes.model import Severity
from tests.unit.builders import evidence, obs, soa_reply

GOOD = dict(refresh=14400, retry=3600, expire=604800, minimum=300)


def soa_text(refresh, retry, expire, minimum):
    return f"ns1.nic.fr. hostmaster.nic.fr. 1 {refresh} {retry} {expire} {minimum}"


def soa04(*servers):
    observations = [obs(f"ns{i}.nic.fr.", f"192.0.2.{i}", msg=soa_reply(soa=soa_text(**t)))
                    for i, t in enumerate(servers, 1)]
    return [(f.severity, f.reason, f.address) for f in judge(evidence(observations))
            if f.check == "SOA04"]


@pytest.mark.parametrize(("field", "value", "expected"), [
    ("refresh", 14400, []),
    ("refresh", 14399, [(Severity.NOTICE, "refresh-low", "")]),
    ("retry", 3600, []),
    ("retry", 3599, [(Severity.NOTICE, "retry-low", "")]),
    ("expire", 604800, []),
    ("expire", 604799, [(Severity.NOTICE, "expire-low", "")]),
    ("minimum", 300, []),
    ("minimum", 299, [(Severity.NOTICE, "minimum-low", "")]),
    ("minimum", 86400, []),
    ("minimum", 86401, [(Severity.NOTICE, "minimum-high", "")]),
])
def test_boundaries(field, value, expected):
    timers = {**GOOD, field: value}
    assert soa04(timers, timers) == expected


@pytest.mark.parametrize(("retry", "expected"), [
    (14399, []),
    (14400, [(Severity.NOTICE, "retry-not-below-refresh", "")]),
])
def test_retry_below_refresh(retry, expected):
    timers = {**GOOD, "refresh": 14400, "retry": retry}
    assert soa04(timers) == expected


def test_several_broken_rules_are_each_named():
    timers = dict(refresh=3600, retry=7200, expire=86400, minimum=172800)
    assert sorted(r for _s, r, _a in soa04(timers)) == [
        "expire-low", "minimum-high", "refresh-low", "retry-not-below-refresh"]


def test_servers_that_disagree_are_judged_per_address():
    assert soa04(GOOD, {**GOOD, "expire": 3600}) == [
        (Severity.NOTICE, "expire-low", "192.0.2.2")]


def test_non_authoritative_answers_are_ignored():
    bad = soa_reply(soa=soa_text(**{**GOOD, "refresh": 60}), aa=False)
    assert [f for f in judge(evidence([obs(msg=bad)])) if f.check == "SOA04"] == []
