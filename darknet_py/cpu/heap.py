"""Keep freed memory in the process (glibc malloc), for training on the CPU; how much memory the machine has.

A training step allocates and frees the same large arrays every time (im2col columns, activations,
deltas). By default glibc hands big blocks back to the kernel (mmap/munmap, heap trimming, per-thread
arenas), so every step faults in freshly zeroed pages again: measured ~1 s of kernel time per yolov2-tiny
416 step at minibatch 16. These mallopt settings make free() keep the memory for the next step.
"""
import ctypes
import ctypes.util
import functools
import os

M_TRIM_THRESHOLD = -1  # mallopt parameters from glibc's malloc.h
M_MMAP_MAX = -4
M_ARENA_MAX = -8
TRIM_THRESHOLD = 2 ** 31 - 1  # the largest int: never give the top of the heap back


@functools.cache  # once per process: the settings stay
def keep_freed_memory():
    """No mmap'ed blocks, one arena, no trimming. A no-op where libc has no mallopt."""
    mallopt = getattr(ctypes.CDLL(ctypes.util.find_library("c")), "mallopt", None)
    if mallopt is not None:
        for param, value in ((M_MMAP_MAX, 0), (M_ARENA_MAX, 1), (M_TRIM_THRESHOLD, TRIM_THRESHOLD)):
            mallopt(param, value)


def physical_memory():
    """Bytes of memory this machine has (what no buffer can exceed); unbounded where the OS does not say."""
    try:
        return os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
    except (ValueError, OSError, AttributeError):
        return float("inf")
