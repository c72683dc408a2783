"""What each figure of the report means: one place for the HTML's definitions section,
the ranking table's header links and docs/report.md."""

from __future__ import annotations

DEFINITIONS: dict[str, tuple[str, str]] = {
    "sweep_interval_seconds": (
        "Sweep interval and sweeps",
        "How often the zone was swept (the median of the shortest gap between two sweeps "
        "per hour) and how many sweeps the period holds; every minute figure is sweeps x "
        "this interval.",
    ),
    "measured_minutes": (
        "Measured",
        "Minutes the figures are computed over: the sweeps minus the unmeasured ones, x the "
        "interval.",
    ),
    "availability_percent": (
        "Availability",
        "Zone: share of the measured sweeps in which at least 2 name servers answered "
        "authoritatively within 5 x the SLR (UDP 2.5 s) on every measured address (ICANN "
        "Spec 10 DNS service availability; service level 100 %). Address: share of the "
        "measured sweeps in which it answered authoritatively within 5 x the SLR "
        "(Spec 10 name server availability). Unmeasured sweeps are left out of both counts.",
    ),
    "downtime_minutes": (
        "Downtime",
        "Minutes unavailable: the unavailable measured sweeps x the sweep interval (each "
        "sweep stands for one interval, as ICANN counts minutes), so a server down for N "
        "minutes shows N +/- one interval. Lame answers count as unavailable.",
    ),
    "meets_spec10": (
        "Meets Spec 10",
        "Zone: no downtime at all in the period (100 %). Address: downtime within the "
        "limit, 432 minutes per 30 days scaled to the period (downtime_limit_minutes).",
    ),
    "unmeasured_minutes": (
        "Unmeasured (vantage point)",
        "Minutes our vantage point could not measure (the address family offline or absent "
        "here, a local error such as no free descriptors; for a zone: nothing measured, or "
        "the verdict hanging on name servers of which nothing was measured). "
        "Excluded from every figure, neither up nor down.",
    ),
    "not_monitored_minutes": (
        "Not monitored",
        "Minutes of the period with no sweep stored (ccmon not running, or before the first "
        "sweep): the period's minutes - sweeps x the interval. Excluded like unmeasured time.",
    ),
    "udp_rtt_median_ms": (
        "RTT median / p95",
        "Round-trip time of the answers (zone: every query of the sweeps; address: its SOA "
        "query), UDP and TCP, the 50th and 95th percentile, interpolated in the fixed "
        "histogram buckets of ccmon_query_duration_seconds exactly as Prometheus' "
        "histogram_quantile does (so they match the recording rules' figures).",
    ),
    "udp_within_500ms_percent": (
        "Within SLR",
        "Share of the answers within the Spec 10 RTT service level: UDP 500 ms, TCP 1500 ms "
        "(service level: 95 % of the tests).",
    ),
    "unanswered_udp_percent": (
        "Unanswered",
        "Per address and transport, the share of measured queries without a usable answer "
        "(RIPE DNSMON's 'unanswered %').",
    ),
    "lame_minutes": (
        "Lame",
        "Minutes in which the address answered but not authoritatively for the zone (LAME01), "
        "with the minutes per reason (refused, servfail, not-authoritative, ...).",
    ),
    "serial_lag_minutes": (
        "Serial lag",
        "Minutes in which the address served an SOA serial behind the highest one seen "
        "among the zone's servers (RFC 1982); zone: the worst address. serial_lag_max: the "
        "largest distance in serial numbers.",
    ),
    "soa_propagation_median_seconds": (
        "SOA propagation",
        "Per new serial first seen in the period: seconds from its first sight on any "
        "server to every server serving it or a newer one; median, p95 and max over the "
        "serial changes (nearest rank). Pending: serials not yet everywhere.",
    ),
    "dnssec_bogus_minutes": (
        "DNSSEC bogus",
        "Zone: minutes with the DNSSEC state 'bogus' (DS does not match, or signatures fail). "
        "Address: minutes its SOA/DNSKEY signatures did not validate.",
    ),
    "rrsig_nearest_expiry_unix_seconds": (
        "Nearest signature expiry",
        "The earliest RRSIG expiration seen on any address in the period (unix seconds; "
        "shown as a UTC date).",
    ),
    "axfr_open_addresses": (
        "Open AXFR / recursion",
        "Addresses that granted us a zone transfer (SEC01) or answered a recursive query "
        "(SEC02) at least once in the period.",
    ),
    "nameservers": (
        "Coverage and diversity",
        "Name servers seen in the period; share of their addresses on IPv6 and answering "
        "over TCP; distinct network prefixes (/24 for IPv4, /48 for IPv6) among the "
        "addresses, the diversity figure that needs no ASN data.",
    ),
}

#: Figure key -> definition anchor, for figures sharing a definition.
ANCHOR = {
    "sweeps": "sweep_interval_seconds",
    "server_addresses": "nameservers",
    "udp_rtt_answers": "udp_rtt_median_ms",
    "tcp_rtt_answers": "udp_rtt_median_ms",
    "udp_rtt_p95_ms": "udp_rtt_median_ms",
    "tcp_rtt_median_ms": "udp_rtt_median_ms",
    "tcp_rtt_p95_ms": "udp_rtt_median_ms",
    "tcp_within_1500ms_percent": "udp_within_500ms_percent",
    "unanswered_tcp_percent": "unanswered_udp_percent",
    "worst_server_downtime_minutes": "downtime_minutes",
    "servers_meeting_spec10": "meets_spec10",
    "downtime_limit_minutes": "meets_spec10",
    "serial_lag_minutes_worst_server": "serial_lag_minutes",
    "serial_lag_max_serials": "serial_lag_minutes",
    "soa_propagation_p95_seconds": "soa_propagation_median_seconds",
    "soa_propagation_max_seconds": "soa_propagation_median_seconds",
    "soa_changes": "soa_propagation_median_seconds",
    "soa_changes_pending": "soa_propagation_median_seconds",
    "dnssec_invalid_minutes": "dnssec_bogus_minutes",
    "recursion_open_addresses": "axfr_open_addresses",
    "axfr_open_seen": "axfr_open_addresses",
    "recursion_open_seen": "axfr_open_addresses",
    "ipv6_address_percent": "nameservers",
    "tcp_address_percent": "nameservers",
    "address_prefixes": "nameservers",
    "ipv6_nameservers": "nameservers",
    "lame_reasons": "lame_minutes",
    "availability": "availability_percent",
}


def anchor(key: str) -> str:
    """The HTML anchor of a figure's definition."""
    return "def-" + ANCHOR.get(key, key)
