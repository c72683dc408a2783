"""docs/checks.md is the check registry, rendered: this test keeps the two equal.

It only compares; the page is written by `python -m probes.checks.docs`.
"""

from __future__ import annotations

from probes.checks import CHECKS
from probes.checks.docs import DOC, render


def test_docs_equal_the_registry():
    assert DOC.exists(), f"{DOC} missing: run python -m probes.checks.docs"
    assert DOC.read_text(encoding="utf-8") == render(), (
        "docs/checks.md differs from the registry: run python -m probes.checks.docs")


def test_every_check_is_documented_once_with_every_tag():
    text = render()
    for check_id, check in CHECKS.items():
        assert text.count(f"\n## {check_id}\n") == 1
        section = text.split(f"\n## {check_id}\n")[1].split("\n## ")[0]
        for tag in check.tags.values():
            assert f"| `{tag.name}` | {tag.severity.name}" in section, (check_id, tag.name)


#: Checks whose rule text names every reason word (the others list them under the rule).
RULE_NAMES_REASONS = ("VANTAGE01", "SOA04", "DIV01", "DNSSEC01", "DNSSEC02", "DNSSEC03",
                      "DNSSEC04", "EDNS01", "NSID01", "SEC01", "SEC02")


def test_reason_vocabularies_are_bounded_and_named_in_the_rules():
    for check_id, check in CHECKS.items():
        words = check.reasons
        assert len(words) == len(set(words)) <= 20, check_id
        if check_id in RULE_NAMES_REASONS:
            for word in words:
                assert word in check.rule, (check_id, word)
