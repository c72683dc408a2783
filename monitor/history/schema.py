"""Tables of the SLA history and the meaning of every column.

A *series* is one zone (``nameserver = address = ''``) or one (zone, name server,
address). Each sweep adds 1 to ``sweeps`` of the series' hourly and daily row and 1 to
exactly one state column:

address series (the UDP row decides, TCP when UDP was not probed):
  ``up``          authoritative answer within 5 x the SLR (UDP 2.5 s, TCP 7.5 s): ICANN's
                  "answered" test; ``slow`` counts the subset beyond the SLR itself;
  ``unanswered``  no usable answer, or later than 5 x the SLR;
  ``lame``        an answer, but not authoritative for the zone (reason per day in
                  ``history_lame``);
  ``unmeasured``  our vantage point could not measure the address (its family offline or
                  absent here, a local error): neither up nor down.
zone series:
  ``up``          available (ICANN Spec 10: >= 2 name servers up on all their measured
                  addresses; the rule of ZoneReport.available, "up" as above);
  ``unanswered``  unavailable: even the name servers with nothing measured could not make
                  up the number;
  ``unmeasured``  no verdict: nothing measured, or the verdict hangs on name servers of
                  which nothing was measured.

RTTs go into fixed histogram buckets (the bounds of :data:`monitor.snapshot.BUCKETS`, the
same as ``ccmon_query_duration_seconds``, so quantiles come out as Prometheus'
``histogram_quantile`` computes them): ``u0..u14`` UDP, ``t0..t14`` TCP, non-cumulative,
the last one +Inf. Address series count the SOA query of the address; the zone series
counts every query of the sweep (``ZoneReport.rtts``), which is what the metric counts.
"""

from __future__ import annotations

from monitor.snapshot import BUCKETS

NBUCKETS = len(BUCKETS) + 1
UDP_BUCKETS = tuple(f"u{i}" for i in range(NBUCKETS))
TCP_BUCKETS = tuple(f"t{i}" for i in range(NBUCKETS))

#: Counter columns of a rollup row, summed by every query of the report.
COUNTS: tuple[str, ...] = (
    "sweeps", "up", "slow", "unanswered", "lame", "unmeasured",
    "lagging",  # measured sweeps where the address served a serial behind the highest
    "dnssec_bad",  # address: signatures did not validate; zone: DNSSEC state "bogus"
    "axfr_open", "recursion_open",  # sweeps in which the address granted AXFR / recursion
    "udp_tries", "udp_unanswered", "tcp_tries", "tcp_unanswered",  # DNSMON's unanswered %
    *UDP_BUCKETS, *TCP_BUCKETS,
)  # fmt: skip
#: Columns combined with max/min instead of a sum.
MAXIMA: tuple[str, ...] = ("lag_max",)  # largest serial lag (RFC 1982 distance)
MINIMA: tuple[str, ...] = ("rrsig_min", "gap_min")  # earliest RRSIG expiry; shortest gap
ALL_COLUMNS = COUNTS + MAXIMA + MINIMA


def _rollup_table(name: str, key: str) -> str:
    counts = ",\n    ".join(f"{c} INTEGER NOT NULL DEFAULT 0" for c in COUNTS)
    return f"""
CREATE TABLE {name} (
    series INTEGER NOT NULL,
    {key} INTEGER NOT NULL,
    {counts},
    lag_max INTEGER,
    rrsig_min REAL,
    gap_min REAL,
    PRIMARY KEY (series, {key})
) WITHOUT ROWID;"""


#: The store migration that adds the history (monitor.store.MIGRATIONS entry).
MIGRATION = (
    """
CREATE TABLE history_series (
    id INTEGER PRIMARY KEY,
    zone TEXT NOT NULL,
    nameserver TEXT NOT NULL,
    address TEXT NOT NULL,
    last_at REAL,
    UNIQUE (zone, nameserver, address)
);"""
    + _rollup_table("history_hourly", "hour")
    + _rollup_table("history_daily", "day")
    + """
CREATE TABLE history_lame (
    series INTEGER NOT NULL,
    day INTEGER NOT NULL,
    reason TEXT NOT NULL,
    sweeps INTEGER NOT NULL,
    PRIMARY KEY (series, day, reason)
) WITHOUT ROWID;
"""
)

SCHEMA_TABLES = ("history_series", "history_hourly", "history_daily", "history_lame")

# State codes, for the in-memory per-sweep verdict.
UP, SLOW, UNANSWERED, LAME, UNMEASURED = "up", "slow", "unanswered", "lame", "unmeasured"
