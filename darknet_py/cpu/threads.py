"""How many threads the fast path uses, and the pool that runs its parts.

The count is, first found: set_threads(n) (the CLI's `-threads N`), the DARKNET_PY_THREADS environment
variable, else every core this process may run on (os.sched_getaffinity, which honours taskset and
container CPU sets, unlike os.cpu_count).
"""
import contextlib
import os
import sys
import threading
from concurrent.futures import ThreadPoolExecutor

import numpy as np

from ..errors import DarknetError
from . import jit

THREADS_VAR = "DARKNET_PY_THREADS"

_requested = None  # set_threads' value; None: environment or cores
_pool = None       # (threads, ThreadPoolExecutor) built for the current count
_spinning = None   # the SpinPool (with numba)
_resizing = threading.Lock()
_NO_SPINNING = object()  # _spinning once SpinPool could not be built
_part = threading.local()  # .running: this thread is in a part of a section


def available_cores():
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # platforms without sched_getaffinity
        return os.cpu_count() or 1


def thread_count(environ=os.environ):
    """The number of threads the fast path runs: set_threads, else $DARKNET_PY_THREADS, else the cores."""
    if _requested is not None:
        return _requested
    raw = environ.get(THREADS_VAR, "").strip()
    if not raw:
        return available_cores()
    try:
        n = int(raw)
    except ValueError:
        raise DarknetError(f"{THREADS_VAR} must be a positive integer, got '{raw}'") from None
    if n < 1:
        raise DarknetError(f"{THREADS_VAR} must be a positive integer, got '{raw}'")
    return n


def set_threads(n):
    """Fix the thread count (None: back to the environment / core count)."""
    global _requested
    if n is not None and int(n) < 1:
        raise DarknetError(f"the thread count must be positive, got {n}")
    _requested = None if n is None else int(n)


def share_cores(processes):
    """Threads for one of `processes` processes that share this host's cores (ranks of a data-parallel job),
    unless a count was asked for (set_threads, $DARKNET_PY_THREADS)."""
    global _requested
    if _requested is None and not os.environ.get(THREADS_VAR, "").strip():
        _requested = max(1, available_cores() // max(processes, 1))


SPIN_SECONDS = 5e-4  # how long an idle pool thread, or the caller waiting for it, polls before it blocks
WAKE_SECONDS = 1e-3  # the blocked caller looks at the workers' counters at least this often


class SpinPool:
    """`workers` threads that run the parts of one parallel section at a time, handed over through a counter they
    poll (spin.py, outside Python's lock) for SPIN_SECONDS before they block on a condition: between two of a
    forward's sections no core halts. state[0] is the section's number, state[1 + j] the last one worker j did."""

    def __init__(self, workers):
        from . import spin
        self.spin, self.workers = spin, workers
        self.spins = spin.spins_for(SPIN_SECONDS)
        self.state = np.zeros(1 + workers, np.int64)
        self.section, self.task, self.errors = 0, None, [None] * workers
        self.posted, self.sleepers = threading.Condition(), 0
        self.finished, self.waiting = threading.Condition(), False
        self.busy = threading.Lock()  # one section at a time: another thread's meanwhile uses the executor
        for j in range(workers):
            threading.Thread(target=self._work, args=(j,), daemon=True, name=f"darknet-py-{j}").start()

    def _work(self, j):
        posted = self.spin.wait_change(self.state, 0, 0, self.spins)
        while True:
            if not posted:
                with self.posted:
                    self.sleepers += 1
                    while self.state[0] == self.state[1 + j]:
                        self.posted.wait()
                    self.sleepers -= 1
            section = int(self.state[0])
            if section < 0:  # close()
                return
            fn, parts, errors = self.task
            if j + 1 < parts:
                try:
                    with np.errstate(**errors), _in_part():
                        fn(j + 1)
                except BaseException as e:  # noqa: BLE001 - raised by the caller
                    self.errors[j] = e
            with self.finished:
                if self.waiting:  # the caller blocked: done now, under the lock it waits on
                    self.state[1 + j] = section
                    self.finished.notify()
            posted = self.spin.done_then_wait(self.state, 1 + j, section, self.spins)

    def run(self, fn, parts):
        """fn(0) here, fn(1) .. fn(parts-1) on the workers; the first exception raised, once all are done."""
        self.task = (fn, parts, np.geterr())
        self.section += 1
        with self.posted:
            self.state[0] = self.section
            if self.sleepers:
                self.posted.notify_all()
        try:
            with _in_part():
                fn(0)
        finally:
            if not self.spin.wait_all(self.state, 1, 1 + self.workers, self.section, self.spins):
                with self.finished:
                    self.waiting = True
                    while (self.state[1:] != self.section).any():
                        # a worker that found no one waiting stores its part done without the lock: look again
                        self.finished.wait(WAKE_SECONDS)
                    self.waiting = False
            errors, self.errors = self.errors, [None] * self.workers
        error = next((e for e in errors if e is not None), None)  # fn(0)'s own exception goes first
        if error is not None:
            raise error

    def close(self):
        with self.posted:
            self.state[0] = -1
            self.posted.notify_all()


@contextlib.contextmanager
def _in_part():
    """Marks this thread as running a part (the pools' threads can't wait for sections of their own)."""
    _part.running = True
    try:
        yield
    finally:
        _part.running = False


def _spin_pool(workers):
    """The process's SpinPool of at least `workers` threads, or None: without numba, or while the pool that is too
    small still runs another caller's section (a closed pool keeps its busy lock, so nobody runs on it again)."""
    global _spinning
    pool = _spinning
    if pool is _NO_SPINNING or not jit.available():
        return None
    if pool is not None and pool.workers >= workers:  # every section but the first: no lock
        return pool
    with _resizing:
        if _spinning is None or (_spinning is not _NO_SPINNING and _spinning.workers < workers):
            if _spinning is not None:
                if not _spinning.busy.acquire(blocking=False):
                    return None
                _spinning.close()
            try:
                _spinning = SpinPool(workers)
            except Exception as e:  # noqa: BLE001 - a numba or llvmlite that cannot build the polling loops
                print(f"darknet-py: the spinning thread pool is off ({e}); sections run on a thread pool",
                      file=sys.stderr)
                _spinning = _NO_SPINNING
        return None if _spinning is _NO_SPINNING else _spinning


def run_parts(fn, parts):
    """Call fn(0) .. fn(parts-1) at once, fn(0) on this thread; return when all are done.

    Exceptions propagate. numpy releases the GIL in copies, ufunc loops and BLAS calls, so the parts
    run in parallel as long as each is made of large array operations. The pool's threads run under the
    caller's numpy error settings (np.errstate is per thread), so a forward's silent NaN and inf stay silent.
    With numba, the SpinPool runs them, and another thread's section while it is busy runs on a
    ThreadPoolExecutor; a section that a part starts runs its parts in order on that part's thread.
    """
    global _pool
    if parts <= 1 or getattr(_part, "running", False):  # a section inside a part runs on its thread, in order
        for i in range(parts):
            fn(i)
        return
    pool = _spin_pool(parts - 1)
    if pool is not None and pool.busy.acquire(blocking=False):
        try:
            pool.run(fn, parts)
        finally:
            pool.busy.release()
        return
    if _pool is None or _pool[0] < parts - 1:
        if _pool is not None:
            _pool[1].shutdown()
        _pool = (parts - 1, ThreadPoolExecutor(parts - 1, thread_name_prefix="darknet-py"))
    state = np.geterr()

    def part(i):
        with np.errstate(**state), _in_part():
            fn(i)
    futures = [_pool[1].submit(part, i) for i in range(1, parts)]
    try:
        with _in_part():
            fn(0)
    finally:
        for f in futures:
            f.result()


def split(n):
    """range(n) cut into at most thread_count() contiguous, near-equal, non-empty slices."""
    parts = max(1, min(n, thread_count()))
    bounds = [n * i // parts for i in range(parts + 1)]
    return [slice(lo, hi) for lo, hi in zip(bounds, bounds[1:])]


def run_slices(fn, n):
    """fn(s) for each slice s of split(n), all at once on the pool (see run_parts)."""
    slices = split(n)
    run_parts(lambda i: fn(slices[i]), len(slices))
