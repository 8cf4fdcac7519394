"""cpu/threads.run_parts on both of its pools: the SpinPool (with numba) and the ThreadPoolExecutor (without it, or
for a second caller while the SpinPool is busy). Every part runs once, exceptions and numpy's error settings reach
the caller, workers that went to sleep wake, concurrent and nested sections finish. No timings here."""
import threading
import time

import numpy as np
import pytest

from darknet_py.cpu import jit, threads

needs_numba = pytest.mark.skipif(not jit.available(), reason="numba is not installed (pip install .[fast])")


@pytest.fixture(params=["spin", "executor"])
def pool_kind(request, monkeypatch):
    if request.param == "spin" and not jit.available():
        pytest.skip("numba is not installed (pip install .[fast])")
    if request.param == "executor":
        monkeypatch.setattr(threads, "_spin_pool", lambda workers: None)
    return request.param


@pytest.mark.parametrize("parts", [2, 3, 5])
def test_every_part_runs_once_in_each_section(pool_kind, parts):
    for section in range(200):
        seen = np.zeros(parts, np.int64)

        def part(i):
            seen[i] += section + 1
        threads.run_parts(part, parts)
        assert (seen == section + 1).all()


def test_exceptions_reach_the_caller_and_the_pool_goes_on(pool_kind):
    def worker_fails(i):
        if i == 1:
            raise ValueError("part 1")
    with pytest.raises(ValueError, match="part 1"):
        threads.run_parts(worker_fails, 2)
    done = []
    with pytest.raises(KeyError):
        threads.run_parts(lambda i: done.append(i) if i else {}["caller"], 2)
    assert done == [1]  # the caller raises once the other part is done
    out = np.zeros(2)
    threads.run_parts(lambda i: out.__setitem__(i, 1), 2)
    assert out.tolist() == [1, 1]


def test_numpy_error_settings_reach_every_part(pool_kind):
    def divide(i):
        np.float32(1) / np.zeros(4, np.float32)
    with np.errstate(divide="raise"):
        with pytest.raises(FloatingPointError):
            threads.run_parts(divide, 2)
    with np.errstate(divide="ignore"):
        threads.run_parts(divide, 2)


@needs_numba
def test_sleeping_workers_wake(monkeypatch):
    """A pool that polls for only one pause: its workers block between sections, and are woken."""
    monkeypatch.setattr(threads, "SPIN_SECONDS", 0)
    monkeypatch.setattr(threads, "_spinning", None)
    for _ in range(20):
        out = np.zeros(3)
        threads.run_parts(lambda i: (time.sleep(.002 * i), out.__setitem__(i, 1)), 3)
        assert out.tolist() == [1, 1, 1]
        time.sleep(.003)
    threads._spinning.close()
    monkeypatch.undo()


def test_concurrent_and_nested_sections_finish(pool_kind):
    results = {}

    def caller(name):
        total = np.zeros(4)

        def outer(i):
            inner = np.zeros(2)
            threads.run_parts(lambda j: inner.__setitem__(j, i + 1), 2)  # inside a part: in order, on its thread
            total[i] = inner.sum()
        for _ in range(50):
            threads.run_parts(outer, 4)
        results[name] = total.tolist()
    callers = [threading.Thread(target=caller, args=(n,)) for n in range(3)]
    for t in callers:
        t.start()
    for t in callers:
        t.join(60)
    assert results == {n: [2.0, 4.0, 6.0, 8.0] for n in range(3)}


@needs_numba
def test_polling_sees_another_threads_store():
    """spin.wait_change reads the counter afresh at every poll (it is not kept in a register)."""
    from darknet_py.cpu import spin
    state = np.zeros(3, np.int64)
    threading.Timer(.05, lambda: state.__setitem__(0, 7)).start()
    assert spin.wait_change(state, 0, 0, spin.spins_for(10))
    assert not spin.wait_change(state, 0, 7, 100)
    state[1:] = 7
    assert spin.wait_all(state, 1, 3, 7, 0)
    state[2] = 6
    assert not spin.wait_all(state, 1, 3, 7, 100)
