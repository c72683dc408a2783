"""The descriptor budget: every query in flight holds one socket, so a sweep must fit the
process's RLIMIT_NOFILE, or it runs out of descriptors (EMFILE) and loses measurements.

At start (`ccmon check`, `ccmon run`) the soft limit is raised to the hard one, and
max_in_flight is kept below what is left once the descriptors already open and a reserve
for everything else (resolver, web, store, mail) are counted.
"""

from __future__ import annotations

import dataclasses
import logging
import os
import resource
from dataclasses import dataclass

from probes.settings import DEFAULT_PARSE_CACHE_BYTES, ProbeSettings

log = logging.getLogger(__name__)

RESERVE_MIN = 16  # descriptors kept for all but the queries (resolver, web, store, mail)
RESERVE_SHARE = 0.1  # ... or this share of the limit when that is more
UNLIMITED_TARGET = 1 << 20  # what "unlimited" hard means for the soft limit (Linux nr_open)


@dataclass(frozen=True, slots=True)
class DescriptorBudget:
    """The descriptor limits as this process found and set them, for the start-up log line."""
    soft_before: int
    soft: int  # the soft limit now
    hard: int
    open_now: int  # descriptors open when the budget was taken
    in_flight: int  # queries that may be in flight at once

    def describe(self) -> str:
        """One log line: soft limit (raised or not), descriptors open, queries in flight."""
        raised = (f"raised from {self.soft_before} to {self.soft}" if self.soft > self.soft_before
                  else f"{self.soft} (hard {self.hard})")
        return (f"descriptors: soft limit {raised}, {self.open_now} open, at most "
                f"{self.in_flight} queries in flight")


def open_descriptors() -> int:
    """Descriptors this process has open now; 3 where /proc/self/fd cannot be read (not Linux)."""
    try:
        return len(os.listdir("/proc/self/fd"))
    except OSError:
        return 3  # not Linux: count stdin, stdout, stderr


def in_flight_cap(limit: int, open_now: int) -> int:
    """Queries that may be in flight: the limit minus what is open minus the reserve. Pure."""
    reserve = max(RESERVE_MIN, int(limit * RESERVE_SHARE))
    return max(1, limit - open_now - reserve)


def kept_socket_cap(limit: int, open_now: int, max_in_flight: int, most: int) -> int:
    """Idle UDP sockets the engine may keep between queries: what the limit leaves beside
    the descriptors open, the reserve and every query in flight, at most `most`. Kept
    sockets are outside the in-flight budget, so without this a low limit (64) ran short
    with 38 queries in flight and 32 sockets kept; with it, the whole root zone's 11,561
    server addresses each keep one at a 20,000 limit (half the limit, the earlier cap,
    kept 10,000 and made a warm sweep open ~27,500 sockets). Pure."""
    # in_flight_cap floors at 1 query; with at least one in flight that still leaves no room
    room = in_flight_cap(limit, open_now) - max_in_flight
    return max(0, min(most, room))


PORT_RANGE_FILE = "/proc/sys/net/ipv4/ip_local_port_range"
PORTS_ELSEWHERE = 16_384  # IANA's dynamic range, 49152-65535, where the file is absent


def ephemeral_ports(path: str = PORT_RANGE_FILE) -> int:
    """How many source ports the host hands out (Linux default 32768-60999: 28,232)."""
    try:
        with open(path) as text:
            low, high = (int(word) for word in text.read().split())
    except (OSError, ValueError):
        return PORTS_ELSEWHERE
    return max(0, high - low + 1)


def kept_sockets_most(ports: int, most: int) -> int:
    """Idle UDP sockets kept at most, whatever the descriptor limit: each holds a source
    port of the host's range for as long as it is kept, and a connect() that finds none
    free fails with EAGAIN for every program on the host. Half the range stays for the
    others (a second sweep of the whole root on the same host met EAGAIN with 16,000
    kept). Pure."""
    return max(0, min(most, ports // 2))


def raise_soft_limit() -> tuple[int, int, int]:
    """(soft before, soft now, hard) after raising the soft limit as far as allowed."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    target = hard if hard != resource.RLIM_INFINITY else UNLIMITED_TARGET
    if soft == resource.RLIM_INFINITY or soft >= target:
        return soft, soft, hard
    try:
        resource.setrlimit(resource.RLIMIT_NOFILE, (target, hard))
    except (ValueError, OSError) as exc:
        log.warning("descriptors: cannot raise the soft limit from %d to %d: %s",
                    soft, target, exc)
        return soft, soft, hard
    return soft, target, hard


def fit_descriptors(settings: ProbeSettings) -> tuple[ProbeSettings, DescriptorBudget]:
    """Raise the soft limit, then cap max_in_flight to the budget; logs what it did."""
    before, soft, hard = raise_soft_limit()
    open_now = open_descriptors()
    cap = in_flight_cap(soft, open_now)
    budget = DescriptorBudget(before, soft, hard, open_now, min(cap, settings.max_in_flight))
    if cap < settings.max_in_flight:
        log.warning("%s (max_in_flight %d lowered to fit)", budget.describe(),
                    settings.max_in_flight)
        settings = dataclasses.replace(settings, max_in_flight=cap)
    else:
        log.info("%s", budget.describe())
    return settings, budget


# The parse cache follows the server addresses the engine has met, unless the config set a
# budget of its own: a cached reply costs ~2.6 KB (probes/transport.py), the whole root
# zone has 1.46 distinct replies per address (16,861 for 11,561), the ccTLDs 1.06; 6 KiB per
# address leaves room for the replies a new serial adds before the old ones age out.
# The floor is the default (a few hundred addresses share it), the ceiling bounds the RSS
# whatever a config lists.
PARSE_CACHE_PER_ADDRESS = 6 * 1024
PARSE_CACHE_MOST = 128 * 1024 * 1024


def parse_cache_budget(configured: int | None, addresses: int) -> int:
    """The parse cache budget with `addresses` server addresses met: a configured budget
    as it is (16 MiB set in the config stays 16 MiB); without one the default, grown to
    PARSE_CACHE_PER_ADDRESS each, at most PARSE_CACHE_MOST. Pure."""
    if configured is not None:
        return configured
    return max(DEFAULT_PARSE_CACHE_BYTES,
               min(PARSE_CACHE_MOST, addresses * PARSE_CACHE_PER_ADDRESS))


# A one-shot check meets each reply about once, and the repeats it does meet (a zone's
# servers sending the same bytes) come within the same zone's sweep: 4 MiB of parse cache
# served them as well as the service's 16 MiB (309 ccTLDs with the further checks: 4.6-4.8
# vs 4.8-5.1 CPU-s user) at 98 instead of 102-103 MB peak RSS.
ONE_SHOT_PARSE_CACHE_BYTES = 4 * 1024 * 1024


def for_one_shot(settings: ProbeSettings) -> ProbeSettings:
    """Settings of a one-shot command (`ccmon check`): the parse cache at most
    ONE_SHOT_PARSE_CACHE_BYTES, unless the config set a budget of its own."""
    if settings.parse_cache_bytes is not None:
        return settings
    return dataclasses.replace(settings, parse_cache_bytes=ONE_SHOT_PARSE_CACHE_BYTES)
