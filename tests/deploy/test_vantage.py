"""Many vantage points: two vantage points over the lab in one Prometheus (target label
``vantage``), one of them split into two `--shard` instances; the dashboards' aggregate
queries apply ICANN's rule (a server or zone fails when >= 51 % of the vantage points see
it fail) and give the values computed here from each vantage point's own series."""

from __future__ import annotations

import time
from collections import defaultdict

import pytest

from monitor.sharding import shard_of
from tests.deploy.dashboards import DASHBOARD_DIR, load, load_generator, panels, substitute
from tests.deploy.world import DOWN_EVERYWHERE, SLOW_SERVER, World

pytestmark = pytest.mark.integration

ALL = {"zone": ".*", "nameserver": ".*", "vantage": ".*"}
SERVER = ("dns_zone", "nameserver", "address")


def overview_expr(title: str, ref: str = "A") -> str:
    for p in panels(load(DASHBOARD_DIR / "ccmon-overview.json")):
        if p["title"] == title:
            (target,) = [t for t in p["targets"] if t["refId"] == ref]
            return substitute(target["expr"], ALL)
    raise KeyError(title)


def per_vantage(world: World, expr: str, at: float, key: tuple[str, ...]
                ) -> dict[tuple[str, ...], dict[str, float]]:
    """{label values: {vantage: value}} from the raw series."""
    out: dict[tuple[str, ...], dict[str, float]] = defaultdict(dict)
    for sample in world.prometheus.query(expr, at):
        labels = sample["metric"]
        row = out[tuple(labels[k] for k in key)]
        assert labels["vantage"] not in row, f"two series of one vantage point: {labels}"
        row[labels["vantage"]] = float(sample["value"][1])
    return out


def failing_by_vote(votes: dict[str, float], failed: float) -> bool:
    share = sum(1 for v in votes.values() if v == failed) / len(votes)
    return share >= 0.51


def test_each_shard_of_b_watches_its_own_zones(world: World) -> None:
    instance_shard = {world.instances["b1"].listen: 1, world.instances["b2"].listen: 2}
    seen: dict[str, list[str]] = defaultdict(list)
    for sample in world.prometheus.query('ccmon_zone_nameservers{vantage="b"}'):
        seen[sample["metric"]["dns_zone"]].append(sample["metric"]["instance"])
    assert set(seen) == set(world.zones), "the shards together watch every zone"
    for zone, instances in seen.items():
        assert len(instances) == 1, f"{zone} watched by {instances}"
        assert instance_shard[instances[0]] == shard_of(zone, 2), zone
    assert {len(z) for z in (world.instances["b1"].swept_zones(),
                             world.instances["b2"].swept_zones())} != {0}


def test_each_vantage_point_watches_every_zone(world: World) -> None:
    counts = world.prometheus.values("count by (vantage) (ccmon_zone_nameservers)",
                                     key=("vantage",))
    assert counts == {("a",): len(world.zones), ("b",): len(world.zones)}


def test_servers_down_by_vote(world: World) -> None:
    at = time.time() - 2  # no scrape with an earlier timestamp is still in flight
    raw = per_vantage(world, 'ccmon_nameserver_up{transport="udp"}', at, SERVER)
    down_a = {s for s, v in raw.items() if v.get("a") == 0}
    down_b = {s for s, v in raw.items() if v.get("b") == 0}
    expected = {s for s, votes in raw.items() if failing_by_vote(votes, 0)}
    # the lab's faults, seen the way the world set the thresholds up
    assert down_a & down_b >= DOWN_EVERYWHERE
    assert SLOW_SERVER in down_a and SLOW_SERVER not in down_b
    assert SLOW_SERVER not in expected, "1 of 2 vantage points is 50 %, under 51 %"
    assert expected == down_a & down_b  # with two vantage points: down at both

    total = world.prometheus.values(overview_expr("Servers down (UDP)"), at)
    assert total == {(): float(len(expected))}
    per_zone = world.prometheus.values(overview_expr("Worst offenders first", "B"), at,
                                       key=("dns_zone",))
    want = {(z,): float(sum(1 for s in expected if s[0] == z)) for z in world.zones}
    assert per_zone == want


def test_zones_down_by_vote(world: World) -> None:
    at = time.time() - 2  # no scrape with an earlier timestamp is still in flight
    raw = per_vantage(world, "ccmon_zone_available", at, ("dns_zone",))
    down = {z for (z,), votes in raw.items() if failing_by_vote(votes, 0)}
    assert "ly" in down and "fr" not in down
    assert world.prometheus.values(overview_expr("Zones down"), at) == {(): float(len(down))}
    available = world.prometheus.values(overview_expr("Worst offenders first", "G"), at,
                                        key=("dns_zone",))
    assert available == {(z,): 0.0 if z in down else 1.0 for z in world.zones}


def test_lame_and_unreachable_by_vote(world: World) -> None:
    at = time.time() - 2  # no scrape with an earlier timestamp is still in flight
    lame_raw = per_vantage(world, f"max by ({', '.join(SERVER)}, vantage) "
                                  "(ccmon_nameserver_lame)", at, SERVER)
    lame = {s for s, votes in lame_raw.items() if failing_by_vote(votes, 1)}
    assert ("mx", "ns3.nic.mx.", "127.53.10.3") in lame  # refused
    assert world.prometheus.values(overview_expr("Lame"), at) == {(): float(len(lame))}
    answered = ("ccmon_nameserver_response_time_seconds * 0 + 1 "
                "or ccmon_nameserver_up * 0")  # the RTT is present exactly when it answered
    silent_raw = per_vantage(world, f"max by ({', '.join(SERVER)}, vantage) ({answered})",
                             at, SERVER)  # fmt: skip
    silent = {s for s, votes in silent_raw.items() if failing_by_vote(votes, 0)}
    assert {("bo", "ns3.nic.bo.", "127.53.18.3"), ("py", "ns3.nic.py.", "127.53.19.3")} <= silent
    assert world.prometheus.values(overview_expr("Unreachable"), at) == {
        (): float(len(silent))}


def test_vote_threshold_is_51_percent(world: World) -> None:
    """The dashboards' vote: 1 of 3 failing is under 51 %, 2 of 3 over; 1 of 2 is under."""
    def vote(fails: int, voters: int) -> float:
        votes = " or ".join(
            f'label_replace(vector({0 if i < fails else 1}), "vantage", "v{i}", "", "")'
            for i in range(voters))
        expr = load_generator().fails_by_vote(f"1 - ({votes})", "")
        (sample,) = world.prometheus.query(expr)
        return float(sample["value"][1])

    assert [vote(f, 3) for f in range(4)] == [0, 0, 1, 1]
    assert [vote(f, 2) for f in range(3)] == [0, 0, 1]


def test_recording_rules_vote_like_the_dashboards(world: World) -> None:
    """deploy/prometheus/rules.yml (the alerting side) and the dashboards vote alike."""
    if not world.prometheus.query("address:ccmon_nameserver_down:vantage_vote"):
        pytest.skip("deploy/prometheus/rules.yml has no vantage vote rules")
    # The instant of a rule evaluation: the rule saw exactly the raw samples an instant
    # query at that time sees. Servers whose state flipped around it (do: 50 % loss) are
    # left out, as a scrape may land between the evaluation and its samples' timestamp.
    (stamp,) = world.prometheus.query(
        "max(timestamp(address:ccmon_nameserver_down:vantage_vote))", time.time() - 2)
    at = float(stamp["value"][1])
    flipping = set(world.prometheus.values(
        'max by (dns_zone, nameserver, address) '
        '(changes(ccmon_nameserver_up{transport="udp"}[6s])) > 0', at + 3, key=SERVER))
    rules = world.prometheus.values(
        'address:ccmon_nameserver_down:vantage_vote{transport="udp"}', at, key=SERVER)
    raw = per_vantage(world, 'ccmon_nameserver_up{transport="udp"}', at, SERVER)
    want = {s: float(failing_by_vote(v, 0)) for s, v in raw.items() if s not in flipping}
    assert len(want) > 60
    assert {s: v for s, v in rules.items() if s not in flipping} == want
    assert want[SLOW_SERVER] == 0.0 and all(want[s] == 1.0 for s in DOWN_EVERYWHERE)
    zones = world.prometheus.values("dns_zone:ccmon_zone_unavailable:vantage_vote", at,
                                    key=("dns_zone",))
    available = world.prometheus.values(overview_expr("Worst offenders first", "G"), at,
                                        key=("dns_zone",))
    assert zones == {z: 1.0 - v for z, v in available.items()}
