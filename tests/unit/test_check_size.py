"""SIZE01 (issue 17): a reply over the body limit is a finding, at the limit none."""

from __future__ import annotations

import dataclasses

from probes.checks import judge
from probes.checks.size import large_reply_size
from probes.model import Severity, Transport
from probes.transport import LARGE_REPLY_BYTES, large_reply_detail
from tests.unit.builders import evidence, healthy


def test_the_check_reads_the_transports_words() -> None:
    assert large_reply_size(large_reply_detail(58_000)) == 58_000
    assert large_reply_size("") == 0
    assert large_reply_size("TC=1 over UDP, then TCP: timeout no reply") == 0


def size01(tcp_bytes: int) -> list:
    obs = healthy("ns1.nic.fr.", "192.0.2.1") + healthy("ns2.nic.fr.", "192.0.2.2")
    tcp = next(o for o in obs if o.address == "192.0.2.2" and o.transport is Transport.TCP)
    big = dataclasses.replace(tcp, detail=large_reply_detail(tcp_bytes))
    obs = [big if o is tcp else o for o in obs]
    return [f for f in judge(evidence(obs)) if f.check == "SIZE01"]


def test_a_reply_over_the_limit_is_a_warning_naming_size_and_query() -> None:
    (found,) = size01(LARGE_REPLY_BYTES + 1)
    assert (found.severity, found.reason, found.nameserver, found.address) == (
        Severity.WARNING, "oversized-reply", "ns2.nic.fr.", "192.0.2.2")
    assert found.args == {"bytes": LARGE_REPLY_BYTES + 1, "limit": LARGE_REPLY_BYTES,
                          "replies": 1}
    assert f"largest {LARGE_REPLY_BYTES + 1} bytes (fr. SOA over TCP)" in found.message


def test_a_reply_at_the_limit_is_no_finding() -> None:
    assert size01(LARGE_REPLY_BYTES) == []


def test_healthy_servers_have_no_finding() -> None:
    obs = healthy("ns1.nic.fr.", "192.0.2.1") + healthy("ns2.nic.fr.", "192.0.2.2")
    assert [f for f in judge(evidence(obs)) if f.check == "SIZE01"] == []
