"""docs/checks.md, rendered from the check registry: `python -m probes.checks.docs`.

The registry (probes.checks.CHECKS) is the vocabulary: IDs, meanings, rules, kinds, tags
with their default severities, reasons. tests/unit/test_check_docs.py only compares the
page with this rendering; after changing a check, run this module to rewrite the page.
"""

from __future__ import annotations

import sys
from pathlib import Path

from probes import labels
from probes.checks import CHECKS
from probes.checks.registry import Check, Kind, Tag

DOC = Path(__file__).resolve().parents[2] / "docs" / "checks.md"

HEADER = """\
# Checks

<!-- Generated from probes.checks.CHECKS by `python -m probes.checks.docs`;
     tests/unit/test_check_docs.py fails when this page and the registry differ. -->

Every check has a stable ID, used in metric labels (`check`), alert e-mails, the status page
and `ccmon check` output. A check yields findings: a severity (OK, INFO, NOTICE, WARNING,
ERROR, CRITICAL), a tag (the outcome), a reason from a closed vocabulary (the `reason`
label), the name server and address when the finding is about one, and arguments (data,
never labels). A check can be switched off with `checks.disabled`.

Each check declares its tags with a default severity; a few tags have grades, data-dependent
levels (a DS mismatch on every server is worse than on one). `checks.severity` in
config.yaml re-levels a whole check or one tag, Zonemaster-profile style; a re-levelled tag
has the configured severity whatever its grade, and the finding carries it to the reports,
the metrics' `severity` label, the alert rules and the status page:

```yaml
checks:
  severity:
    SOA04: WARNING                 # every tag of SOA04
    DNSSEC03:
      SIGNATURES_EXPIRING: ERROR   # one tag of DNSSEC03
```

Unknown check IDs, tags or severities are refused with file, line and key; the severities are
INFO, NOTICE, WARNING, ERROR and CRITICAL (to silence a check, list it in `checks.disabled`).
VANTAGE01 keeps its NOTICE: it is about this vantage point, not the zone.

Kinds: *sweep* checks judge each sweep (`ccmon check`, `ccmon run`); *history* checks judge
the monitor's stored history after each sweep (`ccmon run` only); *precheck* checks judge a
proposed delegation (`ccmon precheck`, [precheck.md](precheck.md)).

| ID | kind | meaning |
| --- | --- | --- |
"""

QUERIES = f"""\
## The further queries

The core queries are SOA over UDP and TCP and NS over UDP, per address; DIV01 and SOA04
need nothing more. DNSSEC01-04, EDNS01, NSID01, SEC01 and SEC02 read these further queries
(`probes/observe_further.py`), sent per address that responded to the core SOA queries, and
only when a check that reads them is enabled:

| query | what is asked | read by |
| --- | --- | --- |
| `{labels.DNSKEY_DO}` | zone DNSKEY, EDNS0, DO=1 | DNSSEC01-04 |
| `{labels.SOA_DO}` | zone SOA, EDNS0, DO=1 | DNSSEC02-03, EDNS01 (do) |
| `{labels.DS_DO}` | zone DS, DO=1, of the first parent server that answers (at most 2 tried) \
| DNSSEC01, DNSSEC04 |
| `{labels.SOA_PLAIN}` | zone SOA without EDNS (also sent to addresses that timed out) \
| EDNS01 (plain) |
| `{labels.SOA_EDNS1}` | zone SOA, EDNS version 1 | EDNS01 (edns1) |
| `{labels.SOA_OPTION}` | zone SOA, EDNS0 with option {labels.UNKNOWN_OPTION_CODE} \
| EDNS01 (option) |
| `{labels.SOA_NSID}` | zone SOA, EDNS0 with an empty NSID option | NSID01 |
| `{labels.AXFR}` | zone AXFR over TCP, first message only | SEC01 |
| `{labels.RECURSION}` | `{labels.RECURSION_QNAME} SOA` with RD=1 | SEC02 |

The EDNS0 test of EDNS01 reads the core SOA query over UDP (it carries EDNS0 with our
buffer size). The query label is what `Observation.question.variant` records beside the record
type, so that these SOA variants are never mistaken for the core SOA answers.
"""


def _severity(tag: Tag) -> str:
    """NOTICE, or "NOTICE; WARNING when a-day-old: ..." for a tag with grades."""
    graded = "; ".join(f"{sev.name} when {grade}" for grade, sev in tag.grades.items())
    words = f" ({tag.meaning})" if tag.meaning else ""
    return f"{tag.severity.name}; {graded}{words}" if graded else tag.severity.name


def _section(check: Check) -> list[str]:
    lines = ["", f"## {check.id}", "", f"**{check.title}.**", "", check.rule, ""]
    lines += ["| tag | default severity |", "| --- | --- |"]
    lines += [f"| `{t.name}` | {_severity(t)} |" for t in check.tags.values()]
    if check.reasons:
        words = ", ".join(f"`{r}`" for r in check.reasons)
        lines += ["", f"Reasons: {words}."]
    if check.kind is not Kind.SWEEP:
        lines += ["", f"Kind: {check.kind}."]
    if not check.relevel:
        lines += ["", "Its severity is fixed: `checks.severity` cannot re-level it."]
    return lines


def render() -> str:
    """The page, from the registry."""
    lines = [HEADER.rstrip("\n")]
    lines += [f"| [{c.id}](#{c.id.lower()}) | {c.kind} | {c.title} |" for c in CHECKS.values()]
    lines.append("")
    for check in CHECKS.values():
        lines += _section(check)
    lines += ["", "", QUERIES.rstrip("\n")]
    return "\n".join(lines) + "\n"


def main() -> int:
    """Write docs/checks.md from the registry (`python -m probes.checks.docs`); exit status 0."""
    DOC.write_text(render(), encoding="utf-8")
    print(f"wrote {DOC} ({len(CHECKS)} checks)", file=sys.stderr)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
