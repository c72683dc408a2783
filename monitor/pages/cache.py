"""Render a page once per snapshot change, serve it from memory, gzip it once.

A view of the overview at 309 zones costs ~0.2 s of CPU to render and ~1.7 MB raw; served
from the cache it costs a dictionary lookup and a send of ~0.2 MB gzip. Policy:

* the cached page is served while the snapshot it was rendered from is still current and
  the page is younger than ``max_age`` (its relative times, "12 s ago", and the health
  line age; ``max_age`` bounds how stale they read);
* when the snapshot changed, the page is re-rendered in a worker thread, but at most once
  per ``min_interval``: during a sweep round the service publishes a new snapshot per zone,
  several per second, and a viewer gains nothing from a page per zone. Meanwhile the
  previous page is served (stale-while-revalidate), so a view never waits for a render
  unless there is no page yet or it is older than ``max_age``;
* concurrent requests share one render.
"""

from __future__ import annotations

import asyncio
import gzip
import hashlib
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass
from email.utils import formatdate

from monitor.status import Snapshot

log = logging.getLogger(__name__)

Renderer = Callable[[Snapshot], str]


@dataclass(frozen=True, slots=True)
class Page:
    """One rendered page in both encodings, with its validators."""

    snapshot: Snapshot
    rendered_at: float  # clock() of the render, for the cache policy
    wall_time: float  # time.time() of the render, for Last-Modified
    body: bytes
    gzipped: bytes
    etag: str  # strong ETag of the identity body; the gzip body's carries "-gz"
    render_seconds: float

    @property
    def last_modified(self) -> str:
        return formatdate(self.wall_time, usegmt=True)

    def variant(self, use_gzip: bool) -> tuple[bytes, str]:
        if use_gzip:
            return self.gzipped, self.etag[:-1] + '-gz"'
        return self.body, self.etag


def build_page(snapshot: Snapshot, text: str, rendered_at: float, seconds: float) -> Page:
    body = text.encode("utf-8")
    digest = hashlib.blake2b(body, digest_size=12).hexdigest()
    return Page(snapshot, rendered_at, time.time(), body, gzip.compress(body, compresslevel=6),
                f'"{digest}"', seconds)


class PageCache:
    """The current rendering of one page (see the module docstring for the policy)."""

    def __init__(self, render: Renderer, *, min_interval: float = 5.0, max_age: float = 30.0,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.render = render
        self.min_interval = min_interval
        self.max_age = max_age
        self.clock = clock
        self.page: Page | None = None
        self.renders = 0  # how many times the page was rendered (for tests and the bench)
        self._pending: asyncio.Task[Page] | None = None

    async def get(self, snapshot: Snapshot) -> Page:
        page = self.page
        if page is not None:
            age = self.clock() - page.rendered_at
            if age < self.max_age and (page.snapshot is snapshot or age < self.min_interval):
                return page
            if age < self.max_age:  # changed snapshot: refresh behind the scenes
                self._start(snapshot)
                return page
        return await asyncio.shield(self._start(snapshot))

    async def settled(self) -> None:
        """Wait for a render in progress, if any (tests, shutdown)."""
        if self._pending is not None:
            await asyncio.shield(self._pending)

    def _start(self, snapshot: Snapshot) -> asyncio.Task[Page]:
        if self._pending is None or self._pending.done():
            self._pending = asyncio.get_running_loop().create_task(self._render(snapshot))
            self._pending.add_done_callback(_log_failure)
        return self._pending

    async def _render(self, snapshot: Snapshot) -> Page:
        def work() -> Page:
            started = time.perf_counter()
            text = self.render(snapshot)
            return build_page(snapshot, text, self.clock(), time.perf_counter() - started)

        # a worker thread: the web loop keeps answering /metrics and /healthz meanwhile
        page = await asyncio.get_running_loop().run_in_executor(None, work)
        self.page = page
        self.renders += 1
        return page


def _log_failure(task: asyncio.Task[Page]) -> None:
    if not task.cancelled() and task.exception() is not None:
        log.error("rendering a page failed", exc_info=task.exception())
