# SPDX-License-Identifier: MIT
"""Read a ringside segment from Python: batches and counters.

ringsided publishes one batch of sensor readings per tick into the
shared-memory segment /dev/shm/ringside.NAME.  This module attaches to it
read-only through libringside, loaded with ctypes, so it needs nothing
beyond the standard library::

    import ringside

    with ringside.Reader("plant1") as r:
        print(r.stats()["batches"])
        for batch in r:                  # waits for the next batch
            for reading in batch["readings"]:
                print(batch["seq"], reading["sensor"], reading["value"])

Iterating a Reader yields one dict per batch, shaped exactly like the JSON
lines of ``ringside-tail --json`` (the library's own formatter makes the
line, so every reader prints the same thing).  When the reader has caught
up it sleeps on the segment's futex until the next batch.  Iteration ends
when the engine stops cleanly and every batch has been taken; an engine
that died raises EngineDied; a reload that replaced the segment is
followed from the new segment's first batch.

``Reader.stats()`` returns the object ``ringside-stat NAME --json``
prints, computed here the same way from the same consistent snapshot of
the counters (the latency percentiles are estimates from a histogram,
interpolated within a bucket), with one member per other program that
keeps counters beside the engine (ringside-bridge, in
/dev/shm/ringside.NAME@PROGRAM): {"state": "running", "published": 12,
...}.

libringside is looked for in $RINGSIDE_LIB (a directory, or the library
file itself), then in the build tree beside this file
(../../build/lib/libringside.so), then on the system
(ctypes.util.find_library("ringside")).

The ctypes structures below mirror shm/ringside.h field for field; the
reader structure, which the library fills, is given more room than its
mirrored size as a margin.
"""

import ctypes
import ctypes.util
import errno
import json
import math
import os
import time

__all__ = ["Reader", "RingsideError", "EngineDied", "library_path"]

NAME_MAX = 32
UNIT_MAX = 23
HIST_BUCKETS = 16
SC_SLOTS = 24
EC_SLOTS = 16

# enum ringside_event
TIMEOUT, READY, CLOSED, DEAD, REPLACED = range(5)

# Where a new reader starts.
FROM_OLDEST = 0x1
FROM_NOW = 0x2

# enum ringside_sensor_counter
(SC_CALLS, SC_OK, SC_FAILED, SC_ATTEMPTS, SC_RETRIES, SC_RETRY_OK,
 SC_TIMEOUTS, SC_OPENS, SC_FAST_FAILS, SC_PROBES, SC_LAST_ERROR, SC_BREAKER,
 SC_PENDING, SC_LATE, SC_DEGRADED, SC_LATENCY_SUM, SC_LAST_OK_US,
 SC_RECONNECTS) = range(18)

# enum ringside_engine_counter
(EC_BATCHES, EC_DEGRADED, EC_LATE, EC_MISSED_TICKS, EC_STARTED_US,
 EC_STARTED_MONO_NS, EC_RELOADS, EC_LATENESS_MAX_NS) = range(8)

# As ringside-stat: ringside_reader_stats() is retried this many times,
# this many seconds apart, while the writer keeps changing the counters.
_STATS_TRIES = 5
_STATS_PAUSE = 0.02

# Other programs' counters segments (ringside_aux_*): as many as
# ringside-stat shows, and the counters and key length of one.
_PROGS_MAX = 16
AUX_MAX = 32
AUX_KEY_MAX = 31
_AUX_STATES = {TIMEOUT: "running", CLOSED: "stopped", DEAD: "dead"}

# Members of the engine's own object: a program of one of these names is
# left out, as ringside-stat leaves it out of its JSON.
_OWN_KEYS = ("engine", "epoch", "state", "uptime_s", "batches",
             "degraded_batches", "late_batches", "missed_ticks", "sensors")

# How long one ringside_reader_wait() may block, in milliseconds: short
# enough for Ctrl-C to be handled promptly between two calls.
_WAIT_MS = 500

# Room given to struct ringside_reader, well above its mirrored size.
_READER_ROOM = 1024
# The same for struct ringside_aux.
_AUX_ROOM = 256

_STATES = {TIMEOUT: "live", CLOSED: "closed", DEAD: "dead",
           REPLACED: "replaced"}


class RingsideError(OSError):
    """A libringside call failed; .errno holds the positive errno."""


class EngineDied(RingsideError):
    """The engine went away without closing its segment."""


# ---- mirrors of shm/ringside.h ---------------------------------------------

class _Reading(ctypes.Structure):
    _fields_ = [
        ("value", ctypes.c_double),
        ("latency_us", ctypes.c_uint32),
        ("status", ctypes.c_uint8),
        ("flags", ctypes.c_uint8),
        ("attempts", ctypes.c_uint8),
        ("error", ctypes.c_uint8),
    ]


class _Batch(ctypes.Structure):
    _fields_ = [
        ("seq", ctypes.c_uint64),
        ("tick_us", ctypes.c_uint64),
        ("published_us", ctypes.c_uint64),
        ("tick_mono_ns", ctypes.c_uint64),
        ("published_mono_ns", ctypes.c_uint64),
        ("lost", ctypes.c_uint64),
        ("available", ctypes.c_uint32),
        ("total", ctypes.c_uint32),
        ("flags", ctypes.c_uint32),
        ("nreadings", ctypes.c_uint32),
    ]


class _SensorStats(ctypes.Structure):
    _fields_ = [
        ("counter", ctypes.c_uint64 * SC_SLOTS),
        ("hist", ctypes.c_uint64 * HIST_BUCKETS),
    ]


class _EngineStats(ctypes.Structure):
    _fields_ = [("counter", ctypes.c_uint64 * EC_SLOTS)]


class _ReaderStruct(ctypes.Structure):
    # dev_t is 64 bits in glibc everywhere; ino_t is an unsigned long.
    _fields_ = [
        ("base", ctypes.c_void_p),
        ("size", ctypes.c_size_t),
        ("fd", ctypes.c_int),
        ("nsensors", ctypes.c_uint32),
        ("mask", ctypes.c_uint32),
        ("slot_size", ctypes.c_uint32),
        ("ring", ctypes.c_uint32),
        ("mapped", ctypes.c_int),
        ("ring_off", ctypes.c_uint64),
        ("sensors_off", ctypes.c_uint64),
        ("next", ctypes.c_uint64),
        ("lost", ctypes.c_uint64),
        ("epoch_us", ctypes.c_uint64),
        ("dev", ctypes.c_uint64),
        ("ino", ctypes.c_ulong),
        ("path", ctypes.c_char * 64),
        ("name", ctypes.c_char * (NAME_MAX + 1)),
    ]


class _AuxStruct(ctypes.Structure):
    _fields_ = [
        ("mem", ctypes.c_void_p),
        ("size", ctypes.c_size_t),
        ("fd", ctypes.c_int),
        ("n", ctypes.c_uint32),
        ("writable", ctypes.c_int),
        ("path", ctypes.c_char * 96),
    ]


assert ctypes.sizeof(_Reading) == 16
assert ctypes.sizeof(_Batch) == 64
assert ctypes.sizeof(_SensorStats) == 8 * (SC_SLOTS + HIST_BUCKETS)
assert ctypes.sizeof(_EngineStats) == 8 * EC_SLOTS
assert ctypes.sizeof(_ReaderStruct) <= _READER_ROOM
assert ctypes.sizeof(_AuxStruct) <= _AUX_ROOM

# ---- the library ------------------------------------------------------------

_lib = None
_lib_path = None


def _candidates():
    env = os.environ.get("RINGSIDE_LIB")
    if env:
        yield env if os.path.isfile(env) else os.path.join(
            env, "libringside.so")
    here = os.path.dirname(os.path.abspath(__file__))
    yield os.path.normpath(os.path.join(here, "..", "..", "build", "lib",
                                        "libringside.so"))


def library_path():
    """The path (or soname) of the libringside this module loads."""
    for path in _candidates():
        if os.path.exists(path):
            return path
    found = ctypes.util.find_library("ringside")
    if found is None:
        raise RingsideError(errno.ENOENT,
                            "libringside not found (set RINGSIDE_LIB to "
                            "the directory holding libringside.so)")
    return found


def _declare(lib):
    rp = ctypes.POINTER(_ReaderStruct)
    ap = ctypes.POINTER(_AuxStruct)
    c_int, c_uint, c_u32, c_u64 = (ctypes.c_int, ctypes.c_uint,
                                   ctypes.c_uint32, ctypes.c_uint64)
    protos = {
        "ringside_reader_attach": (c_int, [rp, ctypes.c_char_p, c_uint]),
        "ringside_reader_detach": (None, [rp]),
        "ringside_reader_next": (c_int, [rp, ctypes.POINTER(_Batch),
                                         ctypes.POINTER(_Reading), c_u32]),
        "ringside_reader_wait": (c_int, [rp, c_int]),
        "ringside_reader_state": (c_int, [rp]),
        "ringside_reader_reattach": (c_int, [rp, c_uint]),
        "ringside_reader_sensor": (c_int, [rp, c_u32, ctypes.c_char_p,
                                           ctypes.c_char_p]),
        "ringside_reader_head": (c_u64, [rp]),
        "ringside_reader_pid": (c_int, [rp]),
        "ringside_reader_stats": (c_int, [rp, ctypes.POINTER(_EngineStats),
                                          ctypes.POINTER(_SensorStats),
                                          c_u32]),
        "ringside_aux_list": (c_int, [ctypes.c_char_p, ctypes.c_char_p,
                                      c_int]),
        "ringside_aux_attach": (c_int, [ap, ctypes.c_char_p,
                                        ctypes.c_char_p, c_uint]),
        "ringside_aux_detach": (None, [ap]),
        "ringside_aux_key": (c_int, [ap, c_u32, ctypes.c_char_p]),
        "ringside_aux_read": (c_int, [ap, ctypes.POINTER(c_u64), c_u32]),
        "ringside_aux_state": (c_int, [ap]),
        "ringside_strerror": (ctypes.c_char_p, [c_int]),
        "ringside_breaker_name": (ctypes.c_char_p, [c_uint]),
        "ringside_errno_name": (ctypes.c_char_p, [c_int]),
        "ringside_json_batch": (c_int, [ctypes.c_char_p, ctypes.c_size_t,
                                        ctypes.c_char_p, c_u64,
                                        ctypes.POINTER(ctypes.c_char_p),
                                        ctypes.POINTER(ctypes.c_char_p),
                                        ctypes.POINTER(_Batch),
                                        ctypes.POINTER(_Reading)]),
        "ringside_version": (ctypes.c_char_p, []),
    }
    for name, (restype, argtypes) in protos.items():
        fn = getattr(lib, name)
        fn.restype = restype
        fn.argtypes = argtypes
    lib.hist_bound_us = list(
        (ctypes.c_uint32 * HIST_BUCKETS).in_dll(lib, "ringside_hist_bound_us"))


def _library():
    global _lib, _lib_path
    if _lib is None:
        path = library_path()
        lib = ctypes.CDLL(path)
        _declare(lib)
        _lib, _lib_path = lib, path
    return _lib


# ---- what is computed from the counters (as clients/stat.c does) ------------

def _quantile(hist, bounds, q):
    """Estimate the q quantile of a latency histogram, in microseconds,
    interpolating linearly within the bucket holding the rank; None when
    the histogram is empty.  The +Inf bucket reports its lower edge."""
    total = sum(hist)
    if total == 0:
        return None
    rank = q * float(total)
    below = 0
    i = 0
    while i < HIST_BUCKETS - 1:
        if float(below + hist[i]) >= rank:
            break
        below += hist[i]
        i += 1
    lo = float(bounds[i - 1]) if i > 0 else 0.0
    if i == HIST_BUCKETS - 1 or hist[i] == 0:
        est = lo
    else:
        hi = float(bounds[i])
        est = lo + (hi - lo) * (rank - float(below)) / float(hist[i])
    return int(math.floor(est + 0.5))


def _safe_name(raw):
    """A sensor name as ringside-stat prints it: names are [A-Za-z0-9_.-]
    by contract, and any other byte (a corrupt segment) shows as '?'."""
    return "".join(chr(c) if 0x20 <= c < 0x7f and c not in b'"\\' else "?"
                   for c in raw)


def _mono_ns():
    return time.clock_gettime_ns(time.CLOCK_MONOTONIC)


# ---- the reader -------------------------------------------------------------

class Reader:
    """A read-only attachment to the segment /dev/shm/ringside.NAME.

    from_ is where iteration starts: "oldest" (the oldest batch the ring
    still holds) or "now" (the next batch published).  Raises
    RingsideError (errno ENOENT when there is no segment, EPROTO when the
    file is not a valid segment, with the reason in the message).
    """

    def __init__(self, name, from_="oldest"):
        if from_ not in ("oldest", "now"):
            raise ValueError("from_ must be 'oldest' or 'now', not %r"
                             % (from_,))
        self._lib = _library()
        self._name = name
        self._mem = ctypes.create_string_buffer(_READER_ROOM)
        self._r = _ReaderStruct.from_buffer(self._mem)
        self._attached = False
        flags = FROM_OLDEST if from_ == "oldest" else FROM_NOW
        rc = self._lib.ringside_reader_attach(
            self._r, name.encode("utf-8", "surrogateescape"), flags)
        if rc < 0:
            raise self._error(rc)
        self._attached = True
        self._adopt()

    # -- attachment --

    def _error(self, rc):
        err = -rc
        if err == errno.ENOENT:
            text = "no segment /dev/shm/ringside.%s" % self._name
        else:
            text = self._lib.ringside_strerror(rc).decode("utf-8", "replace")
        return RingsideError(err, "%s: %s" % (self._name, text))

    def _adopt(self):
        """A segment has just been attached: copy its sensor table and
        size the buffers a batch needs."""
        r = self._r
        n = r.nsensors
        names, units = [], []
        name_buf = ctypes.create_string_buffer(NAME_MAX + 1)
        unit_buf = ctypes.create_string_buffer(UNIT_MAX + 1)
        for i in range(n):
            if self._lib.ringside_reader_sensor(r, i, name_buf, unit_buf) < 0:
                name_buf.value = unit_buf.value = b""
            names.append(name_buf.value)
            units.append(unit_buf.value)
        self._names_raw = names
        self._c_names = (ctypes.c_char_p * max(n, 1))(*names)
        self._c_units = (ctypes.c_char_p * max(n, 1))(*units)
        self._readings = (_Reading * max(n, 1))()
        self._batch = _Batch()
        self._json = ctypes.create_string_buffer(512 + 384 * max(n, 1))

    def _check(self):
        if not self._attached:
            raise ValueError("operation on a closed ringside.Reader")

    def close(self):
        """Detach from the segment (the engine is not affected)."""
        if self._attached:
            self._attached = False
            self._lib.ringside_reader_detach(self._r)

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()
        return False

    def __del__(self):
        try:
            self.close()
        except Exception:
            pass

    @property
    def name(self):
        """The engine's name."""
        return self._r.name.decode("ascii", "replace")

    @property
    def epoch(self):
        """The epoch of the segment attached (microseconds)."""
        return self._r.epoch_us

    @property
    def sensors(self):
        """The sensors' names, in the order of every batch."""
        return [n.decode("utf-8", "replace") for n in self._names_raw]

    # -- batches --

    def _batch_dict(self):
        lib, r, b = self._lib, self._r, self._batch
        while True:
            n = lib.ringside_json_batch(self._json, len(self._json),
                                        r.name, r.epoch_us, self._c_names,
                                        self._c_units, b, self._readings)
            if n >= 0:
                break
            if n != -errno.ENOSPC:
                raise self._error(n)
            self._json = ctypes.create_string_buffer(2 * len(self._json))
        return json.loads(self._json.raw[:n].decode("utf-8", "replace"))

    def __iter__(self):
        return self

    def __next__(self):
        lib, r = self._lib, self._r
        self._check()
        while True:
            rc = lib.ringside_reader_next(r, self._batch, self._readings,
                                          r.nsensors)
            if rc > 0:
                return self._batch_dict()
            if rc < 0:
                raise self._error(rc)
            ev = lib.ringside_reader_wait(r, _WAIT_MS)
            if ev < 0:
                raise self._error(ev)
            if ev in (READY, TIMEOUT):
                continue
            if ev == CLOSED:
                raise StopIteration
            if ev == DEAD:
                raise EngineDied(
                    errno.ESRCH, "%s: engine (pid %d) is gone"
                    % (self._name, lib.ringside_reader_pid(r)))
            # REPLACED: the new segment was renamed into place before the
            # old one was marked, so it is there to attach.
            rc = lib.ringside_reader_reattach(r, FROM_OLDEST)
            if rc == 0:
                self._adopt()
            elif rc not in (-errno.ENOENT, -errno.EAGAIN):
                raise self._error(rc)
            else:
                time.sleep(0.2)

    # -- counters --

    def _stats_view(self):
        """A private copy of the reader, positioned on the newest batch,
        so that the segment's state and the newest batch's time can be had
        without moving this reader's own position."""
        mem = ctypes.create_string_buffer(self._mem.raw, _READER_ROOM)
        view = _ReaderStruct.from_buffer(mem)
        head = self._lib.ringside_reader_head(view)
        if head > 0:
            view.next = head
            view.lost = 0
        return mem, view

    def _state(self, view):
        """The segment's state once @view has taken every batch, and the
        monotonic publication time of the newest one (0: none)."""
        lib, b = self._lib, _Batch()
        last_pub = 0
        for _ in range(3):
            while True:
                rc = lib.ringside_reader_next(view, b, None, 0)
                if rc < 0:
                    raise self._error(rc)
                if rc == 0:
                    break
                last_pub = b.published_mono_ns
            ev = lib.ringside_reader_state(view)
            if ev < 0:
                raise self._error(ev)
            if ev != READY:
                return _STATES.get(ev, "live"), last_pub
        return "live", last_pub  # batches keep coming: it is publishing

    def _program(self, program):
        """The counters of another program, as ringside-stat shows them,
        or None when its segment cannot be read (gone, not ours, corrupt:
        ringside-stat warns about the last, a library does not)."""
        lib = self._lib
        mem = ctypes.create_string_buffer(_AUX_ROOM)
        a = _AuxStruct.from_buffer(mem)
        if lib.ringside_aux_attach(a, self._r.name, program, 0) < 0:
            return None
        try:
            values = (ctypes.c_uint64 * AUX_MAX)()
            for attempt in range(_STATS_TRIES):
                rc = lib.ringside_aux_read(a, values, a.n)
                if rc != -errno.EAGAIN or attempt + 1 >= _STATS_TRIES:
                    break
                time.sleep(_STATS_PAUSE)
            state = lib.ringside_aux_state(a)
            if rc < 0 or state < 0:
                return None
            out = {"state": _AUX_STATES.get(state, "running")}
            key = ctypes.create_string_buffer(AUX_KEY_MAX + 1)
            for i in range(a.n):
                if lib.ringside_aux_key(a, i, key) < 0:
                    return None
                v = values[i]
                if key.value == b"breaker":  # a breaker state, by name
                    v = lib.ringside_breaker_name(
                        min(v, 0xffffffff)).decode("ascii")
                out[_safe_name(key.value)] = v
            return out
        finally:
            lib.ringside_aux_detach(a)

    def _programs(self):
        """{program: counters} for every other program of the engine, in
        name order."""
        width = NAME_MAX + 1
        names = ctypes.create_string_buffer(width * _PROGS_MAX)
        n = self._lib.ringside_aux_list(self._r.name, names, _PROGS_MAX)
        out = {}
        for i in range(min(max(n, 0), _PROGS_MAX)):
            program = names.raw[i * width:(i + 1) * width].split(b"\0")[0]
            if _safe_name(program) in _OWN_KEYS:
                continue
            counters = self._program(program)
            if counters is not None:
                out[_safe_name(program)] = counters
        return out

    def stats(self):
        """The counters, as the dict ``ringside-stat NAME --json`` prints
        (with "state": "live", "closed", "dead" or "replaced"), the other
        programs' included."""
        lib = self._lib
        self._check()
        mem, view = self._stats_view()
        state, last_pub = self._state(view)
        n = view.nsensors
        e = _EngineStats()
        s = (_SensorStats * max(n, 1))()
        for attempt in range(_STATS_TRIES):
            rc = lib.ringside_reader_stats(view, e, s, n)
            if rc != -errno.EAGAIN or attempt + 1 >= _STATS_TRIES:
                break
            time.sleep(_STATS_PAUSE)
        if rc == -errno.EAGAIN:
            why = ("the engine died while updating its counters"
                   if state == "dead" else
                   "the counters kept changing; no consistent copy could "
                   "be had")
            raise RingsideError(errno.EAGAIN, "%s: %s" % (self._name, why))
        if rc < 0:
            raise self._error(rc)
        now = _mono_ns()
        ec = e.counter
        started = ec[EC_STARTED_MONO_NS]
        end = now if state == "live" else last_pub
        uptime = (end - started) / 1e9 if started != 0 and end > started \
            else 0.0
        bounds = lib.hist_bound_us
        sensors = []
        for i in range(n):
            c = s[i].counter
            err = ctypes.c_int(c[SC_LAST_ERROR] & 0xffffffff).value
            hist = list(s[i].hist)
            sensors.append({
                "sensor": _safe_name(self._names_raw[i]),
                "breaker": lib.ringside_breaker_name(
                    c[SC_BREAKER] & 0xffffffff).decode("ascii"),
                "calls": c[SC_CALLS],
                "ok": c[SC_OK],
                "failed": c[SC_FAILED],
                "attempts": c[SC_ATTEMPTS],
                "retries": c[SC_RETRIES],
                "retry_ok": c[SC_RETRY_OK],
                "timeouts": c[SC_TIMEOUTS],
                "opens": c[SC_OPENS],
                "fast_fails": c[SC_FAST_FAILS],
                "probes": c[SC_PROBES],
                "last_error": (None if err == 0 else
                               lib.ringside_errno_name(err).decode("ascii")),
                "latency_us": {
                    "p50": _quantile(hist, bounds, 0.5),
                    "p99": _quantile(hist, bounds, 0.99),
                },
            })
        out = {
            "engine": self._r.name.decode("ascii", "replace"),
            "epoch": self._r.epoch_us,
            "state": state,
            "uptime_s": round(uptime, 1),
            "batches": ec[EC_BATCHES],
            "degraded_batches": ec[EC_DEGRADED],
            "late_batches": ec[EC_LATE],
            "missed_ticks": ec[EC_MISSED_TICKS],
            "sensors": sensors,
        }
        out.update(self._programs())
        return out
