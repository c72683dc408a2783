"""The pages escape what comes from the DNS exactly once: a zone name, an NSID and a
finding message holding ``<script>&"'`` reach the reader as that text, never as markup
and never as ``&amp;lt;`` (the templates autoescape; the Python side hands them text)."""

from __future__ import annotations

from html.parser import HTMLParser

from markupsafe import Markup

from monitor.snapshot import MonitorState, Snapshot, ZoneHistory, ZoneTotals
from monitor.web.pages.overview import render_status_page
from monitor.web.pages.zone import render_zone_page
from probes.model import Finding, ServerStatus, Severity, Transport, ZoneReport
from probes.names import unicode_zone

EVIL = "<script>&\"'"
ZONE = f"x{EVIL}"
NOW = 1_800_000_000.0


class Page(HTMLParser):
    """Start tags with their attributes, and the text, each decoded once as a browser does."""

    def __init__(self, html: str) -> None:
        super().__init__(convert_charrefs=True)
        self.tags: list[tuple[str, dict[str, str | None]]] = []
        self.text: list[str] = []
        self.feed(html)
        self.close()

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.append((tag, dict(attrs)))

    def handle_data(self, data: str) -> None:
        self.text.append(data)

    def scripts(self) -> list[dict[str, str | None]]:
        return [attrs for tag, attrs in self.tags if tag == "script"]

    def hrefs(self) -> set[str | None]:
        return {attrs.get("href") for tag, attrs in self.tags if tag == "a"}


def snapshot() -> Snapshot:
    ns = "ns1.example."
    servers = tuple(ServerStatus(ns, "192.0.2.1", t, True, True, 0.012, 7, nsid=EVIL)
                    for t in (Transport.UDP, Transport.TCP))
    finding = Finding("SOA01", Severity.WARNING, "SERIAL_LAG", f"message {EVIL}", ns,
                      "192.0.2.1", "behind")
    report = ZoneReport(zone=ZONE, started_at=NOW - 5, duration=0.5, servers=servers,
                        findings=(finding,), parent_ns=(ns,), child_ns=(ns,), queries=2,
                        query_failures={}, rtts={}, dnssec="unsigned")
    state = MonitorState(Snapshot(zones=(ZONE,), interval=60, started_at=NOW - 60))
    state.publish(report, ZoneTotals().add_report(report),
                  ZoneHistory(window=86400, sweeps=4, available_sweeps=4))
    return state.snapshot


def assert_escaped_once(html: str, page: Page) -> None:
    text = "".join(page.text)
    assert f"message {EVIL}" in text  # the finding message, as sent
    assert unicode_zone(ZONE) in text  # the zone's name as the page shows names
    # never double: an escaped '&' escaped again would read "&lt;" / "&amp;" as text
    assert "&lt;" not in text and "&amp;" not in text and "&#" not in text
    assert "&amp;lt;" not in html and "&amp;amp;" not in html and "&amp;#" not in html


def test_overview_escapes_zone_nsid_and_message_once() -> None:
    html = render_status_page(snapshot(), now=NOW)
    page = Page(html)
    assert_escaped_once(html, page)
    assert f"NSID {EVIL}" in "".join(page.text)
    assert page.scripts() == [{"src": "static/status.js", "defer": None}]  # ours only
    assert f"zone/{ZONE}" in page.hrefs()  # the link carries the name, decoded once
    assert ("tr", {"id": f"zone-{ZONE}"}) in page.tags


def test_zone_page_escapes_zone_nsid_and_message_once() -> None:
    plots = Markup('<svg class="plot"></svg>')  # the SLA renderer's markup passes as is
    html = render_zone_page(snapshot(), ZONE, None, now=NOW, plots=plots,
                            no_history=f"note {EVIL}")
    page = Page(html)
    assert_escaped_once(html, page)
    assert EVIL in [t.strip() for t in page.text]  # the NSID cell holds exactly it
    assert f"note {EVIL}" in "".join(page.text)
    assert page.scripts() == []
    assert f"../api/v1/zones/{ZONE}" in page.hrefs()
    assert ("svg", {"class": "plot"}) in page.tags


def test_an_unescaped_page_would_fail_these_checks() -> None:
    """The checks can fail: the raw text parses into a script tag, and the text of a page
    escaped twice still holds entities."""
    raw = Page(f"<div>NSID {EVIL}</div>")
    assert raw.scripts() == [{}]
    twice = "&amp;lt;script&amp;gt;"
    assert "&lt;" in "".join(Page(f"<div>{twice}</div>").text)
