"""What the HTML pages share: the template environment, server marks, and the durations and
times of probes.text (one wording with the findings and mails).

The pages are Jinja2 templates under ``monitor/web/templates`` with autoescape on: the
Python side hands them plain text (zone names, NSIDs, finding messages as received) and
every ``{{ value }}`` is escaped exactly once, in the template. Markup that is not the
template's own arrives as :class:`markupsafe.Markup` (the SLA plots), explicitly.
"""

from __future__ import annotations

from functools import lru_cache

from jinja2 import Environment, PackageLoader, StrictUndefined, Template

from probes.checks.dnssec import EXPIRY_CRITICAL, EXPIRY_WARNING
from probes.model import AddressSummary
from probes.names import unicode_zone
from probes.text import duration_text

DAY = 86400.0
DISPLAY_NAMES = 32_768  # decoded names remembered: more than the root zone has addresses

STATE_WORDS = {
    "ok": "answers authoritatively, in time, current serial",
    "degraded": "one transport (UDP or TCP) fails",
    "slow": "answers slower than the RTT threshold",
    "stale": "serves an older serial",
    "lame": "answers, but not authoritatively",
    "down": "no answer",
    "unmeasured": "not measured: this vantage point could not reach it (not the server's fault)",
}

#: The marks a server cell can carry, and what they mean: one wording for the cell's
#: tooltip (`flags`) and the page's legend (MARK_WORDS).
AXFR_MARK = ("AXFR open", "SEC01: grants a zone transfer (AXFR) to anyone")
RESOLVER_MARK = ("open resolver", "SEC02: answers recursive queries for other names")
EDNS_MARK = ("EDNS <tests>", "EDNS01: the named EDNS tests failed (the zone page says how)")
DNSSEC_MARK = ("DNSSEC invalid", "DNSSEC02: signatures over SOA/DNSKEY do not validate")
MARK_WORDS = (AXFR_MARK, RESOLVER_MARK, EDNS_MARK, DNSSEC_MARK)


#: Autoescape on for every template; blocks take their own line's newline (trim_blocks),
#: so a template reads as the page it renders; an undefined name is an error, not "".
ENVIRONMENT = Environment(
    loader=PackageLoader("monitor.web", "templates"),
    autoescape=True,
    trim_blocks=True,
    lstrip_blocks=True,
    keep_trailing_newline=True,
    undefined=StrictUndefined,
    auto_reload=False,
)


def template(name: str) -> Template:
    """The named template of monitor/web/templates (compiled once, then cached)."""
    return ENVIRONMENT.get_template(name)


def ms(seconds: float | None) -> str:
    """Seconds as milliseconds with 2, 1 or 0 decimals by size; "–" for None."""
    if seconds is None:
        return "–"
    value = seconds * 1000
    if value < 1:
        return f"{value:.2f} ms"
    return f"{value:.1f} ms" if value < 10 else f"{value:.0f} ms"


def ago(ts: float, now: float) -> str:
    """How long before `now` `ts` was, in s, min or h; never negative."""
    delta = max(0.0, now - ts)
    if delta < 120:
        return f"{delta:.0f} s ago"
    if delta < 7200:
        return f"{delta / 60:.0f} min ago"
    return f"{delta / 3600:.1f} h ago"


@lru_cache(maxsize=DISPLAY_NAMES)
def display_ns(name: str) -> str:
    """A name server name in Unicode (IDNA decoded), with one trailing dot (remembered:
    the overview shows every server's name each render, and decoding is the costly part)."""
    return unicode_zone(name.rstrip(".")) + "."


def expiry_text(expires_at: float, now: float) -> tuple[str, str]:
    """("in 3 d 4 h" | "expired 5 h 2 min ago", CSS class: ok, warn below 2.5 d, bad below 1 d)."""
    left = expires_at - now
    if left <= 0:
        return f"expired {duration_text(-left)} ago", "bad"
    level = "bad" if left < EXPIRY_CRITICAL else "warn" if left < EXPIRY_WARNING else "ok"
    return f"in {duration_text(left)}", level


def flags(view: AddressSummary) -> list[tuple[str, str]]:
    """(short mark, explanation) for the address's problems found by the further checks."""
    out = []
    if view.axfr_open:
        out.append(AXFR_MARK)
    if view.recursion_open:
        out.append(RESOLVER_MARK)
    problems = view.edns_problems
    if problems:
        words = ", ".join(f"{test}: {outcome}" for test, outcome in problems.items())
        out.append(("EDNS " + " ".join(problems), f"EDNS01 failed: {words}"))
    if view.dnssec_valid is False:
        out.append(DNSSEC_MARK)
    return out
