"""Render a page once per snapshot change, serve it from memory, gzip it once.

A view of the overview at 309 zones costs ~0.15 s of CPU to render and ~1.4 MB raw; served
from the cache it costs a lookup and a send of ~90 KB gzip. Policy:

* the cached page is served while the snapshot it was rendered from is still current and
  the page is younger than ``max_age`` (its relative times, "12 s ago", and the health
  line age; ``max_age`` bounds how stale they read);
* when the snapshot changed, the page is re-rendered in a worker thread, but at most once
  per ``min_interval``: during a sweep round the service publishes a new snapshot per zone,
  several per second, and a viewer gains nothing from a page per zone. Meanwhile the
  previous page is served (stale-while-revalidate), so a view waits for a render only
  when there is no page yet or it is older than ``max_age``;
* while someone looks at the page (a request within ``idle_after``), a refresher renders
  ahead every ``min_interval`` when the snapshot changed or the page nears ``max_age``, so
  a viewer reloading every minute still gets a cached page; nobody looking, no rendering;
* concurrent requests share one render.
"""

from __future__ import annotations

import asyncio
import contextlib
import gzip
import hashlib
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass
from email.utils import formatdate

from monitor.snapshot import Snapshot

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
        """The render's wall time as an HTTP date, for Last-Modified."""
        return formatdate(self.wall_time, usegmt=True)


def build_page(snapshot: Snapshot, text: str, rendered_at: float, seconds: float) -> Page:
    """A Page of this text: UTF-8 body, its gzip form and a strong ETag from its digest."""
    body = text.encode("utf-8")
    digest = hashlib.blake2b(body, digest_size=12).hexdigest()
    return Page(snapshot, rendered_at, time.time(), body, gzip.compress(body, compresslevel=6),
                f'"{digest}"', seconds)


class PageCache:
    """The current rendering of one page (see the module docstring for the policy)."""

    def __init__(self, render: Renderer, source: Callable[[], Snapshot], *,
                 min_interval: float = 5.0, max_age: float = 30.0, idle_after: float = 600.0,
                 refresh_ahead: bool = True,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.render = render
        self.source = source  # the current snapshot
        self.min_interval = min_interval
        self.max_age = max_age
        self.idle_after = idle_after
        self.refresh_ahead = refresh_ahead
        self.clock = clock
        self.page: Page | None = None
        self.renders = 0  # how many times the page was rendered (for tests and the bench)
        self.last_request = float("-inf")
        self._pending: asyncio.Task[Page] | None = None
        self._refresher: asyncio.Task[None] | None = None

    async def get(self) -> Page:
        """The page to serve: the cached one while fresh, else a new render shared by waiters."""
        snapshot = self.source()
        self.last_request = self.clock()
        if self.refresh_ahead and (self._refresher is None or self._refresher.done()):
            self._refresher = asyncio.get_running_loop().create_task(self._keep_fresh())
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
        """Wait for a render in progress, if any (tests)."""
        if self._pending is not None:
            await asyncio.shield(self._pending)

    async def close(self) -> None:
        """Stop the refresher and wait for a render in progress (the app's cleanup)."""
        for task in (self._refresher, self._pending):
            if task is not None and not task.done():
                task.cancel()
                with contextlib.suppress(asyncio.CancelledError, Exception):
                    await task

    def _stale(self, snapshot: Snapshot) -> bool:
        page = self.page
        if page is None or page.snapshot is not snapshot:
            return True
        return self.clock() - page.rendered_at >= self.max_age - self.min_interval

    async def _keep_fresh(self) -> None:
        while self.clock() - self.last_request <= self.idle_after:
            await asyncio.sleep(self.min_interval)
            snapshot = self.source()
            if self._stale(snapshot):
                with contextlib.suppress(Exception):  # logged by _log_failure
                    await asyncio.shield(self._start(snapshot))

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
