#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""asyncio_peer.py - the asyncio baseline of ringside's benchmarks.

A port of the resilience lecture's examples (Lecture 39) to the engine's
semantics (SPEC.md "Resilience" and "Batches"; docs/bench.md "The peers'
contract"), written the way the lecture writes them:

  Example 39.1  retry_with_backoff: a decorator (functools.wraps) that makes
                up to retry_attempts attempts, each bounded by
                asyncio.wait_for(timeout) (Python 3.12's on 3.11: no Task per
                attempt), and waits with asyncio.sleep between them: the cap
                before attempt n+1 is min(retry_max, retry_base * 2^(n-1)),
                spread by the jitter (none, full, equal or decorrelated).
  Example 39.2  AsyncCircuitBreaker: "closed", "open", "half_open"; opens
                when breaker_failures failed calls fall within
                breaker_window, raises CircuitOpenError without any I/O while
                open, lets breaker_probes probes through once breaker_reset
                has passed; they all succeed: closed; one fails: open again.
  Example 39.3  read_sensor_with_fallback and collect_batch: every tick the
                sensors' calls run under asyncio.gather; the batch is
                published when they are all done or at tick + deadline,
                whichever comes first (asyncio.wait with a timeout, which
                never cancels a call), with the available readings apart
                from the missing sensors and their causes.

The breaker wraps the retry, so a call (one tick's chain of attempts) counts
once.  A sensor has at most one call in flight: a tick does not start
another, the batch shows it "pending", and its result is reported once,
"late", in the next batch after it ends.  Ticks are absolute on
time.monotonic() (CLOCK_MONOTONIC): tick n at start + n * period; ticks that
cannot be published by their deadline are skipped and counted.

Sources: file: (the file is opened and read in the coroutine, as the lecture
does), stream: (a FIFO, tty or character device, opened O_NONBLOCK, and
O_RDWR for a FIFO so that a missing writer is no EOF, drained through
loop.connect_read_pipe), tcp: and unix: in push mode (asyncio streams,
drained by a task) and in request mode (one request, one reply line on a
connection kept from call to call; a request that timed out closes it).
Push records are stamped on arrival; an attempt takes the newest unused
record younger than max_age, or waits for the next one.  As the engine
does, the sockets are connected before the first tick (ticks start once
the connects have ended), and a connect outlives an attempt that timed out
waiting for it: the next attempt takes it over.

Usage: python3 asyncio_peer.py -c FILE --duration SECONDS
At the end it prints one JSON line (docs/bench.md) and exits 0; a usage or
configuration error exits 2, a runtime failure 1.  Standard library only.
"""

import argparse
import asyncio
import collections
import configparser
import errno
import functools
import gc
import json
import logging
import math
import os
import random
import re
import resource
import signal
import socket
import stat
import sys
import time

SYSTEM = "asyncio"
RECORD_MAX = 4096  # the longest record, in bytes (SPEC.md "Values")
# Before the first tick the sources' connects are awaited this long at most
# (seconds); those still in flight are left to the first attempts.
PREPARE_MAX = 10.0

log = logging.getLogger("asyncio_peer")


# ---- errors ---------------------------------------------------------------


class SensorError(Exception):
    """A failed attempt (or call): errno is the cause, as the engine names it."""

    def __init__(self, code, attempts=0):
        self.errno = code
        self.attempts = attempts
        super().__init__(errno_name(code))


class CircuitOpenError(Exception):
    """Raised by AsyncCircuitBreaker.call while open: no I/O was done."""


class ConfigError(Exception):
    """A configuration problem, already formatted as FILE:LINE: message."""


def errno_name(code):
    return errno.errorcode.get(code, "E%d" % code)


def os_error_code(exc):
    """The errno of an OSError raised by I/O (socket.gaierror has none)."""
    if isinstance(exc, socket.gaierror):
        return errno.EHOSTUNREACH
    if isinstance(exc, TimeoutError):
        return errno.ETIMEDOUT
    code = getattr(exc, "errno", None)
    return code if isinstance(code, int) and code > 0 else errno.EIO


# ---- values (SPEC.md "Values") --------------------------------------------

# Plain decimal numbers only: no hex, nan, inf, blanks or underscores.
_DECIMAL = re.compile(rb"[+-]?(?:[0-9]+(?:\.[0-9]*)?|\.[0-9]+)(?:[eE][+-]?[0-9]+)?\Z")


class ValueSpec:
    """How to turn a record into a value: value = (raw + offset) * scale."""

    __slots__ = ("line", "field", "offset", "scale", "min", "max")

    def __init__(self, line=0, field=0, offset=0.0, scale=1.0,
                 min=-math.inf, max=math.inf):
        self.line = line
        self.field = field
        self.offset = offset
        self.scale = scale
        self.min = min
        self.max = max


def parse_number(text):
    """The bytes text as a finite decimal number, or SensorError(EBADMSG)."""
    if not text or len(text) > RECORD_MAX or _DECIMAL.match(text) is None:
        raise SensorError(errno.EBADMSG)
    v = float(text)
    if not math.isfinite(v):
        raise SensorError(errno.EBADMSG)
    return v


def parse_record(spec, rec):
    """One record (a line, without its newline) into a value.

    EMSGSIZE: over RECORD_MAX bytes; EBADMSG: the field is missing, is not a
    number, or the value is not finite; ERANGE: outside [min, max].
    """
    if len(rec) > RECORD_MAX:
        raise SensorError(errno.EMSGSIZE)
    # bytes.split() cuts on runs of space, \t, \n, \r, \v, \f: the engine's set.
    fields = rec.split(None, spec.field + 1)
    if spec.field >= len(fields):
        raise SensorError(errno.EBADMSG)
    v = (parse_number(fields[spec.field]) + spec.offset) * spec.scale
    if not math.isfinite(v):
        raise SensorError(errno.EBADMSG)
    if v < spec.min or v > spec.max:
        raise SensorError(errno.ERANGE)
    return v


def parse_lines(spec, buf):
    """A whole file: pick line `line` (0-based), then parse_record()."""
    lines = buf.split(b"\n", spec.line + 1)
    # A missing line, or the empty tail after the last newline: no number.
    if spec.line >= len(lines):
        raise SensorError(errno.EBADMSG)
    return parse_record(spec, lines[spec.line])


class LineFramer:
    """Cut a byte stream into lines (without "\\n" or "\\r\\n").

    A line over RECORD_MAX bytes gives exactly one EMSGSIZE (an int in the
    output) and is dropped up to its newline, as the engine's framer does.
    """

    def __init__(self):
        self.buf = bytearray()
        self.discarding = False

    def reset(self):
        self.buf.clear()
        self.discarding = False

    def feed(self, data):
        """Returns the complete records in data: bytes, or EMSGSIZE."""
        out = []
        buf = self.buf
        buf += data
        start = 0
        while True:
            nl = buf.find(b"\n", start)
            if nl < 0:
                break
            line = bytes(buf[start:nl])
            start = nl + 1
            if self.discarding:
                self.discarding = False
                continue
            if line.endswith(b"\r"):
                line = line[:-1]
            out.append(errno.EMSGSIZE if len(line) > RECORD_MAX else line)
        if start:
            del buf[:start]
        # An unfinished line that no longer fits RECORD_MAX + "\r" is
        # over-long whatever comes next.
        if len(buf) > RECORD_MAX + 1:
            if not self.discarding:
                out.append(errno.EMSGSIZE)
                self.discarding = True
            buf.clear()
        return out


# ---- Example 39.1: retry with exponential backoff --------------------------

JITTERS = ("none", "full", "equal", "decorrelated")


def backoff_delay(attempt_done, prev_wait, base_delay, max_delay, jitter, rng):
    """The wait (seconds) before attempt n+1, n = attempt_done >= 1.

    cap = min(max_delay, base_delay * 2^(n-1)); none: cap; full: U[0, cap];
    equal: cap/2 + U[0, cap/2]; decorrelated: min(max_delay,
    U[base_delay, 3 * previous wait]), the previous wait being base_delay
    for the first retry.
    """
    n = max(attempt_done, 1)
    cap = max_delay if n > 64 else min(max_delay, base_delay * 2.0 ** (n - 1))
    if jitter == "none":
        return cap
    if jitter == "full":
        return rng.uniform(0.0, cap)
    if jitter == "equal":
        half = cap / 2.0
        return half + rng.uniform(0.0, cap - half)
    if jitter == "decorrelated":
        prev = prev_wait if n > 1 and prev_wait >= base_delay else base_delay
        return min(max_delay, rng.uniform(base_delay, 3.0 * prev))
    return cap


if sys.version_info >= (3, 12) or not hasattr(asyncio, "timeout"):
    wait_for = asyncio.wait_for
else:
    async def wait_for(aw, timeout):
        """asyncio.wait_for as Python 3.12 has it (gh-96764): the awaitable
        runs in the caller's task under asyncio.timeout.  3.11's wraps it in
        a Task of its own, whose first step (an attempt's request) waits for
        the next pass of the event loop while the timeout already runs; with
        a thousand attempts started at once that pass takes tens of
        milliseconds, much of an attempt's timeout."""
        async with asyncio.timeout(timeout):
            return await aw


def retry_with_backoff(max_attempts=4, base_delay=0.1, max_delay=2.0,
                       jitter="full", timeout=0.05, exceptions=(SensorError,),
                       rng=None, sleep=None):
    """Retry an async read with exponential backoff and jitter.

    Each attempt is bounded by asyncio.wait_for(timeout) (a timed-out attempt
    fails with ETIMEDOUT); between attempts the wrapper waits with
    asyncio.sleep.  The wrapped coroutine function returns (result,
    attempts); when every attempt failed it re-raises the last SensorError
    with .attempts set.  Exceptions not in `exceptions` are not retried.
    """
    rng = rng if rng is not None else random.Random()
    sleep = sleep if sleep is not None else asyncio.sleep

    def decorator(func):
        @functools.wraps(func)
        async def wrapper(*args, **kwargs):
            prev_wait = 0.0
            attempt = 0
            while True:
                attempt += 1
                try:
                    result = await wait_for(func(*args, **kwargs), timeout)
                    return result, attempt
                except asyncio.TimeoutError:
                    last = SensorError(errno.ETIMEDOUT)
                except exceptions as exc:
                    last = exc
                if attempt >= max_attempts:
                    last.attempts = attempt
                    raise last
                wait = backoff_delay(attempt, prev_wait, base_delay,
                                     max_delay, jitter, rng)
                prev_wait = wait
                log.debug("%s: attempt %d failed (%s), retry in %.3f s",
                          func.__qualname__, attempt, last, wait)
                await sleep(wait)

        return wrapper

    return decorator


# ---- Example 39.2: the circuit breaker ------------------------------------


class AsyncCircuitBreaker:
    """A circuit breaker around an async call: closed, open or half_open.

    closed: calls go through; a failed call joins the history, and when
    `failure_threshold` failed calls fall within `window` seconds the breaker
    opens (a success does not clear the history; the window ages it).
    open: call() raises CircuitOpenError at once, without calling anything,
    until `reset` seconds have passed; then the next call turns it half_open.
    half_open: `probes` calls go through, the rest are rejected; when all
    probes succeed it closes, when one fails it opens again and the reset
    time starts over.  Every transition starts a new generation; a result
    of a call admitted in an older one is ignored.
    """

    def __init__(self, failure_threshold=3, window=5.0, reset=5.0, probes=1,
                 clock=time.monotonic, name="breaker"):
        self.failure_threshold = failure_threshold
        self.window = window
        self.reset = reset
        self.probes = probes
        self.clock = clock
        self.name = name
        self.state = "closed"
        self.generation = 0
        self.opened_until = 0.0
        self.failures = collections.deque(maxlen=failure_threshold)
        self.probes_admitted = 0
        self.probe_successes = 0
        self.opens = 0
        self.fast_fails = 0

    def _transition(self, state, now):
        log.info("breaker %s: %s -> %s", self.name, self.state, state)
        self.state = state
        self.generation += 1
        self.probes_admitted = 0
        self.probe_successes = 0
        if state == "open":
            self.opens += 1
            self.opened_until = now + self.reset
        elif state == "closed":
            self.failures.clear()

    def admit(self):
        """A ticket (generation, is_probe) for a call; CircuitOpenError if none."""
        now = self.clock()
        if self.state == "open":
            if now < self.opened_until:
                self.fast_fails += 1
                raise CircuitOpenError(self.name)
            self._transition("half_open", now)
        if self.state == "half_open":
            if self.probes_admitted >= self.probes:
                self.fast_fails += 1
                raise CircuitOpenError(self.name)
            self.probes_admitted += 1
            return (self.generation, True)
        return (self.generation, False)

    def record(self, ticket, ok):
        """Count the result of the call admitted with ticket."""
        generation, probe = ticket
        if generation != self.generation:
            return  # stale: its state is over
        now = self.clock()
        if not probe:
            if ok:
                return
            self.failures.append(now)
            if (len(self.failures) == self.failure_threshold
                    and now - self.failures[0] < self.window):
                self._transition("open", now)
            return
        if not ok:
            self._transition("open", now)
            return
        self.probe_successes += 1
        if self.probe_successes >= self.probes:
            self._transition("closed", now)

    async def call(self, func, *args, **kwargs):
        ticket = self.admit()  # raises CircuitOpenError: no I/O at all
        try:
            result = await func(*args, **kwargs)
        except Exception:
            self.record(ticket, False)
            raise
        self.record(ticket, True)
        return result


# ---- sources -------------------------------------------------------------


class FileSource:
    """file:PATH - each attempt reads the whole file from offset 0."""

    def __init__(self, cfg):
        self.path = cfg.path
        self.spec = cfg.value

    def prepare(self):
        return None  # nothing to open ahead: each attempt opens the file

    async def read(self):
        try:
            with open(self.path, "rb", buffering=0) as f:
                data = f.read(RECORD_MAX + 1)
        except OSError as exc:
            raise SensorError(os_error_code(exc)) from None
        if len(data) > RECORD_MAX:
            raise SensorError(errno.EMSGSIZE)
        return parse_lines(self.spec, data)

    def close(self):
        pass


class PushSource:
    """A source that pushes lines: drained continuously, records stamped as
    they arrive; an attempt takes the newest unused record younger than
    max_age, or waits for the next one (the attempt's timeout bounds it).
    Subclasses open the source and feed _on_data / _on_lost."""

    eof_error = errno.EPIPE

    def __init__(self, cfg):
        self.spec = cfg.value
        self.max_age = cfg.max_age_ns / 1e9
        self.framer = LineFramer()
        self.connected = False
        self.lost_error = 0
        self.record_seq = 0
        self.used_seq = 0
        self.record_at = 0.0
        self.record_value = None
        self.record_error = 0
        self._waiter = None

    def _wake(self):
        w = self._waiter
        if w is not None and not w.done():
            w.set_result(None)

    def _on_data(self, data):
        records = self.framer.feed(data)
        if not records:
            return
        # Every record of this chunk is stamped now: only the newest counts.
        newest = records[-1]
        self.record_seq += len(records)
        self.record_at = time.monotonic()
        if isinstance(newest, int):
            self.record_value, self.record_error = None, newest
        else:
            try:
                self.record_value = parse_record(self.spec, newest)
                self.record_error = 0
            except SensorError as exc:
                self.record_value, self.record_error = None, exc.errno
        self._wake()

    def _on_lost(self, code):
        if self.connected:
            self.connected = False
            self.lost_error = code or self.eof_error
            self._close_io()
        self._wake()

    def _take(self):
        if (self.record_seq == 0 or self.record_seq == self.used_seq
                or time.monotonic() - self.record_at > self.max_age):
            return False
        self.used_seq = self.record_seq
        return True

    async def read(self):
        if not self.connected:
            await self._open()
            self.connected = True
        while True:
            if self._take():
                if self.record_error:
                    raise SensorError(self.record_error)
                return self.record_value
            if not self.connected:
                raise SensorError(self.lost_error)
            self._waiter = asyncio.get_running_loop().create_future()
            try:
                await self._waiter
            finally:
                self._waiter = None

    def prepare(self):
        """Start opening the source ahead of the first tick: a task, or None
        when the first attempt opens it."""
        return None

    async def _open(self):
        raise NotImplementedError

    def _close_io(self):
        pass

    def close(self):
        self.connected = False
        self._close_io()


class _PipeProtocol(asyncio.Protocol):
    def __init__(self, source):
        self.source = source
        self.transport = None

    def connection_made(self, transport):
        self.transport = transport

    def data_received(self, data):
        self.source._on_data(data)

    def connection_lost(self, exc):
        if self.source.transport is self.transport:
            self.source._on_lost(os_error_code(exc) if exc else errno.EPIPE)


class StreamSource(PushSource):
    """stream:PATH - a FIFO (opened O_RDWR: no writer is no EOF), a tty or a
    character device, opened O_NONBLOCK and drained by connect_read_pipe."""

    def __init__(self, cfg):
        super().__init__(cfg)
        self.path = cfg.path
        self.transport = None

    async def _open(self):
        try:
            st = os.stat(self.path)
            flags = os.O_RDWR if stat.S_ISFIFO(st.st_mode) else os.O_RDONLY
            fd = os.open(self.path,
                         flags | os.O_NONBLOCK | os.O_NOCTTY | os.O_CLOEXEC)
        except OSError as exc:
            raise SensorError(os_error_code(exc)) from None
        pipe = os.fdopen(fd, "rb", buffering=0)
        loop = asyncio.get_running_loop()
        try:
            self.transport, _ = await loop.connect_read_pipe(
                lambda: _PipeProtocol(self), pipe)
        except ValueError:  # not a pipe, socket or character device
            pipe.close()
            raise SensorError(errno.EINVAL) from None
        self.framer.reset()

    def _close_io(self):
        t, self.transport = self.transport, None
        if t is not None:
            t.close()


class _Endpoint:
    """Where a tcp:HOST:PORT or unix:PATH source connects, and its connect
    in flight.

    A connect is not cancelled with the attempt that waits for it: the
    attempt fails at its timeout (ETIMEDOUT) as any other, and the next
    attempt takes the connect over, done or not.  A connect has no late
    reply to mix up, unlike a request; cancelling it would only start it
    again, and when a thousand sensors connect at once each connect waits
    behind the others on the event loop longer than an attempt lasts, so
    connects cancelled at every timeout never end.  The kernel bounds a
    TCP connect (refused, unreachable, or its SYN retries given up)."""

    def __init__(self, cfg, limit=2 ** 16):
        self.kind = cfg.kind
        self.path = cfg.path
        self.host = cfg.host
        self.port = cfg.port
        self.limit = limit  # the streams' buffer limit, in bytes
        self.connecting = None  # the connect in flight (a task), if any

    def start(self):
        """Start a connect unless one is in flight or has connected; returns
        its task.  One that failed while no attempt waited (one that timed
        out, or the one started before the first tick) is not reported
        again: a new one starts."""
        t = self.connecting
        if t is not None and t.done() and (t.cancelled()
                                           or t.exception() is not None):
            self.connecting = None
        if self.connecting is None:
            self.connecting = asyncio.get_running_loop().create_task(
                self._connect())
        return self.connecting

    async def _connect(self):
        try:
            if self.kind == "unix":
                return await asyncio.open_unix_connection(self.path,
                                                          limit=self.limit)
            return await asyncio.open_connection(self.host, self.port,
                                                 limit=self.limit)
        except OSError as exc:
            raise SensorError(os_error_code(exc)) from None

    async def connect(self):
        """(reader, writer) of a new connection, the one in flight if any;
        SensorError if it failed."""
        task = self.start()
        try:
            streams = await asyncio.shield(task)
        except asyncio.CancelledError:
            raise  # the attempt timed out: the connect goes on
        except BaseException:
            self.connecting = None  # failed: the next attempt starts again
            raise
        self.connecting = None
        return streams

    def cancel(self):
        """Drop the connect in flight, or the connection it made."""
        t, self.connecting = self.connecting, None
        if t is None:
            return
        if not t.done():
            t.cancel()
        elif not t.cancelled() and t.exception() is None:
            t.result()[1].close()


class PushSocketSource(PushSource):
    """tcp:/unix: without request: the sensor pushes lines; a task drains
    the connection and stamps each record."""

    eof_error = errno.ECONNRESET

    def __init__(self, cfg):
        super().__init__(cfg)
        self.endpoint = _Endpoint(cfg)
        self.writer = None
        self.drain_task = None

    def prepare(self):
        return self.endpoint.start()

    async def _open(self):
        reader, writer = await self.endpoint.connect()
        self.framer.reset()
        self.writer = writer
        self.drain_task = asyncio.get_running_loop().create_task(
            self._drain(reader, writer))

    async def _drain(self, reader, writer):
        try:
            while True:
                data = await reader.read(65536)
                if not data:
                    break
                self._on_data(data)
            code = errno.ECONNRESET
        except OSError as exc:
            code = os_error_code(exc)
        if self.writer is writer:
            self._on_lost(code)

    def _close_io(self):
        w, self.writer = self.writer, None
        t, self.drain_task = self.drain_task, None
        if w is not None:
            w.close()
        if t is not None and t is not asyncio.current_task():
            t.cancel()

    def close(self):
        super().close()
        self.endpoint.cancel()


class RequestSource:
    """tcp:/unix: with request: each attempt sends the request and awaits one
    line on the sensor's connection, kept from call to call.  A request that
    timed out (or failed) closes the connection, which the next attempt opens
    again: a late reply is never taken for the answer to a later request."""

    def __init__(self, cfg):
        self.endpoint = _Endpoint(cfg, limit=RECORD_MAX + 2)
        self.request = cfg.request
        self.spec = cfg.value
        self.reader = None
        self.writer = None

    def prepare(self):
        return self.endpoint.start()

    async def read(self):
        if self.writer is None:
            self.reader, self.writer = await self.endpoint.connect()
        try:
            self.writer.write(self.request)
            await self.writer.drain()
            line = await self.reader.readline()
        except asyncio.CancelledError:
            self.close()  # timed out: never take a late reply
            raise
        except OSError as exc:
            self.close()
            raise SensorError(os_error_code(exc)) from None
        except ValueError:  # a reply line over the stream's limit
            self.close()
            raise SensorError(errno.EMSGSIZE) from None
        if not line.endswith(b"\n"):  # EOF: the connection was closed
            self.close()
            raise SensorError(errno.ECONNRESET)
        line = line[:-2] if line.endswith(b"\r\n") else line[:-1]
        return parse_record(self.spec, line)

    def close(self):
        w, self.writer, self.reader = self.writer, None, None
        if w is not None:
            w.close()
        self.endpoint.cancel()


def make_source(cfg):
    if cfg.kind == "file":
        return FileSource(cfg)
    if cfg.kind == "stream":
        return StreamSource(cfg)
    if cfg.request is not None:
        return RequestSource(cfg)
    return PushSocketSource(cfg)


# ---- Example 39.3: graceful degradation ------------------------------------


class CallResult:
    """The newest ended call of a sensor, published at most once."""

    __slots__ = ("tick", "value", "error", "attempts", "latency_us",
                 "unpublished")

    def __init__(self, tick, value, error, attempts, latency_us):
        self.tick = tick
        self.value = value
        self.error = error
        self.attempts = attempts
        self.latency_us = latency_us
        self.unpublished = True


class Sensor:
    """One configured sensor: its source, decorated read and breaker."""

    def __init__(self, cfg, rng):
        self.cfg = cfg
        self.name = cfg.name
        self.unit = cfg.unit
        self.source = make_source(cfg)
        self.breaker = AsyncCircuitBreaker(
            failure_threshold=cfg.breaker_failures,
            window=cfg.breaker_window_ns / 1e9,
            reset=cfg.breaker_reset_ns / 1e9,
            probes=cfg.breaker_probes,
            name=cfg.name)
        # The lecture's @retryWithBackoff, with this sensor's policy.
        self.read = retry_with_backoff(
            max_attempts=cfg.retry_attempts,
            base_delay=cfg.retry_base_ns / 1e9,
            max_delay=cfg.retry_max_ns / 1e9,
            jitter=cfg.retry_jitter,
            timeout=cfg.timeout_ns / 1e9,
            rng=rng)(self.source.read)
        self.call = None  # the call in flight, if any
        self.result = None  # the newest ended call
        self.rejected_tick = -1  # the tick whose call the breaker refused


async def read_sensor_with_fallback(sensor, tick):
    """One call: the breaker around the retried read.  Never raises; the
    result is kept on the sensor for the batch of its tick, or a later one."""
    start = time.monotonic()
    try:
        value, attempts = await sensor.breaker.call(sensor.read)
        error = 0
    except CircuitOpenError:
        sensor.rejected_tick = tick
        return "open"
    except SensorError as exc:
        value, error, attempts = None, exc.errno, exc.attempts
        log.debug("sensor %s unavailable: %s", sensor.name, exc)
    except Exception as exc:  # a bug in a source: a failed call, said once
        log.warning("sensor %s: %r", sensor.name, exc)
        value, error, attempts = None, errno.EIO, 1
    finally:
        sensor.call = None
    sensor.result = CallResult(tick, value, error, attempts,
                               int((time.monotonic() - start) * 1e6))
    return "ok" if error == 0 else "failed"


def batch_entry(sensor, tick):
    """A sensor's entry in the batch of tick: its own call if it ended, else
    an earlier call's result not yet published (late), else pending."""
    if sensor.rejected_tick == tick:
        return {"sensor": sensor.name, "status": "open"}
    res = sensor.result
    if res is None or not res.unpublished or res.tick > tick:
        return {"sensor": sensor.name, "status": "pending"}
    res.unpublished = False
    if res.error:
        entry = {"sensor": sensor.name, "status": "failed",
                 "error": errno_name(res.error), "attempts": res.attempts}
    else:
        entry = {"sensor": sensor.name, "status": "ok", "value": res.value,
                 "unit": sensor.unit, "attempts": res.attempts,
                 "latency_us": res.latency_us}
    if res.tick < tick:
        entry["late"] = True
    return entry


async def collect_batch(sensors, seq, tick, tick_at, deadline):
    """Start a call for every sensor without one in flight, gather them, and
    publish at tick_at + deadline at the latest, without cancelling any."""
    loop = asyncio.get_running_loop()
    calls = []
    for sensor in sensors:
        if sensor.call is None:
            sensor.call = loop.create_task(
                read_sensor_with_fallback(sensor, tick))
            calls.append(sensor.call)
    if calls:
        gathered = asyncio.gather(*calls, return_exceptions=True)
        left = tick_at + deadline - time.monotonic()
        if left > 0:
            await asyncio.wait((gathered,), timeout=left)
    published = time.monotonic()
    entries = [batch_entry(sensor, tick) for sensor in sensors]
    readings = [e for e in entries if e["status"] == "ok"]
    missing = [e for e in entries if e["status"] != "ok"]
    return {"seq": seq, "tick": tick_at, "published": published,
            "degraded": bool(missing), "available": len(readings),
            "total": len(sensors), "readings": readings, "missing": missing}


# ---- the engine loop -------------------------------------------------------


def cpu_us():
    """User + system time of the process so far, every thread, in us."""
    ru = resource.getrusage(resource.RUSAGE_SELF)
    return int(round(ru.ru_utime * 1e6)) + int(round(ru.ru_stime * 1e6))


def percentile(sorted_values, p):
    """Nearest-rank percentile of an ascending list (0 when empty)."""
    if not sorted_values:
        return 0
    rank = max(1, math.ceil(p / 100.0 * len(sorted_values)))
    return sorted_values[min(rank, len(sorted_values)) - 1]


class Peer:
    def __init__(self, config, duration=None, seed=None, trace=None):
        self.config = config
        self.trace = trace  # a text file: every batch as a JSON line
        self.duration = duration
        self.period = config.period_ns / 1e9
        self.deadline = config.deadline_ns / 1e9
        base = random.Random(seed) if seed is not None else random.SystemRandom()
        self.sensors = [
            Sensor(s, random.Random("%d/%s" % (base.getrandbits(64), s.name)))
            for s in config.sensors]
        self.batches = collections.deque(maxlen=config.ring)  # "the ring"
        self.nbatches = 0
        self.readings = 0
        self.degraded = 0
        self.missed_ticks = 0
        self.lateness_us = []
        # CPU per reading is a steady-state figure, startup (the imports,
        # opening every source) left out: from the end of batch `warmup`,
        # max(2, ticks / 5) as ringside-bench counts it for every system,
        # to the end of the last batch (docs/bench.md).
        ticks = int(duration * 1e9) // config.period_ns if duration else 0
        self.warmup = max(2, ticks // 5)
        self.warm_cpu_us = 0
        self.warm_readings = 0
        self.last_cpu_us = 0
        self.stopping = False
        self._wake = None

    def stop(self):
        self.stopping = True
        if self._wake is not None and not self._wake.done():
            self._wake.set_result(None)

    async def _sleep_until(self, when):
        loop = asyncio.get_running_loop()
        self._wake = loop.create_future()
        handle = loop.call_later(max(0.0, when - time.monotonic()),
                                 self._wake.set_result, None)
        try:
            await self._wake
        finally:
            handle.cancel()
            self._wake = None

    def _publish(self, batch):
        if self.trace is not None:
            self.trace.write(json.dumps(batch, separators=(",", ":")) + "\n")
        self.batches.append(batch)
        self.nbatches += 1
        self.readings += batch["available"]
        if batch["degraded"]:
            self.degraded += 1
        self.lateness_us.append(
            int(round((batch["published"] - batch["tick"]) * 1e6)))
        # After every batch past the warm-up, not once at the end: the
        # shutdown's work has no readings to share it with.
        if self.nbatches == self.warmup:
            self.warm_cpu_us = cpu_us()
            self.warm_readings = self.readings
        elif self.nbatches > self.warmup:
            self.last_cpu_us = cpu_us()

    async def prepare(self):
        """Open the sockets before the first tick, as the engine does (its
        prepare_sources()), all at once, and wait for them: a thousand
        connects keep the event loop busy for longer than an attempt's
        timeout (150 ms or more for 1000 TCP connects on loopback), so
        inside the first tick's attempts they would all time out.  Ticks
        start once every connect has ended, or after PREPARE_MAX; a failed
        connect is tried again by the first attempt, one still in flight is
        taken over by it."""
        tasks = [t for t in (s.source.prepare() for s in self.sensors)
                 if t is not None]
        if not tasks:
            return
        self._wake = asyncio.get_running_loop().create_future()  # stop()
        try:
            await asyncio.wait(
                (asyncio.gather(*tasks, return_exceptions=True), self._wake),
                timeout=PREPARE_MAX, return_when=asyncio.FIRST_COMPLETED)
        finally:
            self._wake = None

    async def run(self):
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(sig, self.stop)
        period, deadline = self.period, self.deadline
        if self.duration is None:
            end_tick = math.inf
        else:  # ticks at start + n * period < start + duration
            end_tick = max(1, math.ceil(self.duration / period - 1e-9))
        n = 0
        try:
            await self.prepare()
            start = time.monotonic()  # tick 0
            while n < end_tick and not self.stopping:
                tick_at = start + n * period
                now = time.monotonic()
                if now < tick_at:
                    await self._sleep_until(tick_at)
                    if self.stopping:
                        break
                    now = time.monotonic()
                # Ticks that cannot be published by their deadline are
                # skipped, never published late, and counted.
                k = max(n, int((now - start) // period))
                if now > start + k * period + deadline:
                    k += 1
                if k > n:
                    self.missed_ticks += min(k, end_tick) - n
                    n = k
                    continue
                batch = await collect_batch(self.sensors, self.nbatches + 1,
                                            n, tick_at, deadline)
                self._publish(batch)
                n += 1
        finally:
            await self.shutdown()

    async def shutdown(self):
        calls = [s.call for s in self.sensors if s.call is not None]
        for c in calls:
            c.cancel()
        if calls:
            await asyncio.gather(*calls, return_exceptions=True)
        for s in self.sensors:
            s.source.close()
        await asyncio.sleep(0)  # let the transports finish closing

    def summary(self):
        lat = sorted(self.lateness_us)
        out = {"system": SYSTEM, "sensors": len(self.sensors),
               "batches": self.nbatches, "readings": self.readings,
               "degraded": self.degraded, "missed_ticks": self.missed_ticks}
        # No steady state without a batch after the warm-up: left out.
        if self.nbatches > self.warmup:
            out["steady_cpu_us"] = self.last_cpu_us - self.warm_cpu_us
            out["steady_readings"] = self.readings - self.warm_readings
        out["lateness_us"] = {"p50": percentile(lat, 50),
                              "p99": percentile(lat, 99),
                              "max": lat[-1] if lat else 0}
        return out


# ---- configuration (SPEC.md "Configuration") -------------------------------

NS_PER_US = 1000
NS_PER_MS = 1000 * NS_PER_US
NS_PER_S = 1000 * NS_PER_MS
NS_PER_MIN = 60 * NS_PER_S
NS_PER_HOUR = 60 * NS_PER_MIN
_UNITS = {"": NS_PER_MS, "us": NS_PER_US, "ms": NS_PER_MS, "s": NS_PER_S,
          "m": NS_PER_MIN, "h": NS_PER_HOUR}
_DURATION = re.compile(r"([0-9]*)(?:\.([0-9]*))?([a-z]*)\Z")
_DECIMAL_TEXT = re.compile(r"[+-]?(?:[0-9]+(?:\.[0-9]*)?|\.[0-9]+)(?:[eE][+-]?[0-9]+)?\Z")
_ENGINE_NAME = re.compile(r"[A-Za-z0-9_-]{1,32}\Z")
_SENSOR_NAME = re.compile(r"[A-Za-z0-9_.-]{1,32}\Z")
_SENSOR_SECTION = re.compile(r"sensor(?:[ \t]+(.*))?\Z", re.S)


def parse_duration(text):
    """A duration in nanoseconds: a number with us, ms, s, m or h, a bare
    number being milliseconds; fractional digits below 1 ns fall off."""
    m = _DURATION.match(text)
    if m is None or not (m.group(1) or m.group(2)) or m.group(3) not in _UNITS:
        raise ValueError("not a duration")
    unit = _UNITS[m.group(3)]
    ns = int(m.group(1) or 0) * unit
    div = unit // 10
    for d in m.group(2) or "":
        if not div:
            break
        ns += int(d) * div
        div //= 10
    return ns


class SensorConfig:
    def __init__(self, name):
        self.name = name
        self.kind = None
        self.path = None
        self.host = None
        self.port = None
        self.request = None
        self.value = ValueSpec()
        self.unit = ""
        self.serial = None  # accepted; the peer leaves a tty as it is
        self.max_age_ns = None
        self.timeout_ns = 50 * NS_PER_MS
        self.retry_attempts = 4
        self.retry_base_ns = 100 * NS_PER_MS
        self.retry_max_ns = 2 * NS_PER_S
        self.retry_jitter = "full"
        self.breaker_failures = 3
        self.breaker_window_ns = 5 * NS_PER_S
        self.breaker_reset_ns = 5 * NS_PER_S
        self.breaker_probes = 1


class Config:
    def __init__(self):
        self.name = None
        self.period_ns = 100 * NS_PER_MS
        self.deadline_ns = None
        self.ring = 1024
        self.shm_mode = 0o640
        self.sensors = []


def _unescape_request(text):
    """C escapes of request = TEXT, decoded to bytes."""
    simple = {"n": 10, "r": 13, "t": 9, "\\": 92, "'": 39, '"': 34, "?": 63,
              "a": 7, "b": 8, "f": 12, "v": 11, "e": 27}
    raw = text.encode("utf-8", "surrogateescape")
    out = bytearray()
    i = 0
    while i < len(raw):
        c = raw[i]
        i += 1
        if c != 0x5C:
            out.append(c)
            continue
        if i >= len(raw):
            raise ValueError("a lone '\\' at the end")
        e = chr(raw[i])
        i += 1
        if e in simple:
            out.append(simple[e])
        elif e == "x":
            j = i
            while j < len(raw) and j - i < 2 and chr(raw[j]) in "0123456789abcdefABCDEF":
                j += 1
            if j == i:
                raise ValueError("\\x without hex digits")
            out.append(int(raw[i:j], 16))
            i = j
        elif e in "01234567":
            j = i - 1
            while j < len(raw) and j - (i - 1) < 3 and chr(raw[j]) in "01234567":
                j += 1
            v = int(raw[i - 1:j], 8)
            if v > 0o377:
                raise ValueError("octal escape above \\377")
            out.append(v)
            i = j
        else:
            raise ValueError("unknown escape '\\%s'" % e)
    if not out:
        raise ValueError("empty")
    if len(out) > 256:
        raise ValueError("longer than 256 bytes")
    return bytes(out)


def _parse_source(s, val):
    kind, sep, rest = val.partition(":")
    if not sep:
        raise ValueError("'%s' is not KIND:ADDRESS (file, stream, tcp, unix "
                         "or udp)" % val)
    if kind not in ("file", "stream", "tcp", "unix", "udp"):
        raise ValueError("unknown kind '%s' (file, stream, tcp, unix or udp)"
                         % kind)
    if kind == "udp":
        raise ValueError("udp: sources are not supported by the asyncio peer")
    s.kind = kind
    if kind in ("file", "stream", "unix"):
        if not rest:
            raise ValueError("missing path after '%s:'" % kind)
        if len(rest) > 256:
            raise ValueError("path longer than 256 bytes")
        s.path = rest
        return
    host, sep, port = rest.rpartition(":")
    if not sep or not host:
        raise ValueError("expected tcp:HOST:PORT, HOST a name, an IPv4 "
                         "address or [IPv6]")
    if host.startswith("[") and host.endswith("]"):
        host = host[1:-1]
    elif ":" in host:
        raise ValueError("an IPv6 address goes in brackets, as in "
                         "tcp:[::1]:PORT")
    if not port.isdigit() or not 1 <= int(port) <= 65535:
        raise ValueError("'%s' is not a port (1 to 65535)" % port)
    s.host, s.port = host, int(port)


def _duration_key(lo, hi, rng):
    def parse(val):
        try:
            ns = parse_duration(val)
        except ValueError:
            raise ValueError("'%s' is not a duration (a number with us, ms, "
                             "s, m or h)" % val) from None
        if not lo <= ns <= hi:
            raise ValueError("'%s' is out of range (%s)" % (val, rng))
        return ns
    return parse


def _uint_key(lo, hi):
    def parse(val):
        if not val or not all("0" <= c <= "9" for c in val):
            raise ValueError("'%s' is not a whole number (%d to %d)"
                             % (val, lo, hi))
        v = int(val)
        if not lo <= v <= hi:
            raise ValueError("'%s' is out of range (%d to %d)" % (val, lo, hi))
        return v
    return parse


def _double_key(val):
    if _DECIMAL_TEXT.match(val) is None or not math.isfinite(float(val)):
        raise ValueError("'%s' is not a finite decimal number" % val)
    return float(val)


def _unit_key(val):
    if len(val.encode("utf-8", "surrogateescape")) > 23:
        raise ValueError("'%s' is longer than 23 bytes" % val)
    if any(ord(c) < 0x20 or ord(c) == 0x7F for c in val):
        raise ValueError("control characters are not allowed")
    return val


def _jitter_key(val):
    if val not in JITTERS:
        raise ValueError("'%s' is not one of none, full, equal, decorrelated"
                         % val)
    return val


def _serial_key(val):
    if re.fullmatch(r"[0-9]+[ \t]+[5-8][NEO][12]", val) is None:
        raise ValueError("'%s' is not SPEED BITS-PARITY-STOP, such as "
                         "'9600 8N1'" % val)
    return val


def _pow2_key(val):
    if not val.isdigit() or not 2 <= int(val) <= 65536 or int(val) & (int(val) - 1):
        raise ValueError("'%s' is not a power of two from 2 to 65536" % val)
    return int(val)


def _mode_key(val):
    if not val or any(c not in "01234567" for c in val) or int(val, 8) > 0o777:
        raise ValueError("'%s' is not an octal mode (0 to 0777)" % val)
    return int(val, 8)


def _name_key(val):
    if _ENGINE_NAME.match(val) is None:
        raise ValueError("'%s' is not a valid engine name ([A-Za-z0-9_-], 1 "
                         "to 32 characters)" % val)
    return val


ENGINE_KEYS = {
    "name": _name_key,
    "period": _duration_key(NS_PER_MS, NS_PER_HOUR, "1ms to 1h"),
    "deadline": _duration_key(NS_PER_MS, NS_PER_HOUR, "1ms to the period"),
    "ring": _pow2_key,
    "shm_mode": _mode_key,
}

_US_TO_1H = _duration_key(NS_PER_US, NS_PER_HOUR, "1us to 1h")
_US_TO_24H = _duration_key(NS_PER_US, 24 * NS_PER_HOUR, "1us to 24h")

# key: (parser, attribute, source kinds it applies to (None: all))
SENSOR_KEYS = {
    "source": (None, None, None),
    "request": (_unescape_request, "request", ("tcp", "unix")),
    "line": (_uint_key(0, 65535), "value.line", ("file",)),
    "field": (_uint_key(0, 65535), "value.field", None),
    "offset": (_double_key, "value.offset", None),
    "scale": (_double_key, "value.scale", None),
    "min": (_double_key, "value.min", None),
    "max": (_double_key, "value.max", None),
    "unit": (_unit_key, "unit", None),
    "serial": (_serial_key, "serial", ("stream",)),
    "max_age": (_US_TO_1H, "max_age_ns", None),
    "timeout": (_US_TO_1H, "timeout_ns", None),
    "retry_attempts": (_uint_key(1, 100), "retry_attempts", None),
    "retry_base": (_US_TO_1H, "retry_base_ns", None),
    "retry_max": (_US_TO_1H, "retry_max_ns", None),
    "retry_jitter": (_jitter_key, "retry_jitter", None),
    "breaker_failures": (_uint_key(1, 1000), "breaker_failures", None),
    "breaker_window": (_US_TO_24H, "breaker_window_ns", None),
    "breaker_reset": (_US_TO_24H, "breaker_reset_ns", None),
    "breaker_probes": (_uint_key(1, 100), "breaker_probes", None),
}


def _set_attr(obj, dotted, value):
    parts = dotted.split(".")
    for p in parts[:-1]:
        obj = getattr(obj, p)
    setattr(obj, parts[-1], value)


def _key_lines(text):
    """(section, key) -> line number of its first occurrence, for messages."""
    lines = {}
    section = None
    for no, raw in enumerate(text.splitlines(), 1):
        s = raw.strip()
        if not s or s[0] in ";#":
            continue
        if s.startswith("["):
            section = s[1:s.find("]")].strip() if "]" in s else None
            lines.setdefault((section, None), no)
            continue
        key = re.split(r"[=:]", s, 1)[0].strip()
        lines.setdefault((section, key), no)
    return lines


def load_config(path):
    """Parse and check a ringsided configuration; ConfigError on a problem."""
    try:
        with open(path, encoding="utf-8", errors="surrogateescape") as f:
            text = f.read()
    except OSError as exc:
        raise ConfigError("%s: %s" % (path, exc.strerror)) from None
    if text.startswith("\ufeff"):
        text = text[1:]
    # configparser takes an inline comment only after whitespace, so the
    # prefix ';' gives SPEC.md's " ;" (a prefix of ' ;' would miss
    # "key = value ; comment" with a single blank).
    parser = configparser.ConfigParser(
        inline_comment_prefixes=(";",), comment_prefixes=(";", "#"),
        interpolation=None, strict=True, empty_lines_in_values=False,
        default_section="\0ringside-no-default")
    parser.optionxform = str  # keys are case-sensitive
    try:
        parser.read_string(text, source=path)
    except configparser.Error as exc:
        msg = " ".join(str(exc).split())
        lineno = getattr(exc, "lineno", None)
        raise ConfigError("%s:%s: %s" % (path, lineno, msg) if lineno
                          else "%s: %s" % (path, msg)) from None

    where = _key_lines(text)
    errors = []

    def err(section, key, msg):
        errors.append((where.get((section, key), where.get((section, None), 1)),
                       msg))

    cfg = Config()
    defaults = {}  # key -> (value, raw)
    sensors = []  # (SensorConfig, section, {key: value})
    names = set()
    engine_seen = False
    for header in parser.sections():
        items = parser.items(header, raw=True)
        section = header.strip()
        if section == "engine":
            engine_seen = True
            for key, val in items:
                if key not in ENGINE_KEYS:
                    err(section, key, "unknown key '%s' in [engine]" % key)
                    continue
                try:
                    attr = key + "_ns" if key in ("period", "deadline") else key
                    setattr(cfg, attr, ENGINE_KEYS[key](val))
                except ValueError as exc:
                    err(section, key, "%s: %s" % (key, exc))
            if cfg.name is None:
                err(section, None, "[engine] needs a name (name = ...)")
            continue
        if section == "defaults":
            for key, val in items:
                if key not in SENSOR_KEYS:
                    err(section, key, "unknown key '%s' in [defaults]" % key)
                elif key == "source":
                    err(section, key, "source cannot be set in [defaults]")
                else:
                    try:
                        defaults[key] = SENSOR_KEYS[key][0](val)
                    except ValueError as exc:
                        err(section, key, "%s: %s" % (key, exc))
            continue
        m = _SENSOR_SECTION.match(section)
        if m is None:
            err(section, None, "unknown section [%s] (engine, defaults or "
                "sensor NAME)" % section)
            continue
        name = (m.group(1) or "").strip()
        if not name:
            err(section, None, "[sensor] needs a name, as in [sensor s0]")
            continue
        if _SENSOR_NAME.match(name) is None:
            err(section, None, "'%s' is not a valid sensor name "
                "([A-Za-z0-9_.-], 1 to 32 characters)" % name)
            continue
        if name in names:
            err(section, None, "duplicate sensor '%s'" % name)
            continue
        names.add(name)
        s = SensorConfig(name)
        own = {}
        for key, val in items:
            if key not in SENSOR_KEYS:
                err(section, key, "unknown key '%s' in [sensor %s]"
                    % (key, name))
                continue
            try:
                if key == "source":
                    _parse_source(s, val)
                else:
                    own[key] = SENSOR_KEYS[key][0](val)
            except ValueError as exc:
                err(section, key, "%s: %s" % (key, exc))
        sensors.append((s, section, own))

    if not engine_seen:
        errors.append((1, "missing [engine] section"))
    if cfg.deadline_ns is None:
        cfg.deadline_ns = cfg.period_ns
    elif cfg.deadline_ns > cfg.period_ns:
        err("engine", "deadline", "deadline: longer than the period")
    if not sensors and not any("sensor" in m for _, m in errors):
        errors.append((1, "no sensor: add a [sensor NAME] section"))

    for s, section, own in sensors:
        if s.kind is None:
            if "source" not in own:
                err(section, None, "sensor '%s' has no source" % s.name)
            continue
        for key, value in own.items():
            kinds = SENSOR_KEYS[key][2]
            if kinds is not None and s.kind not in kinds:
                err(section, key, "%s: only for %s sources"
                    % (key, " and ".join(k + ":" for k in kinds)))
                continue
            _set_attr(s, SENSOR_KEYS[key][1], value)
        for key, value in defaults.items():
            kinds = SENSOR_KEYS[key][2]
            if key not in own and (kinds is None or s.kind in kinds):
                _set_attr(s, SENSOR_KEYS[key][1], value)
        if s.max_age_ns is None:
            s.max_age_ns = cfg.period_ns
        if s.value.min > s.value.max:
            err(section, "max", "min (%g) is greater than max (%g)"
                % (s.value.min, s.value.max))
        if s.retry_max_ns < s.retry_base_ns:
            err(section, "retry_max", "retry_max is shorter than retry_base")
        cfg.sensors.append(s)

    if errors:
        errors.sort(key=lambda e: e[0])
        raise ConfigError("\n".join("%s:%d: %s" % (path, line, msg)
                                    for line, msg in errors))
    return cfg


# ---- main ------------------------------------------------------------------


def main(argv=None):
    ap = argparse.ArgumentParser(
        prog="asyncio_peer.py",
        description="ringside's asyncio benchmark peer: the lecture's retry "
                    "decorator, AsyncCircuitBreaker and asyncio.gather batch "
                    "collection, run on a ringsided configuration.  Prints "
                    "one JSON line of figures at the end (docs/bench.md).")
    ap.add_argument("-c", "--config", metavar="FILE", required=True,
                    help="ringsided configuration (INI)")
    ap.add_argument("--duration", metavar="SECONDS", type=float,
                    help="stop after that many seconds (default: at SIGTERM "
                         "or SIGINT)")
    ap.add_argument("--seed", metavar="N", type=int,
                    help="seed of the jitter draws, for repeatable runs")
    ap.add_argument("--trace", action="store_true",
                    help="also print every batch as a JSON line on stderr")
    ap.add_argument("--log-level", choices=("debug", "info", "warn"),
                    default="warn", help="stderr log level [warn]")
    args = ap.parse_args(argv)
    if args.duration is not None and not (0 < args.duration < 1e9):
        ap.error("--duration: must be a positive number of seconds")
    logging.basicConfig(
        stream=sys.stderr, format="asyncio_peer: %(message)s",
        level={"debug": logging.DEBUG, "info": logging.INFO,
               "warn": logging.WARNING}[args.log_level])
    try:
        config = load_config(args.config)
    except ConfigError as exc:
        print(exc, file=sys.stderr)
        return 2
    peer = Peer(config, duration=args.duration, seed=args.seed,
                trace=sys.stderr if args.trace else None)
    # The configuration and sensors live as long as the process: keep the
    # cyclic collector from walking them again and again (it otherwise
    # doubles the cost per reading at 10000 sensors).
    gc.collect()
    gc.freeze()
    try:
        asyncio.run(peer.run())
    except Exception as exc:  # a runtime failure
        print("asyncio_peer: %s" % exc, file=sys.stderr)
        return 1
    sys.stdout.write(json.dumps(peer.summary(), separators=(",", ":")) + "\n")
    sys.stdout.flush()
    return 0


if __name__ == "__main__":
    sys.exit(main())
