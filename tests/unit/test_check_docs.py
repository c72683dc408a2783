"""docs/checks.md is the check registry, rendered: this test keeps the two equal.

Regenerate after changing a check: `python -m tests.unit.test_check_docs`.
"""

from __future__ import annotations

import sys
from pathlib import Path

from probes.checks import CHECKS, diversity, dnssec, edns, security, soa_timers, vantage
from probes.checks.evidence import LAME_REASONS
from probes.observe_extra import labels

DOC = Path(__file__).resolve().parents[2] / "docs" / "checks.md"

HEADER = """\
# Checks

<!-- Generated from probes.checks.CHECKS by `python -m tests.unit.test_check_docs`;
     tests/unit/test_check_docs.py fails when this page and the registry differ. -->

Every check has a stable ID, used in metric labels (`check`), alert e-mails, the status page
and `ccmon check` output. A check yields findings: a severity (OK, INFO, NOTICE, WARNING,
ERROR, CRITICAL), a tag (the outcome), a reason from a closed vocabulary (the `reason`
label), the name server and address when the finding is about one, and arguments (data,
never labels). A check can be switched off with `disabled_checks`.

| ID | meaning |
| --- | --- |
"""

QUERIES = f"""\
## The further queries

The core queries are SOA over UDP and TCP and NS over UDP, per address; DIV01 and SOA04
need nothing more. DNSSEC01-04, EDNS01, NSID01, SEC01 and SEC02 read these further queries
(`probes/observe_extra/`), sent per address that responded to the core SOA queries, and
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
buffer size). The query label is what `Observation.question.rdtype` records, so that these
SOA variants are never mistaken for the core SOA answers.
"""


def _reasons() -> dict[str, tuple[str, ...]]:
    known: dict[str, tuple[str, ...]] = {"LAME01": LAME_REASONS}
    for module in (vantage, soa_timers, diversity, dnssec, security, edns):
        known.update(module.REASONS)
    return known


def render() -> str:
    """The page, from the registry."""
    reasons = _reasons()
    lines = [HEADER.rstrip("\n")]
    lines += [f"| [{c.id}](#{c.id.lower()}) | {c.title} |" for c in CHECKS.values()]
    lines.append("")
    for check in CHECKS.values():
        lines += ["", f"## {check.id}", "", f"**{check.title}.**", "", check.rule]
        if check.id in reasons:
            words = ", ".join(f"`{r}`" for r in reasons[check.id])
            lines += ["", f"Reasons: {words}."]
    lines += ["", "", QUERIES.rstrip("\n")]
    return "\n".join(lines) + "\n"


def test_docs_equal_the_registry():
    assert DOC.exists(), f"{DOC} missing: run python -m tests.unit.test_check_docs"
    assert DOC.read_text(encoding="utf-8") == render(), (
        "docs/checks.md differs from the registry: run python -m tests.unit.test_check_docs")


def test_every_check_is_documented_once():
    text = render()
    for check_id in CHECKS:
        assert text.count(f"\n## {check_id}\n") == 1


def test_reason_vocabularies_are_bounded_and_named_in_the_rules():
    for check_id, words in _reasons().items():
        assert check_id in CHECKS
        assert len(words) == len(set(words)) <= 20
        if check_id != "LAME01":
            for word in words:
                assert word in CHECKS[check_id].rule, (check_id, word)


if __name__ == "__main__":
    DOC.write_text(render(), encoding="utf-8")
    print(f"wrote {DOC} ({len(CHECKS)} checks)", file=sys.stderr)
