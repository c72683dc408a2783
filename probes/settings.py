"""How a sweep probes and judges: every knob with its default, in one frozen value."""

from __future__ import annotations

from dataclasses import dataclass, field, replace

from probes.expectations import ZoneExpectation, ZoneOverride
from probes.model import Severity

# The IANA root servers (root hints, named.root). Used only when no parent is configured.
ROOT_HINTS: tuple[str, ...] = (
    "198.41.0.4", "170.247.170.2", "192.33.4.12", "199.7.91.13", "192.203.230.10",
    "192.5.5.241", "192.112.36.4", "198.97.190.53", "192.36.148.17", "192.58.128.30",
    "193.0.14.129", "199.7.83.42", "202.12.27.33",
    "2001:503:ba3e::2:30", "2801:1b8:10::b", "2001:500:2::c", "2001:500:2d::d",
    "2001:500:a8::e", "2001:500:2f::f", "2001:500:12::d0d", "2001:500:1::53",
    "2001:7fe::53", "2001:503:c27::2:30", "2001:7fd::1", "2001:500:9f::42", "2001:dc3::35",
)  # fmt: skip

DEFAULT_UDP_TIMEOUT = 2.5  # s; ICANN counts a UDP reply later than 5 x 500 ms as unanswered
DEFAULT_TCP_TIMEOUT = 7.5  # s; 5 x the 1500 ms TCP SLR
DEFAULT_UDP_TRIES = 2
DEFAULT_PER_ADDRESS_IN_FLIGHT = 4  # gentle: real ccTLD servers run RRL
DEFAULT_MAX_IN_FLIGHT = 2000
DEFAULT_EDNS_BUFFER = 1232  # bytes, the DNS flag day 2020 figure
DEFAULT_RTT_UDP_THRESHOLD = 0.5  # s, ICANN Spec 10 UDP SLR
DEFAULT_RTT_TCP_THRESHOLD = 1.5  # s, ICANN Spec 10 TCP SLR
DEFAULT_VANTAGE_MIN_ANSWERING = 4  # ICANN RSM: a probe needs answers from enough roots
DEFAULT_PROPAGATION_THRESHOLD = 3600.0  # s, SOA03: ICANN Spec 10 DNS update time (60 min)
DEFAULT_MAX_NAMESERVERS = 32  # NS names per zone probed at most (real ccTLDs: up to ~13)
DEFAULT_MAX_ADDRESSES = 64  # addresses per zone probed at most (13 NS x IPv4 + IPv6 = 26)
# Parsed replies kept for reuse, by estimated bytes: ~4,000 typical SOA/NS
# replies, more than the distinct replies of a sweep of every ccTLD's servers.
DEFAULT_PARSE_CACHE_BYTES = 16 * 1024 * 1024


@dataclass(frozen=True, slots=True)
class ProbeSettings:
    """Everything probes/ needs to know; monitor/config.py builds it from config.yaml."""

    parent_addresses: tuple[str, ...] = ROOT_HINTS  # who we ask for the delegation
    resolver: tuple[str, ...] = ()  # () = the system resolver (aiodns default)
    resolver_port: int = 53
    port: int = 53  # of the parent and the zone's servers
    udp_timeout: float = DEFAULT_UDP_TIMEOUT
    udp_tries: int = DEFAULT_UDP_TRIES
    tcp_timeout: float = DEFAULT_TCP_TIMEOUT
    per_address_in_flight: int = DEFAULT_PER_ADDRESS_IN_FLIGHT
    max_in_flight: int = DEFAULT_MAX_IN_FLIGHT
    edns_buffer: int = DEFAULT_EDNS_BUFFER
    rtt_udp_threshold: float = DEFAULT_RTT_UDP_THRESHOLD
    rtt_tcp_threshold: float = DEFAULT_RTT_TCP_THRESHOLD
    serial_tolerance: int = 0  # serial difference still counted as "in sync"
    # DELEG06: the NS set, glue and DS set each zone's registry intends at the
    # parent (config `expect:`); zones without one are not compared.
    expectations: tuple[ZoneExpectation, ...] = ()
    # Per-zone thresholds (`zones:` entries given as mappings); see for_zone().
    zone_overrides: tuple[ZoneOverride, ...] = ()
    # SOA03 (a history check, run by the monitor): a new serial not on every server after
    # this many seconds since its first sight on any server is a WARNING per lagging server.
    propagation_threshold: float = DEFAULT_PROPAGATION_THRESHOLD
    ipv6: bool = True  # probe IPv6 addresses too
    # The further checks (DNSSEC, AXFR, recursion, EDNS, NSID) ask up to 8 more queries per
    # address, AXFR and recursion attempts among them: a long-running monitor sends them at
    # most this often per zone and judges the last answers in between (0 = every sweep).
    further_checks_interval: float = 3600.0
    # Caps per zone (300 NS names in one delegation gave 5,222 series and a 21 s
    # sweep): discovery probes no more (probes/discover.py), DELEG07 reports the excess.
    max_nameservers: int = DEFAULT_MAX_NAMESERVERS
    max_addresses: int = DEFAULT_MAX_ADDRESSES
    # Budget of the parse cache (probes/transport.py), key and parsed reply estimated in
    # bytes; 0 = parse every reply anew; None (not configured) = DEFAULT_PARSE_CACHE_BYTES
    # grown with the addresses met (probes.limits.parse_cache_budget). One cache per
    # process: the last engine sizes it.
    parse_cache_bytes: int | None = None
    disabled_checks: frozenset[str] = field(default_factory=frozenset)
    # `checks.severity`: (check ID, tag, severity) for every re-levelled tag; the judges
    # look up the registry's default, judge() applies these (probes.checks.registry.relevel).
    severity_overrides: tuple[tuple[str, str, Severity], ...] = ()
    # Vantage health: control queries to these references (() = the parent's
    # servers); a family is online when min_answering of them answer (all when fewer are
    # configured); assessed at most once per vantage_interval (a sweep round), and anew
    # when a sweep sees failures.
    vantage_references: tuple[str, ...] = ()
    vantage_min_answering: int = DEFAULT_VANTAGE_MIN_ANSWERING
    vantage_interval: float = 60.0

    def for_zone(self, zone: str) -> ProbeSettings:
        """The settings one zone is judged with: its own thresholds where it has them."""
        key = zone.strip().lower().rstrip(".") + "."
        override = next((o for o in self.zone_overrides if o.zone == key), None)
        return replace(self, **override.changes()) if override is not None else self
