"""How many threads the fast path uses, and the pool that runs its parts.

The count is, first found: set_threads(n) (the CLI's `-threads N`), the DARKNET_PY_THREADS environment
variable, else every core this process may run on (os.sched_getaffinity, which honours taskset and
container CPU sets, unlike os.cpu_count).
"""
import os
from concurrent.futures import ThreadPoolExecutor

import numpy as np

from ..errors import DarknetError

THREADS_VAR = "DARKNET_PY_THREADS"

_requested = None  # set_threads' value; None: environment or cores
_pool = None       # (threads, ThreadPoolExecutor) built for the current count


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


def run_parts(fn, parts):
    """Call fn(0) .. fn(parts-1) at once, fn(0) on this thread; return when all are done.

    Exceptions propagate. numpy releases the GIL in copies, ufunc loops and BLAS calls, so the parts
    run in parallel as long as each is made of large array operations. The pool's threads run under the
    caller's numpy error settings (np.errstate is per thread), so a forward's silent NaN and inf stay silent.
    """
    global _pool
    if parts <= 1:
        fn(0)
        return
    if _pool is None or _pool[0] < parts - 1:
        if _pool is not None:
            _pool[1].shutdown()
        _pool = (parts - 1, ThreadPoolExecutor(parts - 1, thread_name_prefix="darknet-py"))
    state = np.geterr()

    def part(i):
        with np.errstate(**state):
            fn(i)
    futures = [_pool[1].submit(part, i) for i in range(1, parts)]
    try:
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
