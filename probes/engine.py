"""The query engine: bounded concurrency, retries and TCP fallback around the transport.

Gentle by design: at most a few queries in flight per address (real ccTLD servers run
response-rate limiting, and our own dropped queries must not read as the server's loss),
and a global bound so a sweep of thousands of addresses never floods the host.
"""

from __future__ import annotations

import asyncio
import contextvars
import resource
import time
import weakref
from collections import Counter, deque
from collections.abc import Callable
from functools import partial
from typing import Any, TypeVar

import dns.flags
import dns.message

from probes.limits import (
    ephemeral_ports,
    kept_socket_cap,
    kept_sockets_most,
    open_descriptors,
    parse_cache_budget,
)
from probes.model import FailureKind, Observation, Question, Transport
from probes.settings import ProbeSettings
from probes.transport import (
    PARSE_CACHE,
    RESOURCE_ERRNOS,
    Cancellable,
    Deadlines,
    RawResult,
    UdpSockets,
    WireQuery,
    start_tcp,
    start_udp,
)

_RETRYABLE = (FailureKind.TIMEOUT, FailureKind.MISMATCH, FailureKind.MALFORMED)
# A query that failed because our host ran out of descriptors or buffers is tried again
# after a pause (doubled each time, at most the maximum), while the shortage lasts.
LOCAL_RETRY_PAUSE = 0.02  # s
LOCAL_RETRY_PAUSE_MAX = 0.5  # s


class Gate:
    """A counting semaphore for the engine's bounds, O(1) per entry and exit however many
    queries wait. asyncio.Semaphore scans its waiters on every acquire and release, which
    is quadratic once a sweep queues tens of thousands of queries behind the global bound
    (the whole root zone). A slot freed while queries wait passes to the first of them.
    A waiter is a callable: it takes the slot handed to it (True), or declines it (False:
    cancelled meanwhile) and the slot goes on to the next."""

    __slots__ = ("free", "waiters")

    def __init__(self, size: int) -> None:
        self.free = size
        self.waiters: deque[Callable[[], bool]] = deque()

    def try_enter(self) -> bool:
        """Take a slot if one is free now (no coroutine needed)."""
        if self.free > 0:  # a free slot means nobody waits: freed slots go to waiters first
            self.free -= 1
            return True
        return False

    async def enter(self) -> None:
        """Take a slot, waiting in line for one when none is free."""
        if self.try_enter():
            return
        waiter: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self.waiters.append(partial(_hand_over, waiter))
        try:
            await waiter
        except asyncio.CancelledError:
            if waiter.done() and not waiter.cancelled():
                self.leave()  # the slot was handed to us as we were cancelled: pass it on
            raise  # a cancelled waiter left in line declines the slot in `leave`

    def leave(self) -> None:
        """Give a slot back: to the first waiter that takes it, else to the free count."""
        waiters = self.waiters
        while waiters:
            if waiters.popleft()():
                return
        self.free += 1


def _hand_over(waiter: asyncio.Future[None]) -> bool:
    if waiter.done():
        return False
    waiter.set_result(None)
    return True


class QueryTally:
    """Queries sent and failures by kind, for one sweep."""

    def __init__(self) -> None:
        self.sent = 0
        self.failures: Counter[str] = Counter()
        # Per address: UDP tries that left this host, and those that got nothing back
        # (timeouts): the path's loss as this vantage point sees it.
        self.udp_tries: Counter[str] = Counter()
        self.udp_lost: Counter[str] = Counter()

    def udp_loss(self, address: str) -> float | None:
        """Share of UDP tries to the address without an answer; None: no try left the host."""
        tries = self.udp_tries[address]
        return self.udp_lost[address] / tries if tries else None


# The tally of the sweep a query belongs to. Tasks copy the context they are created in,
# so every query a sweep starts counts towards that sweep, however sweeps interleave.
current_tally: contextvars.ContextVar[QueryTally | None] = contextvars.ContextVar(
    "current_tally", default=None)


class QueryEngine:
    """Sends queries for a sweep (or for many: one engine can serve every zone)."""

    def __init__(self, settings: ProbeSettings) -> None:
        self.settings = settings
        self._global = Gate(settings.max_in_flight)
        self._per_address: dict[str, Gate] = {}
        self.totals = QueryTally()
        self._templates: dict[tuple[str, str], WireQuery] = {}
        # id(message) -> (message, its bytes); the message kept so its id stays its own
        self._given: dict[int, tuple[dns.message.Message, WireQuery]] = {}
        self._deadlines: dict[float, Deadlines] = {}
        # Questions are immutable and few (names x types x variants): shared, not made anew
        self._questions: dict[tuple[str, str, str], Question] = {}
        # UDP sockets kept per address between queries: what the descriptor budget leaves
        # beside every query in flight, at most half the host's source ports, and all
        # closed at the first shortage of descriptors or ports (see _exchange).
        self.udp_sockets = UdpSockets(settings.per_address_in_flight,
                                      _kept_socket_limit(settings.max_in_flight))
        weakref.finalize(self, self.udp_sockets.close)
        PARSE_CACHE.resize(parse_cache_budget(settings.parse_cache_bytes, 0))

    def deadlines(self, loop: asyncio.AbstractEventLoop, length: float) -> Deadlines:
        """The queue of deadlines `length` seconds away on this loop (one loop timer each)."""
        queue = self._deadlines.get(length)
        if queue is None or queue.loop is not loop:
            queue = self._deadlines[length] = Deadlines(loop, length)
        return queue

    def close(self) -> None:
        """Close the UDP sockets kept between queries (the engine stays usable)."""
        self.udp_sockets.close()

    def _address_slot(self, address: str) -> Gate:
        slot = self._per_address.get(address)
        if slot is None:
            slot = self._per_address[address] = Gate(self.settings.per_address_in_flight)
            # the parse cache follows the addresses monitored (see parse_cache_budget)
            budget = parse_cache_budget(self.settings.parse_cache_bytes, len(self._per_address))
            if budget != PARSE_CACHE.budget:
                PARSE_CACHE.resize(budget)
        return slot

    def asking(
        self, nameserver: str, address: str, qname: str, rdtype: str, transport: Transport,
        *, port: int | None = None, query: dns.message.Message | WireQuery | None = None,
        variant: str = "", start: bool = True,
    ) -> Asking:
        """One question to one address, under way: a future of its Observation, driven by
        callbacks (no coroutine or task of its own). UDP retried on timeout and over TCP on
        TC=1. `variant` names a further query (probes.labels) in the observation's question.
        With `start=False` it waits for `Asking.start` or `Asking.follow`. Cancelling it
        drops its socket, its timer and its place in line."""
        question = self._questions.get((qname, rdtype, variant))
        if question is None:
            if len(self._questions) > 50_000:  # bounded like the templates
                self._questions.clear()
            question = self._questions[(qname, rdtype, variant)] = Question(
                qname.lower(), rdtype, variant)
        asking = Asking(self, nameserver, address, port or self.settings.port, question,
                        transport, query, self._tallies())
        if start:
            asking.start()
        return asking

    async def ask(
        self, nameserver: str, address: str, qname: str, rdtype: str, transport: Transport,
        *, port: int | None = None, query: dns.message.Message | WireQuery | None = None,
        variant: str = "",
    ) -> Observation:
        """One question to one address (`asking`, awaited)."""
        return await self.asking(nameserver, address, qname, rdtype, transport, port=port,
                                 query=query, variant=variant)

    def _tallies(self) -> list[QueryTally]:
        return [t for t in (self.totals, current_tally.get()) if t is not None]

    async def _after_first(
        self, asking: Asking, raw: RawResult,
    ) -> Observation:
        """What follows a first try that needs more: a wait for descriptors or buffers, the
        UDP retries, the TCP fallback after TC=1."""
        transport, address, port = asking.transport, asking.address, asking.port
        question, query, tallies = asking.question, asking.query, asking.tallies
        nameserver = asking.nameserver
        if raw.failure is FailureKind.LOCAL_ERROR and raw.errno in RESOURCE_ERRNOS:
            raw = await self._exchange(transport, address, port, question, query, tallies,
                                       raw)
        if transport is Transport.TCP:
            return self._observation(nameserver, address, Transport.TCP, question, raw)
        if raw.failure in _RETRYABLE:
            raw = await self._udp_retries(address, port, question, query, tallies, raw)
        if raw.reply is not None and raw.reply.flags & dns.flags.TC:
            tcp = await self._exchange(Transport.TCP, address, port, question, query, tallies)
            if tcp.reply is None:  # truncated over UDP and nothing over TCP: no answer at all
                tcp = RawResult(tcp.sent_at, failure=FailureKind.TRUNCATED,
                                detail=f"TC=1 over UDP, then TCP: {tcp.failure} {tcp.detail}")
            return self._observation(nameserver, address, Transport.UDP, question, tcp,
                                     truncated=True)
        return self._observation(nameserver, address, Transport.UDP, question, raw)

    async def _udp_retries(
        self, address: str, port: int, question: Question,
        query: dns.message.Message | WireQuery | None, tallies: list[QueryTally],
        raw: RawResult,
    ) -> RawResult:
        """The tries after a first one that timed out or got only junk."""
        for _attempt in range(max(1, self.settings.udp_tries) - 1):
            raw = await self._exchange(Transport.UDP, address, port, question, query, tallies)
            if raw.failure not in _RETRYABLE:
                break
        return raw

    async def _exchange(
        self, transport: Transport, address: str, port: int, question: Question,
        query: dns.message.Message | WireQuery | None, tallies: list[QueryTally],
        short: RawResult | None = None,
    ) -> RawResult:
        """One try; `short`: a try that already failed for want of descriptors or buffers."""
        # Out of descriptors or buffers is ours: wait for the queries in flight to give some
        # back (they all end by their timeouts), then try again; bounded by that same time.
        give_up = time.monotonic() + self.settings.udp_timeout + self.settings.tcp_timeout
        attempt = 0
        raw = short
        while True:
            if raw is None:
                one_try: _Try[RawResult] = _Try(self, "", address, port, question, transport,
                                                query, tallies)
                one_try.start()
                raw = await one_try
            if raw.failure is not FailureKind.LOCAL_ERROR or raw.errno not in RESOURCE_ERRNOS:
                return raw
            # Our kept sockets hold descriptors outside the in-flight budget: give them back
            # first, so a shortage is never of our own keeping.
            self.udp_sockets.close()
            pause = min(LOCAL_RETRY_PAUSE * 2**attempt, LOCAL_RETRY_PAUSE_MAX)
            if time.monotonic() + pause > give_up:
                return raw  # still short: this query stays unmeasured, never the server's
            await asyncio.sleep(pause)
            attempt += 1
            raw = None

    def _wire_query(self, question: Question,
                    query: dns.message.Message | WireQuery | None) -> WireQuery:
        """The query's bytes; the standard ones are built once and reused with new IDs."""
        if isinstance(query, WireQuery):  # bytes built by the caller (the further queries)
            return query
        if query is not None:
            # The further queries share their messages (built once per zone and kind):
            # their bytes are made once per message too.
            known = self._given.get(id(query))
            if known is not None and known[0] is query:
                return known[1]
            if len(self._given) > 50_000:  # bounded: one per (zone, kind) in practice
                self._given.clear()
            wire = WireQuery.from_message(query)
            self._given[id(query)] = (query, wire)
            return wire
        key = (question.name, question.rdtype)
        template = self._templates.get(key)
        if template is None:
            # bounded: names come from delegations (the whole root needs ~15,000)
            if len(self._templates) > 50_000:
                self._templates.clear()
            template = self._templates[key] = WireQuery.standard(
                question.name, question.rdtype, self.settings.edns_buffer)
        return template

    @staticmethod
    def _observation(
        nameserver: str, address: str, transport: Transport, question: Question, raw: RawResult,
        *, truncated: bool = False,
    ) -> Observation:
        return Observation(
            nameserver=nameserver, address=address, transport=transport, question=question,
            sent_at=raw.sent_at, rtt=raw.rtt, reply=raw.reply, failure=raw.failure,
            detail=raw.detail, mismatches=raw.mismatches, malformed=raw.malformed,
            truncated_udp=truncated,
            oversized_bytes=raw.size if raw.failure is FailureKind.OVERSIZED else 0,
        )


R = TypeVar("R")


class _Try(asyncio.Future[R]):
    """One try of a question, as callbacks: a place at the address (per-address bound),
    then in the global bound, then the transport's exchange; its RawResult counted in the
    tallies. A future of RawResult; `Asking` (below) turns it into an Observation."""

    __slots__ = ("address", "batch", "engine", "follower", "handle", "held", "loop",
                 "nameserver", "port", "query", "question", "slot", "started", "tallies",
                 "transport", "wire")

    def __init__(
        self, engine: QueryEngine, nameserver: str, address: str, port: int,
        question: Question, transport: Transport,
        query: dns.message.Message | WireQuery | None, tallies: list[QueryTally],
    ) -> None:
        loop = asyncio.get_running_loop()
        super().__init__(loop=loop)
        self.loop = loop
        self.engine = engine
        self.nameserver = nameserver
        self.address = address
        self.port = port
        self.question = question
        self.transport = transport
        self.query = query
        self.wire = engine._wire_query(question, query)
        self.tallies = tallies
        self.slot = engine._address_slot(address)
        self.handle: Cancellable | None = None  # the exchange or the task under way
        self.held = 0  # 1: a place at the address; 2: and one in the global bound
        self.started = False
        # Told at once when this one is done, without a done callback's trip through the
        # loop: the question that follows it (`follow`) and its batch (`Answers`).
        self.follower: _Try[Any] | None = None
        self.batch: Answers | None = None

    def start(self) -> None:
        """Queue for the bounds and send once inside (again: nothing)."""
        if self.started or self.done():
            return
        self.started = True
        if self.slot.try_enter():
            self._in_slot()
        else:
            self.slot.waiters.append(self)  # no bound method per question in line

    def follow(self, first: _Try[Any], most: float) -> None:
        """Start once `first` has its result, or after `most` seconds, whichever comes
        first (a cancelled `first` leaves only the bound)."""
        if first.done():
            self.start()
            return
        self.engine.deadlines(self.loop, most).add(self)
        first.follower = self

    def pending(self) -> bool:
        """Not started yet (for the deadline of `follow`)."""
        return not self.started and not self.done()

    def expire(self) -> None:
        """The bound of `follow` passed: start now."""
        self.start()

    def __call__(self) -> bool:
        """A place handed over by a gate (`Gate.leave`): the address's when it holds none
        yet, else the global bound's. Taken, or declined (False) once cancelled."""
        if self.done():
            return False
        if self.held:
            self._send()
        else:
            self._in_slot()
        return True

    def _in_slot(self) -> None:
        self.held = 1
        bound = self.engine._global
        if bound.try_enter():
            self._send()
        else:
            bound.waiters.append(self)

    def _send(self) -> None:
        self.held = 2
        for tally in self.tallies:
            tally.sent += 1
        engine = self.engine
        message = self.wire.with_new_id()
        settings = engine.settings
        try:
            if self.transport is Transport.TCP:
                self.handle = start_tcp(message, self.address, self.port,
                                        engine.deadlines(self.loop, settings.tcp_timeout),
                                        self._on_raw)
            else:
                self.handle = start_udp(message, self.address, self.port,
                                        engine.deadlines(self.loop, settings.udp_timeout),
                                        engine.udp_sockets, self._on_raw)
        except BaseException as exc:  # a bug, not the server: raised to whoever waits
            self._release()
            self.set_exception(exc)

    def _release(self) -> None:
        held, self.held = self.held, 0
        if held == 2:
            self.engine._global.leave()
        if held:
            self.slot.leave()

    def _on_raw(self, raw: RawResult) -> None:
        self.handle = None
        self._release()
        if self.done():
            return  # cancelled while its result waited in the loop's queue
        transport, tallies = self.transport, self.tallies
        if transport is Transport.UDP:
            raw = _check_size(raw, self.wire.payload)
        if raw.failure is not None:
            for tally in tallies:
                tally.failures[str(raw.failure)] += 1
        if transport is Transport.UDP and raw.failure is not FailureKind.LOCAL_ERROR:
            for tally in tallies:
                tally.udp_tries[self.address] += 1
                tally.udp_lost[self.address] += raw.failure is FailureKind.TIMEOUT
        self._settle(raw)

    def _settle(self, raw: RawResult) -> None:
        self.set_result(raw)  # type: ignore[arg-type]  # R is RawResult for a plain try

    def set_result(self, result: R) -> None:
        """The result; the follower starts and the batch is told, at once."""
        super().set_result(result)
        self._tell(start_follower=True)

    def set_exception(self, exception: type | BaseException) -> None:
        """A failure of ours (never the server's); told like a result."""
        super().set_exception(exception)
        self._tell(start_follower=True)

    def _tell(self, start_follower: bool) -> None:
        follower, self.follower = self.follower, None
        if follower is not None and start_follower:
            follower.start()  # first: it takes the socket this one just gave back
        batch, self.batch = self.batch, None  # the batch holds us: no cycle left behind
        if batch is not None:
            batch.one_done(self)

    def cancel(self, msg: Any | None = None) -> bool:
        """Cancel: the exchange, timer or task under way dropped, the places given back."""
        if not super().cancel(msg=msg):
            return False
        self._tell(start_follower=False)  # a follower of a cancelled one waits its bound
        handle, self.handle = self.handle, None
        if handle is not None:
            handle.cancel()
        if self.held:
            # Given back from the loop, not at once: questions are cancelled in batches (a
            # gather), and a place handed on now would send a question about to be
            # cancelled too.
            self.loop.call_soon(self._release)
        return True


class Asking(_Try[Observation]):
    """A question under way (`QueryEngine.asking`): its first try as callbacks; a try that
    needs more (retries, a wait for descriptors, TCP after TC=1) goes on in a task."""

    __slots__ = ()

    def _settle(self, raw: RawResult) -> None:
        if (raw.failure is FailureKind.LOCAL_ERROR and raw.errno in RESOURCE_ERRNOS) or (
                self.transport is Transport.UDP and (
                    raw.failure in _RETRYABLE
                    or (raw.reply is not None and raw.reply.flags & dns.flags.TC))):
            task = self.loop.create_task(self.engine._after_first(self, raw))
            self.handle = task
            task.add_done_callback(self._from_task)
            return
        self.set_result(QueryEngine._observation(self.nameserver, self.address,
                                                 self.transport, self.question, raw))

    def _from_task(self, task: asyncio.Task[Observation]) -> None:
        self.handle = None
        if self.done():
            return
        if task.cancelled():
            self.cancel()
        elif (exc := task.exception()) is not None:
            self.set_exception(exc)
        else:
            self.set_result(task.result())


class Answers(asyncio.Future[list[Observation]]):
    """The observations of questions under way, in their order, once all are in: as
    asyncio.gather, without a done callback per question (each question tells its batch
    at once). A question cancelled or failed alone ends the batch so (the others go on);
    the batch cancelled cancels every question in it."""

    __slots__ = ("asked", "left")

    def __init__(self, asked: list[Asking]) -> None:
        super().__init__(loop=asyncio.get_running_loop())
        self.asked = asked
        self.left = len(asked)
        if not asked:
            self.set_result([])
        for asking in asked:
            if asking.batch is not None:
                raise ValueError("a question belongs to one batch at most")
            asking.batch = self
            if asking.done():
                self.one_done(asking)

    def one_done(self, asking: _Try[Any]) -> None:
        """One question is done: the last one completes the batch."""
        if self.done():
            return
        if asking.cancelled():
            asyncio.Future.cancel(self)  # this batch only: the others go on, as gather's
            return
        failure = asking.exception()
        if failure is not None:
            self.set_exception(failure)
            return
        self.left -= 1
        if not self.left:
            self.set_result([a.result() for a in self.asked])

    def cancel(self, msg: Any | None = None) -> bool:
        """Cancel the batch and every question in it."""
        if not super().cancel(msg=msg):
            return False
        for asking in self.asked:
            asking.cancel(msg=msg)
        return True


KEPT_SOCKETS_MAX = 16_384  # the whole root zone has 11,561 server addresses


def _kept_socket_limit(max_in_flight: int) -> int:
    most = kept_sockets_most(ephemeral_ports(), KEPT_SOCKETS_MAX)
    soft, _hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft == resource.RLIM_INFINITY:
        return most
    return kept_socket_cap(soft, open_descriptors(), max_in_flight, most)


def _check_size(raw: RawResult, limit: int) -> RawResult:
    """A UDP reply bigger than we advertised, without TC, breaks on real paths: a failure."""
    if raw.reply is None or raw.size <= limit or raw.reply.flags & dns.flags.TC:
        return raw
    return RawResult(raw.sent_at, rtt=raw.rtt, failure=FailureKind.OVERSIZED,
                     detail=f"{raw.size}-byte UDP reply over our {limit}-byte buffer",
                     mismatches=raw.mismatches, malformed=raw.malformed, size=raw.size)
