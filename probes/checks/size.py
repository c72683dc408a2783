"""SIZE01: replies over the prober's body limit, shown instead of kept silently.

The transport keeps of a reply larger than ``LARGE_REPLY_BYTES`` only what the judges read
(header, question, answer, authority, glue) and says so in the observation's detail
(:func:`probes.transport.large_reply_detail`); this check turns that record into a finding.
"""

from __future__ import annotations

import re
from collections.abc import Iterator

from probes.checks.registry import Tag, register
from probes.evidence import Evidence
from probes.model import Finding, Severity
from probes.transport import LARGE_REPLY_BYTES

# the words of probes.transport.large_reply_detail (a test holds the two together)
_DETAIL = re.compile(r"^(\d+)-byte reply over the (\d+)-byte body limit\b")


def large_reply_size(detail: str) -> int:
    """The size an answered observation's detail records for a reply over the body limit,
    0 when it records none."""
    match = _DETAIL.match(detail)
    return int(match.group(1)) if match else 0


@register(
    "SIZE01",
    "Replies within the size limit",
    f"Every reply of a server is at most {LARGE_REPLY_BYTES:,} bytes, the body limit the "
    "prober keeps (real SOA, NS and DNSKEY answers are a few KB). A larger reply, from a "
    "server padding its answers (broken or hostile), is a WARNING oversized-reply per "
    "address, naming the largest size and the queries; such a reply is judged from its "
    "header, question, answer, authority and glue only, the rest is not kept.",
    tags=(Tag("REPLY_TOO_LARGE", Severity.WARNING),),
    reasons=("oversized-reply",),
)
def judge_sizes(evidence: Evidence) -> Iterator[Finding]:
    """SIZE01: per address, replies over LARGE_REPLY_BYTES, cut to their useful sections."""
    large: dict[tuple[str, str], list[tuple[int, str]]] = {}
    for obs in evidence.observations:
        if obs.reply is None or not obs.detail:  # an answer with no detail was kept whole
            continue
        size = large_reply_size(obs.detail)
        if size > LARGE_REPLY_BYTES:
            how = obs.transport.value.upper()
            kind = obs.question.variant or obs.question.rdtype
            asked = f"{obs.question.name} {kind} over {how}"
            large.setdefault((obs.nameserver, obs.address), []).append((size, asked))
    for (nameserver, address), seen in sorted(large.items()):
        biggest = max(size for size, _ in seen)
        queries = sorted({q for _, q in seen})
        yield judge_sizes.finding(
            "REPLY_TOO_LARGE",
            f"{len(seen)} reply(ies) over the {LARGE_REPLY_BYTES}-byte limit, the largest "
            f"{biggest} bytes ({'; '.join(queries)}); only header, question, answer, authority "
            "and glue kept", nameserver=nameserver, address=address, reason="oversized-reply",
            args={"bytes": biggest, "limit": LARGE_REPLY_BYTES, "replies": len(seen)})
