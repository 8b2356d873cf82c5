# SPDX-License-Identifier: MIT
"""Tests of ringside.py against a real engine.

Each test starts ringsided on a small configuration whose sensors are
files in a temporary directory on tmpfs (plus /proc/loadavg and a file
that does not exist, so that every batch is degraded), then reads the
segment through ringside.Reader and compares what it gets with what the C
clients print for the same segment: ringside-tail --json for batches,
ringside-stat --json for counters.

Programs come from $RINGSIDE_BIN, else ../../build/bin beside this file;
libringside from $RINGSIDE_LIB (see ringside.py).  Segment names and the
temporary directory include the pid; every child is killed and every file
removed at the end of each test, whether it passed or not.

What is asserted is behaviour, never timing: sequence numbers without a
gap, the same dicts as the C clients, iteration ending on a clean stop,
EngineDied on a killed engine, a reload followed to the new epoch.
"""

import ctypes
import errno
import itertools
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import unittest

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)

import ringside  # noqa: E402

BIN = os.environ.get("RINGSIDE_BIN") or os.path.normpath(
    os.path.join(HERE, "..", "..", "build", "bin"))

ATTACH_S = 10.0   # a started engine creates its segment by then
CHILD_S = 30.0    # a client or a stopping engine is done by then
ENGINE_S = "120"  # an engine stops by itself after this
MAX_BATCHES = 5000  # an iteration that should end, but does not
NAMES = itertools.count(1)

CONFIG = """\
[engine]
name = {name}
period = {period}
ring = {ring}

[defaults]
timeout = 20ms
retry_attempts = 3
retry_base = 1ms
retry_max = 2ms
breaker_reset = 200ms

[sensor temp]
source = file:{dir}/temp
unit = \u00b0C

[sensor load]
source = file:/proc/loadavg
field = 1

[sensor gone]
source = file:{dir}/missing
{extra}"""

EXTRA_SENSOR = """
[sensor more]
source = file:{dir}/temp
scale = 2
"""

BATCH_KEYS = ["engine", "epoch", "seq", "tick", "published", "degraded",
              "available", "total", "lost", "readings", "missing"]
STAT_KEYS = ["engine", "epoch", "state", "uptime_s", "batches",
             "degraded_batches", "late_batches", "missed_ticks", "sensors"]
SENSOR_KEYS = ["sensor", "breaker", "calls", "ok", "failed", "attempts",
               "retries", "retry_ok", "timeouts", "opens", "fast_fails",
               "probes", "last_error", "latency_us"]


def shm_dir():
    return "/dev/shm" if os.path.isdir("/dev/shm") else None


def shape(v):
    """The shape of a JSON value: dict keys in order, list elements, and
    the type of every leaf (an int counts as a number like a float)."""
    if isinstance(v, dict):
        return [(k, shape(x)) for k, x in v.items()]
    if isinstance(v, list):
        return [shape(x) for x in v]
    if isinstance(v, bool):
        return "bool"
    if isinstance(v, (int, float)):
        return "number"
    if v is None:
        return "null"
    return type(v).__name__


class RingsideTest(unittest.TestCase):
    def setUp(self):
        self.dir = tempfile.mkdtemp(prefix="rspy%d-" % os.getpid(),
                                    dir=shm_dir())
        with open(os.path.join(self.dir, "temp"), "w") as f:
            f.write("21.5\n")
        self.children = []
        self.names = []
        self.readers = []

    def tearDown(self):
        for r in self.readers:
            r.close()
        for p in self.children:
            if p.poll() is None:
                p.kill()
            p.wait()
            if p.stderr is not None:
                p.stderr.close()
        for name in self.names:
            for path in ("/dev/shm/ringside." + name,
                         "/dev/shm/.ringside.%s.lock" % name):
                try:
                    os.unlink(path)
                except FileNotFoundError:
                    pass
            try:
                for f in os.listdir("/dev/shm"):
                    if f.startswith((".ringside.%s." % name,
                                     ".ringside.%s@" % name,
                                     "ringside.%s@" % name)):
                        os.unlink(os.path.join("/dev/shm", f))
            except OSError:
                pass
        shutil.rmtree(self.dir, ignore_errors=True)

    # -- helpers --

    def new_name(self):
        """A segment name no other test or process uses: py<pid>n<k>."""
        name = "py%dn%d" % (os.getpid(), next(NAMES))
        self.names.append(name)
        return name

    def write_config(self, name, period="10ms", ring=1024, extra=""):
        path = os.path.join(self.dir, name + ".ini")
        with open(path, "w", encoding="utf-8") as f:
            f.write(CONFIG.format(name=name, period=period, ring=ring,
                                  dir=self.dir,
                                  extra=extra.format(dir=self.dir)))
        return path

    def start_engine(self, **kw):
        """Start ringsided; return (process, name) once its segment can
        be attached."""
        name = self.new_name()
        config = self.write_config(name, **kw)
        log = open(os.path.join(self.dir, name + ".log"), "wb")
        # --duration: an engine left behind by a killed test ends anyway.
        p = subprocess.Popen([os.path.join(BIN, "ringsided"), "-c", config,
                              "--duration", ENGINE_S],
                             stdin=subprocess.DEVNULL,
                             stdout=subprocess.DEVNULL, stderr=log)
        log.close()
        self.children.append(p)
        deadline = time.monotonic() + ATTACH_S
        while True:
            try:
                ringside.Reader(name).close()
                return p, name
            except ringside.RingsideError as e:
                if e.errno != errno.ENOENT:
                    raise
            if p.poll() is not None:
                self.fail("ringsided exited with %s:\n%s"
                          % (p.returncode, self.engine_log(name)))
            if time.monotonic() > deadline:
                self.fail("no segment %s after %.0f s" % (name, ATTACH_S))
            time.sleep(0.02)

    def engine_log(self, name):
        try:
            with open(os.path.join(self.dir, name + ".log")) as f:
                return f.read()
        except OSError:
            return ""

    def stop_engine(self, p, sig=signal.SIGTERM):
        p.send_signal(sig)
        p.wait(timeout=CHILD_S)

    def kill_between_updates(self, p, r):
        """SIGKILL engine p while its counters are not being updated: a
        kill in the middle of an update would leave them unreadable."""
        while True:
            p.send_signal(signal.SIGSTOP)
            try:
                r.stats()
                break
            except ringside.RingsideError as e:
                if e.errno != errno.EAGAIN:
                    raise
            p.send_signal(signal.SIGCONT)
            time.sleep(0.001)
        p.kill()
        p.wait(timeout=CHILD_S)

    def reader(self, name, **kw):
        r = ringside.Reader(name, **kw)
        self.readers.append(r)
        return r

    def take(self, r, n):
        out = []
        for b in r:
            out.append(b)
            if len(out) == n:
                break
        self.assertEqual(len(out), n, "iteration ended early")
        return out

    def run_client(self, *args):
        """Run a C client to completion; return its stdout."""
        res = subprocess.run([os.path.join(BIN, args[0])] + list(args[1:]),
                             stdin=subprocess.DEVNULL, capture_output=True,
                             timeout=CHILD_S)
        self.assertEqual(res.returncode, 0,
                         "%s failed: %s" % (args[0], res.stderr.decode()))
        return res.stdout

    def assert_gapless(self, batches, first=None):
        seqs = [b["seq"] for b in batches]
        if first is not None:
            self.assertEqual(seqs[0], first)
        self.assertEqual(seqs, list(range(seqs[0], seqs[0] + len(seqs))))

    # -- batches --

    def test_batches_come_in_order_without_gaps_and_in_contract_shape(self):
        p, name = self.start_engine()
        r = self.reader(name)
        batches = self.take(r, 40)
        self.assert_gapless(batches, first=1)
        for b in batches:
            self.assertEqual(list(b.keys()), BATCH_KEYS)
            self.assertEqual(b["engine"], name)
            self.assertEqual(b["epoch"], r.epoch)
            self.assertEqual(b["total"], 3)
            self.assertEqual(b["lost"], 0)
            self.assertTrue(b["degraded"])
            self.assertEqual(b["available"], len(b["readings"]))
            got = [x["sensor"] for x in b["readings"] + b["missing"]]
            self.assertEqual(sorted(got), ["gone", "load", "temp"])
            gone = [x for x in b["missing"] if x["sensor"] == "gone"]
            self.assertEqual(len(gone), 1)
            if gone[0]["status"] == "failed":
                self.assertEqual(gone[0]["error"], "ENOENT")
            else:
                self.assertIn(gone[0]["status"], ("open", "pending"))
            for x in b["readings"]:
                if x["sensor"] == "temp":
                    self.assertEqual(x["value"], 21.5)
                    self.assertEqual(x["unit"], "\u00b0C")
        self.assertEqual(r.sensors, ["temp", "load", "gone"])

    def test_batches_equal_ringside_tail_json_for_the_same_seqs(self):
        p, name = self.start_engine()
        n = 25
        # The ring (1024 batches) cannot wrap while both read from oldest:
        # both start at seq 1.
        tail = [json.loads(line) for line in self.run_client(
            "ringside-tail", name, "--json", "--count", str(n), "--from",
            "oldest").splitlines()]
        mine = self.take(self.reader(name, from_="oldest"), n)
        self.assertEqual(len(tail), n)
        self.assert_gapless(tail, first=1)
        self.assertEqual(mine, tail)

    def test_a_stopped_engines_batches_equal_ringside_tail_json(self):
        p, name = self.start_engine()
        self.take(self.reader(name, from_="now"), 10)
        self.stop_engine(p)
        self.assertEqual(p.returncode, 0)
        tail = [json.loads(line) for line in self.run_client(
            "ringside-tail", name, "--json", "--from",
            "oldest").splitlines()]
        mine = list(self.reader(name, from_="oldest"))
        self.assertGreaterEqual(len(mine), 10)
        self.assert_gapless(mine, first=1)
        self.assertEqual(mine, tail)

    def test_from_now_starts_after_the_newest_batch_and_waits(self):
        p, name = self.start_engine()
        old = self.reader(name)
        head = self.take(old, 5)[-1]["seq"]
        r = self.reader(name, from_="now")
        batches = self.take(r, 10)
        self.assertGreater(batches[0]["seq"], head)
        self.assert_gapless(batches)

    def test_a_lapped_reader_reports_exactly_what_it_lost(self):
        p, name = self.start_engine(ring=4)
        r = self.reader(name, from_="oldest")
        first = self.take(r, 1)[0]
        # Let the engine go round the 4-slot ring a few times.
        deadline = time.monotonic() + CHILD_S
        while r.stats()["batches"] < first["seq"] + 20:
            self.assertLess(time.monotonic(), deadline)
            time.sleep(0.02)
        second = self.take(r, 1)[0]
        self.assertGreater(second["lost"], 0)
        self.assertEqual(second["seq"], first["seq"] + second["lost"] + 1)

    def test_a_clean_stop_ends_the_iteration_after_the_last_batch(self):
        p, name = self.start_engine()
        r = self.reader(name, from_="now")
        batches = []
        for b in r:
            batches.append(b)
            if len(batches) == 5:
                p.send_signal(signal.SIGTERM)
            self.assertLess(len(batches), MAX_BATCHES, "iteration goes on")
        p.wait(timeout=CHILD_S)
        self.assertEqual(p.returncode, 0)
        self.assert_gapless(batches)
        st = r.stats()
        self.assertEqual(st["state"], "closed")
        self.assertEqual(batches[-1]["seq"], st["batches"])

    def test_a_killed_engine_raises_engine_died(self):
        p, name = self.start_engine()
        r = self.reader(name, from_="now")
        self.take(r, 3)
        self.kill_between_updates(p, r)
        with self.assertRaises(ringside.EngineDied):
            for i, _ in enumerate(r):
                self.assertLess(i, MAX_BATCHES, "iteration goes on")
        self.assertEqual(r.stats()["state"], "dead")

    def test_a_reload_that_changes_the_sensors_is_followed(self):
        p, name = self.start_engine()
        r = self.reader(name, from_="now")
        epoch = self.take(r, 3)[0]["epoch"]
        self.write_config(name, extra=EXTRA_SENSOR)
        p.send_signal(signal.SIGHUP)
        for i, b in enumerate(r):
            self.assertLess(i, MAX_BATCHES, "the new segment never came")
            if b["epoch"] != epoch:
                break
        self.assertGreater(b["epoch"], epoch)
        self.assertEqual(b["seq"], 1)
        self.assertEqual(b["total"], 4)
        self.assertEqual(r.sensors, ["temp", "load", "gone", "more"])
        nxt = self.take(r, 3)
        self.assert_gapless([b] + nxt)

    # -- counters --

    def test_stats_has_the_shape_ringside_stat_json_prints(self):
        p, name = self.start_engine()
        r = self.reader(name)
        self.take(r, 20)
        mine = r.stats()
        theirs = json.loads(self.run_client("ringside-stat", name, "--json"))
        self.assertEqual(list(mine.keys()), STAT_KEYS)
        self.assertEqual([s["sensor"] for s in mine["sensors"]],
                         ["temp", "load", "gone"])
        for s in mine["sensors"]:
            self.assertEqual(list(s.keys()), SENSOR_KEYS)
            self.assertIn(s["breaker"], ("closed", "open", "half_open"))
            self.assertEqual(list(s["latency_us"].keys()), ["p50", "p99"])
        self.assertEqual(shape(mine), shape(theirs))
        self.assertEqual(mine["state"], "live")
        self.assertEqual(theirs["state"], "live")
        for key in ("engine", "epoch"):
            self.assertEqual(mine[key], theirs[key])
        gone = mine["sensors"][2]
        self.assertEqual(gone["last_error"], "ENOENT")
        self.assertGreater(gone["failed"], 0)
        self.assertIsNone(mine["sensors"][0]["last_error"])

    def test_stats_of_a_stopped_engine_equal_ringside_stat_json(self):
        p, name = self.start_engine()
        self.take(self.reader(name, from_="now"), 20)
        self.stop_engine(p)
        mine = self.reader(name).stats()
        theirs = json.loads(self.run_client("ringside-stat", name, "--json"))
        # Frozen counters, and an uptime that runs to the last batch:
        # every value must agree, the latency estimates included.
        self.assertEqual(mine, theirs)
        self.assertEqual(mine["state"], "closed")
        self.assertGreaterEqual(mine["batches"], 20)
        self.assertEqual(mine["degraded_batches"], mine["batches"])

    def aux_writer(self, name, program, values):
        """A counters segment of another program beside engine name, kept
        by this process with values ({key: value}); closed at the end."""
        lib = ringside._library()
        ap = ctypes.POINTER(ringside._AuxStruct)
        lib.ringside_aux_create.restype = ctypes.c_int
        lib.ringside_aux_create.argtypes = [
            ap, ctypes.c_char_p, ctypes.c_char_p,
            ctypes.POINTER(ctypes.c_char_p), ctypes.c_uint32, ctypes.c_uint]
        for fn in ("begin", "end", "close"):
            getattr(lib, "ringside_aux_" + fn).argtypes = [ap]
            getattr(lib, "ringside_aux_" + fn).restype = None
        lib.ringside_aux_set.argtypes = [ap, ctypes.c_uint32,
                                         ctypes.c_uint64]
        lib.ringside_aux_set.restype = None
        mem = ctypes.create_string_buffer(ringside._AUX_ROOM)
        a = ringside._AuxStruct.from_buffer(mem)
        keys = [k.encode() for k in values]
        rc = lib.ringside_aux_create(
            a, name.encode(), program.encode(),
            (ctypes.c_char_p * len(keys))(*keys), len(keys), 0o600)
        self.assertEqual(rc, 0, lib.ringside_strerror(rc))
        self.addCleanup(lambda: (lib.ringside_aux_close(a), mem))
        lib.ringside_aux_begin(a)
        for i, v in enumerate(values.values()):
            lib.ringside_aux_set(a, i, v)
        lib.ringside_aux_end(a)

    def test_stats_show_other_programs_counters_as_ringside_stat_does(self):
        p, name = self.start_engine()
        self.take(self.reader(name, from_="now"), 3)
        self.stop_engine(p)
        self.aux_writer(name, "zbridge", {"published": 12, "breaker": 2})
        self.aux_writer(name, "archiver", {"files": 5})
        mine = self.reader(name).stats()
        theirs = json.loads(self.run_client("ringside-stat", name, "--json"))
        self.assertEqual(mine, theirs)
        self.assertEqual(list(mine), STAT_KEYS + ["archiver", "zbridge"])
        self.assertEqual(mine["zbridge"], {"state": "running",
                                           "published": 12,
                                           "breaker": "half_open"})
        self.assertEqual(mine["archiver"], {"state": "running", "files": 5})

    def test_stats_do_not_move_the_readers_position(self):
        p, name = self.start_engine()
        r = self.reader(name, from_="oldest")
        a = self.take(r, 3)
        r.stats()
        b = self.take(r, 3)
        self.assert_gapless(a + b, first=1)

    def test_latency_quantiles_interpolate_within_a_bucket(self):
        bounds = [50, 100, 250, 500, 1000, 2500, 5000, 10000, 25000, 50000,
                  100000, 250000, 500000, 1000000, 2500000, 4294967295]
        hist = [0] * 16
        self.assertIsNone(ringside._quantile(hist, bounds, 0.5))
        hist[1] = 10  # ten calls in (50, 100]
        self.assertEqual(ringside._quantile(hist, bounds, 0.5), 75)
        self.assertEqual(ringside._quantile(hist, bounds, 0.99), 100)
        hist[15] = 10  # and ten beyond the last finite bound
        self.assertEqual(ringside._quantile(hist, bounds, 0.99), 2500000)

    # -- errors --

    def test_no_segment_raises_enoent(self):
        name = self.new_name()
        with self.assertRaises(ringside.RingsideError) as cm:
            ringside.Reader(name)
        self.assertEqual(cm.exception.errno, errno.ENOENT)
        self.assertIn("no segment", str(cm.exception))

    def test_a_foreign_file_at_the_path_raises_eproto(self):
        name = self.new_name()
        with open("/dev/shm/ringside." + name, "wb") as f:
            f.write(b"not a segment at all" * 100)
        with self.assertRaises(ringside.RingsideError) as cm:
            ringside.Reader(name)
        self.assertEqual(cm.exception.errno, errno.EPROTO)
        self.assertIn("bad magic", str(cm.exception))

    def test_from_takes_only_oldest_or_now(self):
        with self.assertRaises(ValueError):
            ringside.Reader("x", from_="newest")

    def test_a_closed_reader_refuses_to_iterate(self):
        p, name = self.start_engine()
        with ringside.Reader(name) as r:
            self.take(r, 1)
        with self.assertRaises(ValueError):
            next(r)
        with self.assertRaises(ValueError):
            r.stats()


if __name__ == "__main__":
    unittest.main()
