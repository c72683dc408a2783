"""A small SVG writer and the report's four plots, drawn on the server, no JavaScript.

Colours are the Okabe-Ito palette (distinguishable with the common colour-vision
deficiencies); text is black or #333 on white or on a palette colour chosen so that the
contrast is at least 4.5:1 (pinned by a test with the WCAG formula).
"""

from __future__ import annotations

import datetime as dt
import functools
import math
from collections.abc import Mapping, Sequence
from html import escape
from typing import Any

TEXT = "#000000"
MUTED = "#333333"
GRID = "#cccccc"

#: Heat-strip and calendar classes: (colour, legend words), best first.
CLASSES: dict[str, tuple[str, str]] = {
    "ok": ("#009E73", "all answered"),
    "minor": ("#F0E442", "up to 5 % unanswered"),
    "major": ("#E69F00", "5-50 % unanswered"),
    "down": ("#D55E00", "over 50 % unanswered"),
    "lame": ("#CC79A7", "lame answers"),
    "unmeasured": ("#BBBBBB", "not measured (vantage point)"),
    "nodata": ("#F2F2F2", "no sweeps"),
}
LINE_UDP50, LINE_UDP95, LINE_TCP95 = "#0072B2", "#D55E00", "#CC79A7"


def _attrs(attrs: Mapping[str, Any]) -> str:
    return "".join(
        f' {k.rstrip("_").replace("_", "-")}="{escape(str(v), quote=True)}"'
        for k, v in attrs.items()
        if v is not None
    )


class Svg:
    """Accumulates elements; str() gives the document (inline in HTML)."""

    def __init__(self, width: int, height: int, label: str) -> None:
        self.width, self.height, self.label = width, height, label
        self.parts: list[str] = []

    def add(self, tag: str, text: str | None = None, title: str | None = None,
            **attrs: Any) -> None:  # fmt: skip
        """Append an element; `title` becomes a tooltip, `text` its escaped content."""
        inner = (f"<title>{escape(title)}</title>" if title else "") + escape(text or "")
        if inner:
            self.parts.append(f"<{tag}{_attrs(attrs)}>{inner}</{tag}>")
        else:
            self.parts.append(f"<{tag}{_attrs(attrs)}/>")

    def text(self, x: float, y: float, words: str, size: int = 11, anchor: str = "start",
             fill: str = MUTED) -> None:  # fmt: skip
        """Append a text label at (x, y)."""
        self.add("text", words, x=f"{x:.1f}", y=f"{y:.1f}", font_size=size,
                 text_anchor=anchor, fill=fill, font_family="sans-serif")  # fmt: skip

    def __str__(self) -> str:
        """The SVG document, to be inlined in HTML."""
        return (
            f'<svg xmlns="http://www.w3.org/2000/svg" class="plot" role="img" '
            f'width="{self.width}" height="{self.height}" '
            f'viewBox="0 0 {self.width} {self.height}" aria-label="{escape(self.label)}">'
            f"<title>{escape(self.label)}</title>{''.join(self.parts)}</svg>"
        )


# --- contrast (WCAG 2) -------------------------------------------------------------------


def _luminance(colour: str) -> float:
    channels = [int(colour.lstrip("#")[i : i + 2], 16) / 255 for i in (0, 2, 4)]
    lin = [c / 12.92 if c <= 0.03928 else ((c + 0.055) / 1.055) ** 2.4 for c in channels]
    return 0.2126 * lin[0] + 0.7152 * lin[1] + 0.0722 * lin[2]


def contrast(a: str, b: str) -> float:
    """The WCAG 2 contrast ratio of two "#rrggbb" colours (1 to 21)."""
    la, lb = sorted((_luminance(a), _luminance(b)), reverse=True)
    return (la + 0.05) / (lb + 0.05)


# --- classes ---------------------------------------------------------------------------


def state_class(sweeps: int, up: int, unanswered: int, lame: int, unmeasured: int) -> str:
    """The heat-strip class of one time bucket of an address (or a zone: lame = 0)."""
    if not sweeps:
        return "nodata"
    measured = sweeps - unmeasured
    if measured <= 0:
        return "unmeasured"
    if lame and lame >= unanswered:
        return "lame"
    share = (unanswered + lame) / measured
    if share == 0:
        return "ok"
    return "minor" if share <= 0.05 else "major" if share <= 0.5 else "down"


@functools.lru_cache(maxsize=4096)
def _stamp(t: float, step: int) -> str:
    fmt = "%Y-%m-%d %H:%M" if step < 86400 else "%Y-%m-%d"
    return dt.datetime.fromtimestamp(t, dt.UTC).strftime(fmt) + " UTC"


def _time_axis(svg: Svg, x0: float, width: float, y: float, start: float, end: float) -> None:
    days = (end - start) / 86400
    every = 86400 * max(1, math.ceil(days / 10)) if days > 2 else 3600 * max(1, math.ceil(
        (end - start) / 3600 / 12))  # fmt: skip
    t = math.ceil(start / every) * every
    while t <= end:
        x = x0 + (t - start) / (end - start) * width
        svg.add("line", x1=f"{x:.1f}", x2=f"{x:.1f}", y1=y, y2=y + 4, stroke=MUTED)
        fmt = "%d %b" if every >= 86400 else "%H:%M"
        label = dt.datetime.fromtimestamp(t, dt.UTC).strftime(fmt)
        svg.text(x, y + 15, label, size=10, anchor="middle")
        t += every


# --- the plots ---------------------------------------------------------------------------

STRIP_LABEL_W, STRIP_W, STRIP_ROW = 250, 720, 14


def heat_strip(rows: Sequence[tuple[str, Sequence[tuple[int, int, str]]]], start: float,
               end: float, step: int, label: str) -> Svg:  # fmt: skip
    """DNSMON-style: one strip per address, time left to right, coloured by the share
    unanswered per bucket; rows: (name, runs of (from, to, class)) with equal neighbours
    already merged; time without a run had no sweeps."""
    height = 24 + len(rows) * (STRIP_ROW + 4) + 22
    svg = Svg(STRIP_LABEL_W + STRIP_W + 10, height, label)
    x0, span = STRIP_LABEL_W, end - start
    nodata = CLASSES["nodata"][0]
    for i, (name, runs) in enumerate(rows):
        y = 20 + i * (STRIP_ROW + 4)
        svg.text(x0 - 6, y + 11, name, anchor="end", fill=TEXT)
        # the background: no sweeps, unless a run covers the time
        svg.parts.append(f'<rect x="{x0}" y="{y}" width="{STRIP_W}" height="{STRIP_ROW}" '
                         f'fill="{nodata}" data-state="nodata"/>')  # fmt: skip
        who = escape(name)
        for first, last, cls in runs:
            a, b = max(first, start), min(last, end)
            if b <= a:
                continue
            x = x0 + (a - start) / span * STRIP_W
            w = max(0.5, (b - a) / span * STRIP_W)
            svg.parts.append(
                f'<rect x="{x:.2f}" y="{y}" width="{w:.2f}" height="{STRIP_ROW}" '
                f'fill="{CLASSES[cls][0]}" data-state="{cls}"><title>{who}: {CLASSES[cls][1]}, '
                f"{_stamp(a, step)} to {_stamp(b, step)}</title></rect>"
            )
    _time_axis(svg, x0, STRIP_W, 20 + len(rows) * (STRIP_ROW + 4), start, end)
    return svg


def legend(classes: Sequence[str]) -> str:
    """The heat-strip/calendar legend as HTML (text on white, swatches beside it)."""
    items = "".join(
        f'<span class="key"><svg width="12" height="12" aria-hidden="true">'
        f'<rect width="12" height="12" fill="{CLASSES[c][0]}" stroke="#666666"/></svg> '
        f"{escape(CLASSES[c][1])}</span>"
        for c in classes
    )  # swatches as SVG, not style attributes: fine under a strict Content-Security-Policy
    return f'<p class="legend">{items}</p>'


PLOT_L, PLOT_W, PLOT_H = 60, 700, 160


def _frame(svg: Svg, top: float, ymax: float, unit: str, ticks: int = 4) -> None:
    for k in range(ticks + 1):
        v = ymax * k / ticks
        y = top + PLOT_H - PLOT_H * k / ticks
        svg.add("line", x1=PLOT_L, x2=PLOT_L + PLOT_W, y1=f"{y:.1f}", y2=f"{y:.1f}",
                stroke=GRID, stroke_width=1)  # fmt: skip
        svg.text(PLOT_L - 6, y + 4, f"{v:g}" if v >= 10 else f"{v:.2g}", size=10, anchor="end")
    svg.text(8, top - 6, unit, size=10)


def line_plot(series: Sequence[tuple[str, str, str, Mapping[int, float | None]]],
              start: float, end: float, step: int, unit: str, label: str,
              reference: tuple[float, str] | None = None) -> Svg:  # fmt: skip
    """Lines over time: (name, colour, dash, {bucket start: value}) each; gaps where a
    bucket has no value. ``reference``: a horizontal line (value, words), e.g. the SLR."""
    top = 30
    svg = Svg(PLOT_L + PLOT_W + 20, top + PLOT_H + 40, label)
    values = [v for _, _, _, pts in series for v in pts.values() if v is not None]
    ymax = _nice(max([*values, 1e-3]) * 1.15)
    if reference and reference[0] > ymax:  # the SLR far above every value: say so instead
        svg.text(PLOT_L + PLOT_W - 4, top + 10, f"{reference[1]}: above the plot", size=10,
                 anchor="end")  # fmt: skip
        reference = None
    _frame(svg, top, ymax, unit)
    span = end - start

    def xy(t: float, v: float) -> str:
        x = PLOT_L + (t + step / 2 - start) / span * PLOT_W
        return f"{x:.1f},{top + PLOT_H - v / ymax * PLOT_H:.1f}"

    if reference:
        y = top + PLOT_H - reference[0] / ymax * PLOT_H
        svg.add("line", x1=PLOT_L, x2=PLOT_L + PLOT_W, y1=f"{y:.1f}", y2=f"{y:.1f}",
                stroke=MUTED, stroke_dasharray="2 3")  # fmt: skip
        svg.text(PLOT_L + PLOT_W - 4, y - 4, reference[1], size=10, anchor="end")
    lx = PLOT_L
    for name, colour, dash, pts in series:
        segment: list[str] = []
        for t in sorted(pts):
            v = pts[t]
            if v is None:
                _polyline(svg, segment, colour, dash)
                segment = []
                continue
            segment.append(xy(t, v))
        _polyline(svg, segment, colour, dash)
        svg.add("line", x1=lx, x2=lx + 18, y1=12, y2=12, stroke=colour, stroke_width=2,
                stroke_dasharray=dash or None)  # fmt: skip
        svg.text(lx + 22, 16, name, fill=TEXT)
        lx += 30 + 7 * len(name)
    _time_axis(svg, PLOT_L, PLOT_W, top + PLOT_H, start, end)
    return svg


def _polyline(svg: Svg, points: list[str], colour: str, dash: str) -> None:
    if len(points) == 1:
        x, y = points[0].split(",")
        svg.add("circle", cx=x, cy=y, r=2, fill=colour)
    elif points:
        svg.add("polyline", points=" ".join(points), fill="none", stroke=colour,
                stroke_width=1.5, stroke_dasharray=dash or None)  # fmt: skip


def bar_plot(points: Mapping[int, float], start: float, end: float, step: int, unit: str,
             label: str, colour: str = "#0072B2") -> Svg:  # fmt: skip
    """A bar plot of values per time bin (epoch seconds), with axes and tooltips."""
    top = 20
    svg = Svg(PLOT_L + PLOT_W + 20, top + PLOT_H + 40, label)
    ymax = _nice(max([*points.values(), 1.0]) * 1.1)
    _frame(svg, top, ymax, unit)
    span = end - start
    w = max(1.0, step / span * PLOT_W - 1)
    for t, v in sorted(points.items()):
        if v <= 0:
            continue
        h = v / ymax * PLOT_H
        x = PLOT_L + (t - start) / span * PLOT_W
        svg.add("rect", title=f"{_stamp(t, step)}: {v:g} {unit}", x=f"{x:.1f}",
                y=f"{top + PLOT_H - h:.1f}", width=f"{w:.1f}", height=f"{h:.1f}",
                fill=colour)  # fmt: skip
    _time_axis(svg, PLOT_L, PLOT_W, top + PLOT_H, start, end)
    return svg


def _nice(value: float) -> float:
    exp = 10 ** math.floor(math.log10(value))
    for m in (1, 2, 2.5, 5, 10):
        if value <= m * exp:
            return m * exp
    return 10 * exp


CELL = 38


def calendar(days: Mapping[int, tuple[str, float | None]], start: float, end: float,
             label: str) -> Svg:  # fmt: skip
    """One cell per day (weeks as rows, Monday first): the zone's availability class and
    figure; days: day start (unix s) -> (class, availability percent or None)."""
    first = dt.datetime.fromtimestamp(start, dt.UTC).date()
    last = dt.datetime.fromtimestamp(end - 1, dt.UTC).date()
    offset = first.weekday()
    count = (last - first).days + 1
    weeks = (offset + count + 6) // 7
    svg = Svg(7 * CELL + 10, 18 + weeks * CELL + 4, label)
    for i, name in enumerate(("Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun")):
        svg.text(i * CELL + CELL / 2, 12, name, size=10, anchor="middle")
    for n in range(count):
        day = first + dt.timedelta(days=n)
        t = int(dt.datetime(day.year, day.month, day.day, tzinfo=dt.UTC).timestamp())
        cls, pct = days.get(t, ("nodata", None))
        slot = offset + n
        x, y = (slot % 7) * CELL, 18 + (slot // 7) * CELL
        words = "no sweeps" if pct is None else f"{pct:.3f} % available"
        svg.add("rect", title=f"{day.isoformat()}: {words}", x=x + 1, y=y + 1,
                width=CELL - 2, height=CELL - 2, fill=CLASSES[cls][0], data_state=cls)  # fmt: skip
        svg.text(x + 5, y + 14, str(day.day), size=11, fill=TEXT)
        if pct is not None and pct < 100:
            svg.text(x + CELL / 2, y + 30, f"{pct:.1f}", size=9, anchor="middle", fill=TEXT)
    return svg
