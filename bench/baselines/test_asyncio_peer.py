#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""Unit tests of asyncio_peer.py (standard library only).

    python3 -m unittest bench/baselines/test_asyncio_peer.py
"""

import asyncio
import errno
import json
import math
import os
import random
import socket
import subprocess
import sys
import tempfile
import time
import unittest

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)

import asyncio_peer as peer  # noqa: E402

PEER = os.path.join(HERE, "asyncio_peer.py")


def run(coro):
    return asyncio.run(coro)


def tmpdir():
    base = "/dev/shm" if os.path.isdir("/dev/shm") else None
    return tempfile.TemporaryDirectory(prefix="asyncio_peer_test.", dir=base)


class FakeClock:
    def __init__(self, t=1000.0):
        self.t = t

    def __call__(self):
        return self.t


class FlakySensor:
    """The lecture's FlakySensor, made deterministic: fails `failures`
    times, then reads `value`."""

    def __init__(self, failures, value=23.5, code=errno.EIO):
        self.failures = failures
        self.value = value
        self.code = code
        self.calls = 0

    async def read(self):
        """Read the sensor."""
        self.calls += 1
        if self.calls <= self.failures:
            raise peer.SensorError(self.code)
        return self.value


class RecordingSleep:
    def __init__(self):
        self.waits = []

    async def __call__(self, seconds):
        self.waits.append(seconds)


# ---- Example 39.1 ----------------------------------------------------------


class TestBackoff(unittest.TestCase):
    def test_none_doubles_up_to_the_cap(self):
        rng = random.Random(1)
        waits = [peer.backoff_delay(n, 0, 0.1, 1.0, "none", rng)
                 for n in range(1, 8)]
        for got, want in zip(waits, [0.1, 0.2, 0.4, 0.8, 1.0, 1.0, 1.0]):
            self.assertAlmostEqual(got, want)
        self.assertEqual(peer.backoff_delay(500, 0, 0.1, 1.0, "none", rng), 1.0)

    def test_full_is_within_zero_and_cap(self):
        rng = random.Random(2)
        for n in range(1, 10):
            cap = min(2.0, 0.1 * 2 ** (n - 1))
            for _ in range(200):
                w = peer.backoff_delay(n, 0, 0.1, 2.0, "full", rng)
                self.assertTrue(0 <= w <= cap, (n, w))

    def test_equal_is_within_half_cap_and_cap(self):
        rng = random.Random(3)
        for n in range(1, 10):
            cap = min(2.0, 0.1 * 2 ** (n - 1))
            for _ in range(200):
                w = peer.backoff_delay(n, 0, 0.1, 2.0, "equal", rng)
                self.assertTrue(cap / 2 <= w <= cap, (n, w))

    def test_decorrelated(self):
        rng = random.Random(4)
        prev = 0.0
        for n in range(1, 30):
            w = peer.backoff_delay(n, prev, 0.1, 2.0, "decorrelated", rng)
            hi = 3 * (prev if n > 1 and prev >= 0.1 else 0.1)
            self.assertTrue(0.1 <= w <= min(2.0, hi), (n, prev, w))
            prev = w
        # The first retry draws from [base, 3 base], whatever prev says.
        for _ in range(100):
            w = peer.backoff_delay(1, 5.0, 0.1, 2.0, "decorrelated", rng)
            self.assertTrue(0.1 <= w <= 0.3)

    def test_jitter_spreads(self):
        rng = random.Random(5)
        for kind in ("full", "equal", "decorrelated"):
            draws = {peer.backoff_delay(3, 0.2, 0.1, 2.0, kind, rng)
                     for _ in range(50)}
            self.assertGreater(len(draws), 40, kind)


class TestRetryDecorator(unittest.TestCase):
    def decorate(self, sensor, sleep, **kw):
        args = dict(max_attempts=4, base_delay=0.1, max_delay=2.0,
                    jitter="none", timeout=0.5, rng=random.Random(0),
                    sleep=sleep)
        args.update(kw)
        return peer.retry_with_backoff(**args)(sensor.read)

    def test_wraps_keeps_identity(self):
        read = self.decorate(FlakySensor(0), RecordingSleep())
        self.assertEqual(read.__name__, "read")
        self.assertEqual(read.__doc__, "Read the sensor.")
        self.assertTrue(hasattr(read, "__wrapped__"))

    def test_first_attempt_succeeds(self):
        sensor, sleep = FlakySensor(0), RecordingSleep()
        self.assertEqual(run(self.decorate(sensor, sleep)()), (23.5, 1))
        self.assertEqual(sensor.calls, 1)
        self.assertEqual(sleep.waits, [])

    def test_success_after_retries(self):
        sensor, sleep = FlakySensor(2), RecordingSleep()
        self.assertEqual(run(self.decorate(sensor, sleep)()), (23.5, 3))
        self.assertEqual(sensor.calls, 3)
        self.assertEqual(len(sleep.waits), 2)
        self.assertAlmostEqual(sleep.waits[0], 0.1)
        self.assertAlmostEqual(sleep.waits[1], 0.2)

    def test_all_attempts_fail(self):
        sensor, sleep = FlakySensor(10, code=errno.ECONNREFUSED), RecordingSleep()
        with self.assertRaises(peer.SensorError) as cm:
            run(self.decorate(sensor, sleep)())
        self.assertEqual(cm.exception.errno, errno.ECONNREFUSED)
        self.assertEqual(cm.exception.attempts, 4)
        self.assertEqual(sensor.calls, 4)
        self.assertEqual(len(sleep.waits), 3)

    def test_one_attempt_turns_retry_off(self):
        sensor, sleep = FlakySensor(1), RecordingSleep()
        with self.assertRaises(peer.SensorError) as cm:
            run(self.decorate(sensor, sleep, max_attempts=1)())
        self.assertEqual(cm.exception.attempts, 1)
        self.assertEqual(sleep.waits, [])

    def test_waits_within_caps(self):
        for kind in peer.JITTERS:
            sensor, sleep = FlakySensor(100), RecordingSleep()
            read = self.decorate(sensor, sleep, max_attempts=8, max_delay=1.0,
                                 jitter=kind, rng=random.Random(7))
            with self.assertRaises(peer.SensorError):
                run(read())
            self.assertEqual(len(sleep.waits), 7)
            for n, w in enumerate(sleep.waits, 1):
                cap = min(1.0, 0.1 * 2 ** (n - 1))
                if kind == "decorrelated":
                    self.assertTrue(0.1 <= w <= 1.0, (kind, n, w))
                else:
                    self.assertTrue(0 <= w <= cap, (kind, n, w))
                if kind == "none":
                    self.assertAlmostEqual(w, cap)

    def test_real_sleep_waits(self):
        sensor = FlakySensor(2)
        read = peer.retry_with_backoff(max_attempts=3, base_delay=0.02,
                                       max_delay=1.0, jitter="none",
                                       timeout=0.5)(sensor.read)
        t0 = time.monotonic()
        self.assertEqual(run(read()), (23.5, 3))
        self.assertGreaterEqual(time.monotonic() - t0, 0.059)

    def test_timeout_per_attempt(self):
        calls = []

        async def hang():
            calls.append(time.monotonic())
            await asyncio.sleep(10)

        read = peer.retry_with_backoff(max_attempts=2, base_delay=0.01,
                                       max_delay=0.01, jitter="none",
                                       timeout=0.05)(hang)
        t0 = time.monotonic()
        with self.assertRaises(peer.SensorError) as cm:
            run(read())
        elapsed = time.monotonic() - t0
        self.assertEqual(cm.exception.errno, errno.ETIMEDOUT)
        self.assertEqual(cm.exception.attempts, 2)
        self.assertEqual(len(calls), 2)
        self.assertTrue(0.1 <= elapsed < 0.5, elapsed)

    @unittest.skipUnless(hasattr(asyncio, "timeout"), "Python < 3.11")
    def test_an_attempt_runs_in_the_callers_task(self):
        """wait_for as Python 3.12 has it: no Task per attempt, so its
        first step (the request) is not left to the next pass of the event
        loop while its timeout runs."""

        async def scenario():
            async def attempt():
                return asyncio.current_task()

            self.assertIs(await peer.wait_for(attempt(), 1.0),
                          asyncio.current_task())
            with self.assertRaises(asyncio.TimeoutError):
                await peer.wait_for(asyncio.sleep(1.0), 0.01)

        run(scenario())

    def test_other_exceptions_are_not_retried(self):
        calls = []

        async def broken():
            calls.append(1)
            raise KeyError("bug")

        read = peer.retry_with_backoff(sleep=RecordingSleep())(broken)
        with self.assertRaises(KeyError):
            run(read())
        self.assertEqual(len(calls), 1)


# ---- Example 39.2 ----------------------------------------------------------


class TestBreaker(unittest.TestCase):
    def setUp(self):
        self.clock = FakeClock()
        self.breaker = peer.AsyncCircuitBreaker(
            failure_threshold=3, window=5.0, reset=5.0, probes=1,
            clock=self.clock)

    def call(self, sensor):
        return run(self.breaker.call(sensor.read))

    def fail(self):
        with self.assertRaises(peer.SensorError):
            self.call(FlakySensor(1))

    def test_lecture_sequence(self):
        b = self.breaker
        # 3 failures within 5 s open it.
        for _ in range(3):
            self.assertEqual(b.state, "closed")
            self.fail()
            self.clock.t += 1.0
        self.assertEqual(b.state, "open")
        # While open: CircuitOpenError, and the call is never made.
        sensor = FlakySensor(0)
        for _ in range(3):
            with self.assertRaises(peer.CircuitOpenError):
                self.call(sensor)
            self.clock.t += 0.5
        self.assertEqual(sensor.calls, 0)
        self.assertEqual(b.fast_fails, 3)
        # After the reset: half-open, one probe; its success closes.
        self.clock.t = 1002.0 + 5.0
        self.assertEqual(self.call(sensor), 23.5)
        self.assertEqual(sensor.calls, 1)
        self.assertEqual(b.state, "closed")

    def test_probe_failure_reopens_and_restarts_reset(self):
        b = self.breaker
        for _ in range(3):
            self.fail()
        self.assertEqual(b.state, "open")
        self.clock.t += 5.0
        self.fail()  # the probe
        self.assertEqual(b.state, "open")
        self.assertEqual(b.opens, 2)
        self.clock.t += 4.9
        with self.assertRaises(peer.CircuitOpenError):
            self.call(FlakySensor(0))
        self.clock.t += 0.1
        self.assertEqual(self.call(FlakySensor(0)), 23.5)
        self.assertEqual(b.state, "closed")

    def test_failures_outside_the_window_do_not_open(self):
        for _ in range(6):
            self.fail()
            self.clock.t += 2.5
        self.assertEqual(self.breaker.state, "closed")

    def test_success_does_not_clear_history(self):
        self.fail()
        self.fail()
        self.call(FlakySensor(0))
        self.fail()
        self.assertEqual(self.breaker.state, "open")

    def test_half_open_admits_probes_only(self):
        b = peer.AsyncCircuitBreaker(failure_threshold=1, window=1.0,
                                     reset=1.0, probes=2, clock=self.clock)
        with self.assertRaises(peer.SensorError):
            run(b.call(FlakySensor(1).read))
        self.assertEqual(b.state, "open")
        self.clock.t += 1.0
        t1 = b.admit()
        self.assertEqual(b.state, "half_open")
        t2 = b.admit()
        with self.assertRaises(peer.CircuitOpenError):
            b.admit()  # a third call while two probes are out
        b.record(t1, True)
        self.assertEqual(b.state, "half_open")
        b.record(t2, True)
        self.assertEqual(b.state, "closed")

    def test_stale_result_is_ignored(self):
        b = peer.AsyncCircuitBreaker(failure_threshold=1, window=1.0,
                                     reset=1.0, probes=1, clock=self.clock)
        old = b.admit()
        with self.assertRaises(peer.SensorError):
            run(b.call(FlakySensor(1).read))
        self.assertEqual(b.state, "open")
        b.record(old, False)  # from the closed generation: ignored
        self.assertEqual(b.opens, 1)


# ---- values ----------------------------------------------------------------


class TestValues(unittest.TestCase):
    def parse(self, rec, **kw):
        return peer.parse_record(peer.ValueSpec(**kw), rec)

    def code(self, fn, *args, **kw):
        with self.assertRaises(peer.SensorError) as cm:
            fn(*args, **kw)
        return cm.exception.errno

    def test_numbers(self):
        self.assertEqual(self.parse(b"23.5"), 23.5)
        self.assertEqual(self.parse(b"-1e3"), -1000.0)
        self.assertEqual(self.parse(b"+.5"), 0.5)
        self.assertEqual(self.parse(b"7E-2"), 0.07)
        self.assertEqual(self.parse(b"  42 \t"), 42.0)

    def test_fields_offset_scale(self):
        self.assertEqual(self.parse(b"T 21500 ok", field=1, offset=500,
                                    scale=0.001), 22.0)
        self.assertEqual(self.code(self.parse, b"a b", field=2), errno.EBADMSG)

    def test_not_numbers(self):
        for rec in (b"", b"nan", b"NaN", b"inf", b"-infinity", b"0x1A",
                    b"1_0", b"abc", b"1.2.3", b"1e", b"1e999", b"\xff"):
            self.assertEqual(self.code(self.parse, rec), errno.EBADMSG, rec)
        self.assertEqual(self.code(self.parse, b"1e300", scale=1e300),
                         errno.EBADMSG)

    def test_range(self):
        self.assertEqual(self.code(self.parse, b"101", max=100), errno.ERANGE)
        self.assertEqual(self.code(self.parse, b"-1", min=0), errno.ERANGE)
        self.assertEqual(self.parse(b"100", min=0, max=100), 100.0)

    def test_size(self):
        self.assertEqual(self.parse(b" " * 4092 + b"1.5"), 1.5)
        self.assertEqual(self.code(self.parse, b" " * 4094 + b"1.5"),
                         errno.EMSGSIZE)

    def test_lines_of_a_file(self):
        spec = peer.ValueSpec(line=1, field=1)
        self.assertEqual(peer.parse_lines(spec, b"a 1\nb 2\nc 3\n"), 2.0)
        self.assertEqual(peer.parse_lines(peer.ValueSpec(), b"23.5\n"), 23.5)
        # A final line without a newline counts; the tail after one not.
        self.assertEqual(peer.parse_lines(peer.ValueSpec(line=1), b"1\n2"),
                         2.0)
        self.assertEqual(self.code(peer.parse_lines, peer.ValueSpec(line=2),
                                   b"1\n2"), errno.EBADMSG)
        self.assertEqual(self.code(peer.parse_lines, peer.ValueSpec(line=1),
                                   b"1\n"), errno.EBADMSG)
        self.assertEqual(self.code(peer.parse_lines, peer.ValueSpec(), b""),
                         errno.EBADMSG)

    def test_framer(self):
        fr = peer.LineFramer()
        self.assertEqual(fr.feed(b"1\n2\r\n3"), [b"1", b"2"])
        self.assertEqual(fr.feed(b"4\n"), [b"34"])
        out = fr.feed(b"x" * 5000)
        self.assertEqual(out, [errno.EMSGSIZE])
        self.assertEqual(fr.feed(b"y" * 100 + b"\n5\n"), [b"5"])
        self.assertEqual(fr.feed(b"z" * 4097 + b"\n"), [errno.EMSGSIZE])
        self.assertEqual(fr.feed(b"z" * 4096 + b"\r\n"), [b"z" * 4096])


# ---- configuration ---------------------------------------------------------


class TestConfig(unittest.TestCase):
    def setUp(self):
        self.dir = tmpdir()
        self.path = os.path.join(self.dir.name, "c.ini")

    def tearDown(self):
        self.dir.cleanup()

    def load(self, text):
        with open(self.path, "w") as f:
            f.write(text)
        return peer.load_config(self.path)

    def test_durations(self):
        self.assertEqual(peer.parse_duration("100"), 100_000_000)
        self.assertEqual(peer.parse_duration("250us"), 250_000)
        self.assertEqual(peer.parse_duration("1.5s"), 1_500_000_000)
        self.assertEqual(peer.parse_duration("2m"), 120 * 10 ** 9)
        self.assertEqual(peer.parse_duration("1h"), 3600 * 10 ** 9)
        for bad in ("", "ms", "1 s", "1sec", "-1", "1.2.3"):
            with self.assertRaises(ValueError):
                peer.parse_duration(bad)

    def test_full_config(self):
        cfg = self.load(
            "; comment\n# comment\n[engine]\nname = t1 ; inline\n"
            "period = 200ms\ndeadline = 150\n\n"
            "[defaults]   ; any sensor key\ntimeout = 20ms\nretry_jitter = equal\n"
            "line = 1\nrequest = R\\n\n"
            "[sensor a]\nsource = file:/tmp/x\nscale = 0.001\nunit = C\n"
            "[sensor b]\nsource = tcp:127.0.0.1:5000\nrequest = READ\\r\\n\n"
            "retry_attempts = 1\n"
            "[sensor c]\nsource = stream:/tmp/fifo\nmax_age = 1s\n")
        self.assertEqual(cfg.name, "t1")
        self.assertEqual(cfg.period_ns, 200_000_000)
        self.assertEqual(cfg.deadline_ns, 150_000_000)
        a, b, c = cfg.sensors
        self.assertEqual((a.kind, a.path, a.value.scale, a.unit, a.value.line),
                         ("file", "/tmp/x", 0.001, "C", 1))
        self.assertEqual((a.timeout_ns, a.retry_jitter, a.max_age_ns),
                         (20_000_000, "equal", 200_000_000))
        self.assertEqual((b.host, b.port, b.request, b.retry_attempts),
                         ("127.0.0.1", 5000, b"READ\r\n", 1))
        self.assertEqual((c.kind, c.max_age_ns, c.request, c.value.line),
                         ("stream", 10 ** 9, None, 0))

    def expect_error(self, text, needle):
        with self.assertRaises(peer.ConfigError) as cm:
            self.load(text)
        self.assertIn(needle, str(cm.exception))
        self.assertTrue(str(cm.exception).startswith(self.path + ":"))

    def test_errors(self):
        eng = "[engine]\nname = e\n"
        sen = "[sensor s]\nsource = file:/x\n"
        self.expect_error(eng + sen + "bogus = 1\n", "unknown key 'bogus'")
        self.expect_error(eng + "colour = red\n" + sen, "unknown key 'colour'")
        self.expect_error(eng + "deadline = 200ms\n" + sen,
                          "deadline: longer than the period")
        self.expect_error(eng + sen + "timeout = 5 s\n", "not a duration")
        self.expect_error(eng + sen + "retry_attempts = 0\n", "out of range")
        self.expect_error(eng + sen + "retry_jitter = some\n", "not one of")
        self.expect_error(eng + sen + "min = 5\nmax = 1\n", "greater than max")
        self.expect_error(eng + sen + "request = X\n", "only for tcp:")
        self.expect_error(eng + "[defaults]\nsource = file:/y\n" + sen,
                          "source cannot be set in [defaults]")
        self.expect_error(eng + "[sensor s]\nunit = C\n", "has no source")
        self.expect_error(sen, "missing [engine] section")
        self.expect_error(eng, "no sensor")
        self.expect_error(eng + sen + sen, "already exists")
        self.expect_error(eng + "[sensor s]\nsource = udp:0.0.0.0:9\n",
                          "not supported")
        self.expect_error(eng + sen + "scale = nan\n", "not a finite decimal")

    def test_unknown_key_exits_2(self):
        with open(self.path, "w") as f:
            f.write("[engine]\nname = e\n[sensor s]\nsource = file:/x\n"
                    "wibble = 1\n")
        p = subprocess.run([sys.executable, PEER, "-c", self.path,
                            "--duration", "1"], capture_output=True, text=True,
                           timeout=30)
        self.assertEqual(p.returncode, 2)
        self.assertEqual(p.stdout, "")
        self.assertIn("%s:5: unknown key 'wibble'" % self.path, p.stderr)

    def test_usage(self):
        p = subprocess.run([sys.executable, PEER, "--help"],
                           capture_output=True, text=True, timeout=30)
        self.assertEqual(p.returncode, 0)
        self.assertIn("--duration", p.stdout)
        p = subprocess.run([sys.executable, PEER], capture_output=True,
                           text=True, timeout=30)
        self.assertEqual(p.returncode, 2)


# ---- sources ---------------------------------------------------------------


def sensor_config(source, **keys):
    cfg = peer.SensorConfig("s")
    peer._parse_source(cfg, source)
    cfg.max_age_ns = 100_000_000
    for k, v in keys.items():
        setattr(cfg, k, v)
    return cfg


class TestSources(unittest.TestCase):
    def setUp(self):
        self.dir = tmpdir()

    def tearDown(self):
        self.dir.cleanup()

    def test_file(self):
        path = os.path.join(self.dir.name, "f")
        src = peer.FileSource(sensor_config("file:" + path))
        with self.assertRaises(peer.SensorError) as cm:
            run(src.read())
        self.assertEqual(cm.exception.errno, errno.ENOENT)
        with open(path, "w") as f:
            f.write("23.5\n")
        self.assertEqual(run(src.read()), 23.5)
        with open(path, "w") as f:
            f.write("1" * 5000)
        with self.assertRaises(peer.SensorError) as cm:
            run(src.read())
        self.assertEqual(cm.exception.errno, errno.EMSGSIZE)

    def test_fifo(self):
        path = os.path.join(self.dir.name, "fifo")
        os.mkfifo(path)
        src = peer.StreamSource(sensor_config("stream:" + path))

        async def scenario():
            read = peer.retry_with_backoff(max_attempts=1,
                                           timeout=0.05)(src.read)
            # No writer at all: no EOF, no spin, a timeout.
            with self.assertRaises(peer.SensorError) as cm:
                await read()
            self.assertEqual(cm.exception.errno, errno.ETIMEDOUT)
            fd = os.open(path, os.O_WRONLY | os.O_NONBLOCK)
            try:
                os.write(fd, b"1\n2\n")
                await asyncio.sleep(0.02)
                self.assertEqual(await read(), (2.0, 1))  # the newest
                # The record is used: the next attempt waits for a new one.
                loop = asyncio.get_running_loop()
                loop.call_later(0.01, os.write, fd, b"3\n")
                self.assertEqual(await read(), (3.0, 1))
                os.write(fd, b"junk\n")
                await asyncio.sleep(0.02)
                with self.assertRaises(peer.SensorError) as cm:
                    await read()
                self.assertEqual(cm.exception.errno, errno.EBADMSG)
                # A record older than max_age is not taken.
                os.write(fd, b"4\n")
                await asyncio.sleep(0.15)
                with self.assertRaises(peer.SensorError) as cm:
                    await read()
                self.assertEqual(cm.exception.errno, errno.ETIMEDOUT)
            finally:
                os.close(fd)
                src.close()

        run(scenario())

    def test_unix_push(self):
        path = os.path.join(self.dir.name, "sock")
        src = peer.PushSocketSource(sensor_config("unix:" + path))

        async def scenario():
            read = peer.retry_with_backoff(max_attempts=1,
                                           timeout=0.1)(src.read)
            with self.assertRaises(peer.SensorError) as cm:
                await read()
            self.assertEqual(cm.exception.errno, errno.ENOENT)
            writers = []

            async def serve(reader, writer):
                writers.append(writer)
                writer.write(b"5.5\n")
                await writer.drain()

            server = await asyncio.start_unix_server(serve, path)
            try:
                self.assertEqual(await read(), (5.5, 1))
                # Closed while an attempt waits: that attempt fails.
                asyncio.get_running_loop().call_later(0.02, writers[0].close)
                with self.assertRaises(peer.SensorError) as cm:
                    await read()
                self.assertEqual(cm.exception.errno, errno.ECONNRESET)
                # The next attempt connects again.
                self.assertEqual(await read(), (5.5, 1))
                self.assertEqual(len(writers), 2)
            finally:
                src.close()
                for w in writers:  # or wait_closed() waits (3.12.1+)
                    w.close()
                server.close()
                await server.wait_closed()

        run(scenario())

    def test_tcp_request(self):
        async def scenario():
            seen = []

            async def serve(reader, writer):
                seen.append(writer)
                while True:
                    req = await reader.readline()
                    if not req:
                        break
                    if req == b"HANG\n":
                        continue
                    if req == b"CLOSE\n":
                        break
                    writer.write(b"ok 42 x\r\n")
                    await writer.drain()
                # Closed, or Server.wait_closed() waits for it (3.12.1+).
                writer.close()

            server = await asyncio.start_server(serve, "127.0.0.1", 0)
            port = server.sockets[0].getsockname()[1]
            try:
                cfg = sensor_config("tcp:127.0.0.1:%d" % port,
                                    request=b"READ\n")
                cfg.value.field = 1
                src = peer.RequestSource(cfg)
                read = peer.retry_with_backoff(max_attempts=1,
                                               timeout=0.1)(src.read)
                self.assertEqual(await read(), (42.0, 1))
                self.assertEqual(await read(), (42.0, 1))
                self.assertEqual(len(seen), 1)  # the connection is kept
                src.request = b"HANG\n"
                with self.assertRaises(peer.SensorError) as cm:
                    await read()
                self.assertEqual(cm.exception.errno, errno.ETIMEDOUT)
                self.assertIsNone(src.writer)  # a timed-out request closes
                src.request = b"CLOSE\n"
                with self.assertRaises(peer.SensorError) as cm:
                    await read()
                self.assertEqual(cm.exception.errno, errno.ECONNRESET)
                src.request = b"READ\n"
                self.assertEqual(await read(), (42.0, 1))
                self.assertEqual(len(seen), 3)
                src.close()
            finally:
                server.close()
                await server.wait_closed()
            with self.assertRaises(peer.SensorError) as cm:
                await read()
            self.assertEqual(cm.exception.errno, errno.ECONNREFUSED)

        run(scenario())

    def test_connect_outlives_a_timed_out_attempt(self):
        """A connect slower than the timeout (as each of a thousand started
        at once is, on the event loop): the attempt fails with ETIMEDOUT,
        the connect goes on, and the next attempt takes it over instead of
        starting it again.  One that failed meanwhile is not reported: the
        next attempt connects anew."""

        async def scenario():
            accepted = []

            async def serve(reader, writer):
                accepted.append(writer)
                while await reader.readline():
                    writer.write(b"7\n")
                    await writer.drain()
                writer.close()

            async def ended(task):
                while not task.done():
                    await asyncio.sleep(0.01)

            server = await asyncio.start_server(serve, "127.0.0.1", 0)
            port = server.sockets[0].getsockname()[1]
            src = peer.RequestSource(sensor_config(
                "tcp:127.0.0.1:%d" % port, request=b"r\n"))
            real, connects = src.endpoint._connect, []

            async def slow_connect():
                connects.append(1)
                await asyncio.sleep(0.2)
                return await real()

            src.endpoint._connect = slow_connect
            read = peer.retry_with_backoff(max_attempts=1,
                                           timeout=0.1)(src.read)
            try:
                with self.assertRaises(peer.SensorError) as cm:
                    await read()
                self.assertEqual(cm.exception.errno, errno.ETIMEDOUT)
                connecting = src.endpoint.connecting
                self.assertFalse(connecting.done())  # not cancelled
                await ended(connecting)
                self.assertEqual(await read(), (7.0, 1))
                self.assertEqual((len(connects), len(accepted)), (1, 1))
                self.assertIsNone(src.endpoint.connecting)  # taken
                self.assertEqual(await read(), (7.0, 1))  # and kept
                self.assertEqual(len(connects), 1)
                # Failed after its attempt timed out: not reported again.
                src.close()
                server.close()
                await server.wait_closed()

                async def unreachable():
                    await asyncio.sleep(0.2)
                    raise peer.SensorError(errno.ENETUNREACH)

                src.endpoint._connect = unreachable
                with self.assertRaises(peer.SensorError) as cm:
                    await read()
                self.assertEqual(cm.exception.errno, errno.ETIMEDOUT)
                await ended(src.endpoint.connecting)
                src.endpoint._connect = real
                with self.assertRaises(peer.SensorError) as cm:
                    await read()
                self.assertEqual(cm.exception.errno, errno.ECONNREFUSED)
            finally:
                src.close()
                server.close()

        run(scenario())


# ---- Example 39.3 and the engine loop ---------------------------------------


class TestBatches(unittest.TestCase):
    def test_pending_then_late(self):
        """A call that outlives its deadline is pending and not started
        again; once it has ended, its result is reported once, late, in a
        batch whose own call has not ended by the deadline."""

        async def scenario():
            cfg = sensor_config("file:/nonexistent")
            sensor = peer.Sensor(cfg, random.Random(0))
            gates = [asyncio.Event(), asyncio.Event(), asyncio.Event()]
            gates[2].set()
            calls = []

            async def slow():
                calls.append(1)
                await gates[len(calls) - 1].wait()
                return float(len(calls)), 1

            sensor.read = slow
            t = time.monotonic()
            b1 = await peer.collect_batch([sensor], 1, 0, t, 0.02)
            self.assertEqual(b1["missing"], [{"sensor": "s",
                                              "status": "pending"}])
            self.assertTrue(b1["degraded"])
            b2 = await peer.collect_batch([sensor], 2, 1, time.monotonic(),
                                          0.02)
            self.assertEqual(b2["missing"][0]["status"], "pending")
            self.assertEqual(len(calls), 1)  # not started again
            gates[0].set()
            await asyncio.sleep(0.005)  # the tick-0 call ends
            b3 = await peer.collect_batch([sensor], 3, 2, time.monotonic(),
                                          0.02)
            self.assertEqual(len(calls), 2)  # tick 2 starts a new call
            self.assertEqual(b3["available"], 1)
            self.assertEqual(b3["readings"][0]["value"], 1.0)
            self.assertIs(b3["readings"][0]["late"], True)
            b4 = await peer.collect_batch([sensor], 4, 3, time.monotonic(),
                                          0.02)
            self.assertEqual(b4["missing"][0]["status"], "pending")  # once
            gates[1].set()
            await asyncio.sleep(0.005)
            b5 = await peer.collect_batch([sensor], 5, 4, time.monotonic(),
                                          0.02)
            # Tick 4's own call ended by its deadline: it wins, not late.
            self.assertEqual(len(calls), 3)
            self.assertNotIn("late", b5["readings"][0])

        run(scenario())

    def test_open_breaker_does_no_io(self):
        async def scenario():
            cfg = sensor_config("file:/nonexistent")
            cfg.retry_attempts = 1
            cfg.breaker_failures = 2
            sensor = peer.Sensor(cfg, random.Random(0))
            statuses = []
            for tick in range(4):
                b = await peer.collect_batch([sensor], tick + 1, tick,
                                             time.monotonic(), 0.05)
                statuses.append(b["missing"][0]["status"])
            self.assertEqual(statuses, ["failed", "failed", "open", "open"])
            self.assertEqual(sensor.breaker.state, "open")

        run(scenario())


class TestPeer(unittest.TestCase):
    def test_sockets_connect_before_the_first_tick(self):
        """Connects slower than an attempt's timeout (as a thousand at once
        are): they are made before tick 0, whose calls then all read.
        Inside tick 0's attempts they would all time out."""

        async def scenario(d):
            async def serve(reader, writer):
                while await reader.readline():
                    writer.write(b"21.5\n")
                    await writer.drain()
                writer.close()

            server = await asyncio.start_server(serve, "127.0.0.1", 0)
            port = server.sockets[0].getsockname()[1]
            lines = ["[engine]", "name = prep", "period = 100ms", "",
                     "[defaults]", "timeout = 30ms", "retry_attempts = 2",
                     "retry_base = 5ms", "retry_max = 5ms",
                     "request = r\\n", ""]
            for i in range(20):
                lines += ["[sensor t%d]" % i,
                          "source = tcp:127.0.0.1:%d" % port, ""]
            path = os.path.join(d, "c.ini")
            with open(path, "w") as f:
                f.write("\n".join(lines))
            cfg = peer.load_config(path)
            real = peer._Endpoint._connect

            async def slow_connect(endpoint):
                await asyncio.sleep(0.08)
                return await real(endpoint)

            peer._Endpoint._connect = slow_connect
            p = peer.Peer(cfg, duration=0.3, seed=1)
            try:
                await p.run()
                await asyncio.sleep(0.02)  # the handlers see EOF and end
            finally:
                peer._Endpoint._connect = real
                server.close()
                await server.wait_closed()
            return p

        with tmpdir() as d:
            p = run(scenario(d))
        first = p.batches[0]
        self.assertEqual(first["available"], 20, first["missing"])
        self.assertTrue(all(r["attempts"] == 1 for r in first["readings"]))
        self.assertEqual(p.nbatches + p.missed_ticks, 3)
        self.assertEqual(p.readings, 20 * p.nbatches)


class TestEndToEnd(unittest.TestCase):
    def test_files_for_one_second(self):
        with tmpdir() as d:
            lines = ["[engine]", "name = e2e", "period = 50ms", "",
                     "[defaults]", "timeout = 50ms", ""]
            for i in range(4):
                path = os.path.join(d, "f%d" % i)
                with open(path, "w") as f:
                    f.write("23.5\n")
                lines += ["[sensor f%d]" % i, "source = file:" + path,
                          "unit = C", ""]
            with open(os.path.join(d, "bad"), "w") as f:
                f.write("not a number\n")
            lines += ["[sensor bad]", "source = file:%s/bad" % d,
                      "retry_attempts = 2", "retry_base = 1ms", ""]
            cfg = os.path.join(d, "c.ini")
            with open(cfg, "w") as f:
                f.write("\n".join(lines))
            t0 = time.monotonic()
            p = subprocess.run([sys.executable, PEER, "-c", cfg, "--duration",
                                "1", "--seed", "1"], capture_output=True,
                               text=True, timeout=60)
            elapsed = time.monotonic() - t0
        self.assertEqual(p.returncode, 0, p.stderr)
        out = p.stdout.splitlines()
        self.assertEqual(len(out), 1)
        r = json.loads(out[0])
        self.assertEqual(set(r), {"system", "sensors", "batches", "readings",
                                  "degraded", "missed_ticks", "steady_cpu_us",
                                  "steady_readings", "lateness_us"})
        self.assertEqual(r["system"], "asyncio")
        self.assertEqual(r["sensors"], 5)
        self.assertEqual(r["batches"] + r["missed_ticks"], 20)
        self.assertGreaterEqual(r["batches"], 15)
        self.assertEqual(r["readings"], 4 * r["batches"])
        self.assertEqual(r["degraded"], r["batches"])  # "bad" never reads
        # 20 ticks: a warm-up of max(2, 20 / 5) = 4 batches.
        self.assertEqual(r["steady_readings"], 4 * (r["batches"] - 4))
        self.assertIsInstance(r["steady_cpu_us"], int)
        self.assertGreaterEqual(r["steady_cpu_us"], 0)
        lat = r["lateness_us"]
        self.assertEqual(set(lat), {"p50", "p99", "max"})
        self.assertTrue(all(isinstance(v, int) for v in lat.values()))
        self.assertTrue(0 <= lat["p50"] <= lat["p99"] <= lat["max"])
        self.assertLess(lat["p50"], 50_000)
        self.assertLess(elapsed, 10)


if __name__ == "__main__":
    unittest.main()
