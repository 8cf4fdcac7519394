"""Waiting by spinning, outside Python's lock (numba, optional - imported only where jit.available()): how
threads.SpinPool hands a parallel section to its threads and learns that they are done without putting a core
to sleep between two sections.

A thread that blocks (a futex) lets its core halt; on the KVM guests measured, whose cpuidle driver is haltpoll
with guest_halt_poll_ns=0, waking it again took 60-100 us, and a yolov2-tiny forward has some twenty sections:
with the guest's halt polling raised to 5 ms (the same as never halting) that forward took 22.3-22.7 ms against
23.4-23.7. The loops here poll the counters with the CPU's spin-wait hint between two reads (x86's `pause`, Arm's
`yield`), whose memory clobber makes every read a fresh load (LLVM would otherwise keep the first in a register).
"""
import platform
import time

import numpy as np
from llvmlite import binding, ir
from numba import njit, types
from numba.core.extending import intrinsic

try:
    binding.initialize_native_asmparser()  # numba's JIT leaves it out, and `pause` is inline assembly
except (AttributeError, RuntimeError):  # llvmlite releases that initialise everything themselves
    pass


# The CPU's spin-wait hint; elsewhere no instruction, the memory clobber alone (a fresh load at every read).
SPIN_HINT = {"x86_64": "pause", "amd64": "pause", "aarch64": "yield", "arm64": "yield"}.get(
    platform.machine().lower(), "")


@intrinsic
def _pause(typingctx):
    def codegen(context, builder, signature, args):
        builder.asm(ir.FunctionType(ir.VoidType(), []), SPIN_HINT, "~{memory}", [], side_effect=True)
        return context.get_dummy_value()
    return types.void(), codegen


@njit(nogil=True, cache=True)
def wait_change(state, index, value, spins):
    """Poll until state[index] != value, at most `spins` pauses; True if it changed."""
    for _ in range(spins):
        if state[index] != value:
            return True
        _pause()
    return state[index] != value


@njit(nogil=True, cache=True)
def done_then_wait(state, index, section, spins):
    """state[index] = section (the section done, stored with Python's lock already released, so that the caller
    polling for it never waits for that lock), then wait_change(state, 0, section, spins)."""
    state[index] = section
    return wait_change(state, 0, section, spins)


@njit(nogil=True, cache=True)
def wait_all(state, first, stop, value, spins):
    """Poll until state[first:stop] all equal value, at most `spins` pauses; True if they did."""
    for _ in range(spins + 1):
        done = True
        for j in range(first, stop):
            done = done and state[j] == value
        if done:
            return True
        _pause()
    return False


def spins_for(seconds, probe=20000):
    """How many polls take about `seconds` on this CPU (a pause lasts 10-150 cycles, by the CPU's make)."""
    state = np.zeros(1, np.int64)
    wait_change(state, 0, 0, 10)  # compiled (or loaded from numba's cache) before it is timed
    began = time.perf_counter()
    wait_change(state, 0, 0, probe)
    return max(1, int(seconds * probe / max(time.perf_counter() - began, 1e-9)))
