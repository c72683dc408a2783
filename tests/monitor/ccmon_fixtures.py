"""Hand-made ZoneReports for the monitor tests (no DNS, no engine)."""

from __future__ import annotations

import dataclasses
from typing import Any

from probes.model import Finding, ServerStatus, Severity, Transport, ZoneReport
from tests.support import free_port  # noqa: F401  (re-exported to this module's users)

T0 = 1_700_000_000.0
DAY = 86400.0
EDNS_OK = {"plain": "ok", "edns0": "ok", "edns1": "ok", "option": "ok", "do": "ok"}


def ok(ns: str, address: str, serial: int = 2024010101, rtt: float = 0.012) -> list[ServerStatus]:
    return [
        ServerStatus(ns, address, Transport.UDP, True, True, rtt, serial, within_threshold=True),
        ServerStatus(
            ns, address, Transport.TCP, True, True, rtt * 2, serial, within_threshold=True
        ),
    ]


def lame(ns: str, address: str, reason: str = "refused") -> list[ServerStatus]:
    return [
        ServerStatus(ns, address, Transport.UDP, True, False, 0.003, None, lame_reason=reason),
        ServerStatus(ns, address, Transport.TCP, True, False, 0.004, None, lame_reason=reason),
    ]


def down(ns: str, address: str) -> list[ServerStatus]:
    return [
        ServerStatus(ns, address, Transport.UDP, False, False, None, None, failure="timeout"),
        ServerStatus(ns, address, Transport.TCP, False, False, None, None, failure="timeout"),
    ]


def slow(ns: str, address: str, rtt: float = 0.7, serial: int = 2024010101) -> list[ServerStatus]:
    return [
        ServerStatus(ns, address, Transport.UDP, True, True, rtt, serial, within_threshold=False),
        ServerStatus(
            ns, address, Transport.TCP, True, True, rtt * 2, serial, within_threshold=True
        ),
    ]


def with_facts(statuses: list[ServerStatus], **facts: Any) -> list[ServerStatus]:
    """The statuses with the further queries' facts on the UDP row (as the sweep puts them)."""
    return [dataclasses.replace(s, **facts) if s.transport is Transport.UDP else s
            for s in statuses]  # fmt: skip


def report(
    zone: str,
    servers: list[ServerStatus],
    findings: list[Finding] | None = None,
    started_at: float = T0,
    duration: float = 0.25,
    dnssec: str = "",
) -> ZoneReport:
    rtts: dict[str, tuple[float, ...]] = {}
    failures: dict[str, int] = {}
    for s in servers:
        if s.rtt is not None:
            rtts.setdefault(str(s.transport), ())
            rtts[str(s.transport)] += (s.rtt,)
        if s.failure:
            failures[s.failure] = failures.get(s.failure, 0) + 1
    return ZoneReport(
        zone=zone,
        started_at=started_at,
        duration=duration,
        servers=tuple(servers),
        findings=tuple(findings or ()),
        parent_ns=tuple(sorted({s.nameserver for s in servers})),
        child_ns=tuple(sorted({s.nameserver for s in servers})),
        queries=len(servers),
        query_failures=failures,
        rtts=rtts,
        dnssec=dnssec,
    )


def mx_report(started_at: float = T0) -> ZoneReport:
    """mx: ns1 and ns2 fine (ns1 dual-stack), ns3 refuses (lame).

    Signed and secure: signatures expire in 3 d 4 h at the earliest (ns1's IPv4 address);
    ns1 returns an NSID per address; ns2 grants AXFR, recurses and drops the DO bit.
    """
    secure = {"dnssec_valid": True, "axfr_open": False, "recursion_open": False}
    servers = [
        *with_facts(ok("ns1.mx.", "127.53.1.1"), **secure, nsid="mx1-ams",
                    rrsig_expires_at=started_at + 3 * DAY + 4 * 3600 + 60, edns=EDNS_OK),
        *with_facts(ok("ns1.mx.", "fd53::1:1"), **secure, nsid="mx1-fra",
                    rrsig_expires_at=started_at + 4 * DAY, edns=EDNS_OK),
        *with_facts(ok("ns2.mx.", "127.53.1.2"), dnssec_valid=True, axfr_open=True,
                    recursion_open=True, rrsig_expires_at=started_at + 10 * DAY,
                    edns={**EDNS_OK, "do": "no-do"}, udp_loss=0.25),
        *lame("ns3.mx.", "127.53.1.3"),
    ]
    findings = [
        Finding(
            "LAME01", Severity.ERROR, "LAME_DELEGATION",
            "ns3.mx. (127.53.1.3) answers REFUSED for mx", "ns3.mx.", "127.53.1.3", "refused",
        ),
        Finding(
            "SEC01", Severity.WARNING, "OPEN_AXFR",
            "ns2.mx. 127.53.1.2 grants a zone transfer (AXFR) to anyone",
            "ns2.mx.", "127.53.1.2", "open",
        ),
        Finding(
            "SEC02", Severity.ERROR, "OPEN_RECURSION",
            "ns2.mx. 127.53.1.2 answers recursive queries for names outside the zone "
            "(open resolver)", "ns2.mx.", "127.53.1.2", "open-resolver",
        ),
        Finding(
            "EDNS01", Severity.ERROR, "EDNS_DO_FAILED",
            "ns2.mx. 127.53.1.2 EDNS query with DO=1 (expects the DO bit back): did not copy "
            "the DO bit", "ns2.mx.", "127.53.1.2", "no-do", {"tests": ["do"]},
        ),
    ]  # fmt: skip
    return report("mx", servers, findings, started_at=started_at, dnssec="secure")


def ke_report(started_at: float = T0, stale: int = 2024010100) -> ZoneReport:
    """ke: ns2 serves a serial behind the others."""
    plain = {"axfr_open": False, "recursion_open": False, "edns": EDNS_OK}
    servers = [
        *with_facts(ok("ns1.ke.", "127.53.2.1", serial=2024010105), **plain),
        *with_facts(ok("ns2.ke.", "127.53.2.2", serial=stale), **plain),
        *with_facts(ok("ns3.ke.", "127.53.2.3", serial=2024010105), **plain),
    ]
    findings = [
        Finding(
            "SOA01", Severity.WARNING, "SERIAL_LAG", "ns2.ke. is 5 serials behind",
            "ns2.ke.", "127.53.2.2", "", {"lag": 5},
        ),
    ]  # fmt: skip
    return report("ke", servers, findings, started_at=started_at, dnssec="unsigned")


def ec_report(started_at: float = T0) -> ZoneReport:
    """ec: ns2 answers after 700 ms."""
    servers = [*ok("ns1.ec.", "127.53.3.1"), *slow("ns2.ec.", "127.53.3.2")]
    findings = [
        Finding(
            "RTT01", Severity.WARNING, "SLOW_UDP", "ns2.ec. answers in 700 ms",
            "ns2.ec.", "127.53.3.2",
        ),
    ]  # fmt: skip
    return report("ec", servers, findings, started_at=started_at)


def idn_report(started_at: float = T0) -> ZoneReport:
    """xn--fiqs8s (中国): one server down, one fine: not available."""
    servers = [*ok("ns1.xn--fiqs8s.", "127.53.4.1"), *down("ns2.xn--fiqs8s.", "127.53.4.2")]
    findings = [
        Finding(
            "AVAIL01",
            Severity.ERROR,
            "DEGRADED",
            "only 1 name server answers",
            args={"servers_up": 1},
        ),
        Finding("TCP01", Severity.OK, "TCP_OK", "fine"),
    ]
    return report("xn--fiqs8s", servers, findings, started_at=started_at)


def unknown_report(started_at: float = T0 + 30, zone: str = "ug") -> ZoneReport:
    """ug, swept while this vantage point was offline over IPv4 and has no IPv6 (issue 10):
    nothing measured, one VANTAGE01 finding says why."""
    servers = [
        dataclasses.replace(s, measured=False, answered=False, rtt=None, serial=None,
                            failure="local-error")
        for s in down(f"ns1.{zone}.", "127.53.5.1") + down(f"ns2.{zone}.", "fd53::5:2")
    ]  # fmt: skip
    finding = Finding(
        "VANTAGE01", Severity.NOTICE, "VANTAGE_OFFLINE",
        "nothing measured, offline: 0 of 13 reference addresses answer over IPv4; "
        "2 addresses not measured", reason="offline",
        args={"family": "ipv4", "unmeasured": 2, "answering": 0, "references": 13},
    )  # fmt: skip
    return dataclasses.replace(
        report(zone, servers, [finding], started_at=started_at),
        vantage={"ipv4": "offline", "ipv6": "absent"},
        unmeasured=("127.53.5.1", "fd53::5:2"),
        unknown=True,
    )


def all_reports(started_at: float = T0) -> list[ZoneReport]:
    return [mx_report(started_at), ke_report(started_at), ec_report(started_at),
            idn_report(started_at)]  # fmt: skip


def make_cert(directory: str, name: str = "server") -> tuple[str, str]:
    """A self-signed certificate for 127.0.0.1 / localhost; returns (cert, key) paths."""
    import datetime
    import ipaddress
    import os

    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, name)])
    now = datetime.datetime.now(datetime.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(days=1))
        .add_extension(
            x509.SubjectAlternativeName(
                [x509.DNSName("localhost"), x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]
            ),
            critical=False,
        )
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )
    cert_path = os.path.join(directory, f"{name}.crt")
    key_path = os.path.join(directory, f"{name}.key")
    with open(cert_path, "wb") as f:
        f.write(cert.public_bytes(serialization.Encoding.PEM))
    with open(key_path, "wb") as f:
        f.write(
            key.private_bytes(
                serialization.Encoding.PEM,
                serialization.PrivateFormat.PKCS8,
                serialization.NoEncryption(),
            )
        )
    return cert_path, key_path


class FakeProber:
    """Stands in for probes.sweep.Prober: hand-made reports, stamped with the time now."""

    def __init__(self, settings: object = None, delay: float = 0.0, fail: tuple[str, ...] = ()):
        self.delay = delay
        self.fail = fail
        self.calls: list[str] = []
        self.serial_bump = 0

    async def __aenter__(self) -> FakeProber:
        return self

    async def __aexit__(self, *exc: object) -> None:
        return None

    async def sweep(self, zone: str) -> ZoneReport:
        import asyncio
        import time

        self.calls.append(zone)
        started = time.time()
        if self.delay:
            await asyncio.sleep(self.delay)
        if zone in self.fail:
            raise RuntimeError(f"engine exploded on {zone}")
        makers = {"mx": mx_report, "ke": ke_report, "ec": ec_report, "xn--fiqs8s": idn_report}
        r = makers[zone](started)
        return dataclasses.replace(r, duration=time.time() - started)


def pinned_report(started_at: float = T0, zone: str = "tz") -> ZoneReport:
    """tz: the parent carries a DS nobody pinned, for 90 s already (DELEG06, issue 14)."""
    finding = Finding(
        "DELEG06", Severity.ERROR, "DS_NOT_PINNED",
        "the parent has DS 1 13 2 AB, which is not pinned; differing from the pins for 90 s",
        reason="unexpected-ds", args={"since": started_at - 90, "seconds": 90.0},
    )  # fmt: skip
    return report(zone, [*ok(f"ns1.{zone}.", "127.53.6.1"), *ok(f"ns2.{zone}.", "127.53.6.2")],
                  [finding], started_at=started_at)
