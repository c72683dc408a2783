"""WCAG AA contrast of every text/background pair the pages' stylesheet declares.

The stylesheet (monitor/web/static/ccmon.css) is parsed here, and each rule that declares a
text colour or a background is paired with the other half: its own declaration if it has
one, else the nearest rule it builds on (the same selector with its last class, attribute
or pseudo-class dropped, then its ancestor context, ``.s-down .x`` -> ``.s-down``), else the
page (``body``). The contrast ratio is WCAG 2.x's, from relative luminance computed here.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from importlib import resources

import pytest

AA = 4.5
CSS = resources.files("monitor.web").joinpath("static/ccmon.css").read_text(encoding="utf-8")
NO_COLOUR = {"none", "transparent", "inherit", "initial", "unset", "currentcolor"}


def channel(value: int) -> float:
    """sRGB channel (0..255) to linear light, WCAG 2.x."""
    c = value / 255
    return c / 12.92 if c <= 0.04045 else ((c + 0.055) / 1.055) ** 2.4


def luminance(hex_colour: str) -> float:
    h = hex_colour.lstrip("#")
    if len(h) == 3:
        h = "".join(ch * 2 for ch in h)
    r, g, b = (int(h[i:i + 2], 16) for i in (0, 2, 4))
    return 0.2126 * channel(r) + 0.7152 * channel(g) + 0.0722 * channel(b)


def contrast(a: str, b: str) -> float:
    la, lb = sorted((luminance(a), luminance(b)), reverse=True)
    return (la + 0.05) / (lb + 0.05)


def rules(css: str) -> dict[str, dict[str, str]]:
    """selector -> {property: value}; a selector list gives one entry per selector."""
    css = re.sub(r"/\*.*?\*/", "", css, flags=re.S)
    out: dict[str, dict[str, str]] = {}
    for selectors, body in re.findall(r"([^{}]+)\{([^{}]*)\}", css):
        decls = {}
        for decl in body.split(";"):
            prop, sep, value = decl.partition(":")
            if sep:
                decls[prop.strip().lower()] = value.strip()
        for selector in selectors.split(","):
            key = " ".join(selector.split())
            out.setdefault(key, {}).update(decls)
    return out


def colour(value: str | None) -> str | None:
    """The colour a color/background value paints text on, None when it paints none."""
    if value is None:
        return None
    words = value.lower().split()
    if not words or words[0] in NO_COLOUR:
        return None
    found = re.search(r"#[0-9a-f]{6}\b|#[0-9a-f]{3}\b", value.lower())
    if found is None:  # a named colour, rgb(), a gradient: this test cannot judge it
        raise AssertionError(f"write colours as #rgb/#rrggbb for the contrast test: {value!r}")
    return found.group(0)


def text_of(decls: dict[str, str]) -> str | None:
    return colour(decls.get("color"))


def background_of(decls: dict[str, str]) -> str | None:
    return colour(decls.get("background-color") or decls.get("background"))


def bases(selector: str) -> list[str]:
    """What a selector builds on, nearest first: ``th[aria-sort=x] .sort::after`` ->
    ``th[aria-sort=x] .sort``, ``th[aria-sort=x]``, ``th``."""
    out = []
    while selector:
        head, _, last = selector.rpartition(" ")
        trimmed = re.sub(r"(::?[\w-]+(\([^)]*\))?|\[[^\]]*\]|[.#][\w-]+)$", "", last)
        # drop the last simple selector of the last compound, else the whole compound
        selector = f"{head} {trimmed}".strip() if trimmed and trimmed != last else head.strip()
        if selector:
            out.append(selector)
    return out


def inherited(selector: str, table: dict[str, dict[str, str]],
              pick: Callable[[dict[str, str]], str | None]) -> str:
    for base in bases(selector):
        if base in table and (value := pick(table[base])) is not None:
            return value
    value = pick(table["body"])
    assert value is not None, "body must declare both color and background"
    return value


def pairs(css: str) -> list[tuple[str, str, str]]:
    """(selector, text colour, background colour) for every rule that declares either."""
    table = rules(css)
    out = []
    for selector, decls in table.items():
        fg, bg = text_of(decls), background_of(decls)
        if fg is None and bg is None:
            continue
        fg = fg or inherited(selector, table, text_of)
        bg = bg or inherited(selector, table, background_of)
        out.append((selector, fg, bg))
    return out


def test_luminance_and_contrast_formula() -> None:
    # the extremes and known values (WebAIM's checker: #777 on white 4.48, #767676 4.54)
    assert luminance("#000") == 0.0 and luminance("#fff") == pytest.approx(1.0)
    assert contrast("#000000", "#ffffff") == pytest.approx(21.0)
    assert contrast("#fff", "#fff") == pytest.approx(1.0)
    assert contrast("#777777", "#ffffff") == pytest.approx(4.48, abs=0.01)
    assert contrast("#767676", "#ffffff") == pytest.approx(4.54, abs=0.01)
    assert contrast("#767676", "#fff") >= AA > contrast("#777", "#fff")  # the boundary


def test_pairing_reads_context() -> None:
    css = """body { color: #222; background: #fff; }
    .s-down { background: #b71c1c; color: #fff; }
    .s-down .nsid { font-weight: 700; color: #ddd; }
    .b-warning { background: #ffe082; }
    .refresh button { color: #111; background: #eee; }
    .refresh button[aria-pressed=true] { background: #ffe082; }
    .exp.warn { color: #e65100; }"""
    found = {s: (fg, bg) for s, fg, bg in pairs(css)}
    assert found[".s-down .nsid"] == ("#ddd", "#b71c1c")  # read on its ancestor's background
    assert found[".b-warning"] == ("#222", "#ffe082")  # text inherited from the page
    assert found[".refresh button[aria-pressed=true]"] == ("#111", "#ffe082")
    assert found[".exp.warn"] == ("#e65100", "#fff")
    # the old stylesheet's orange warning text on white fails, and the test sees it
    assert contrast(*found[".exp.warn"]) < AA


def test_every_pair_in_the_stylesheet_meets_wcag_aa() -> None:
    found = pairs(CSS)
    assert len(found) >= 25, found  # the parser really read the stylesheet
    weak = [(s, fg, bg, round(contrast(fg, bg), 2)) for s, fg, bg in found
            if contrast(fg, bg) < AA]
    assert not weak, weak
    # the state colours of the grid are among the checked pairs
    checked = {s for s, _, _ in found}
    assert {".s-ok", ".s-down", ".s-lame", ".b-critical", ".flag", ".exp.warn"} <= checked
