"""Many processes, one job: the ranks, their collectives, sharding, and what only rank 0 does.

A process started by `mpirun -np N` (or by `-gpus 0,1,...`, which starts mpirun itself: `launch`) is one rank
of N; `world()` is None in a plain single process, and mpi4py is imported only when there are ranks, so a plain
run needs no MPI. Every collective is non-blocking and waited on with a watchdog: a rank that gets no answer
from the others within `timeout` seconds (one hangs, or died without mpirun noticing) prints one line and
aborts the whole job (MPI_Abort). A rank that dies outright ends the job sooner: mpirun kills the others when
one of its processes exits abnormally. Checkpoints are written by rank 0 alone, atomically (weights.py), so a
job killed at any moment leaves the last one whole.

Gradients are summed by a backend: `MpiBackend` (MPI_Iallreduce on host buffers; device buffers go through
a host copy) or `NcclBackend` (cupy.cuda.nccl on device buffers, on its own stream, with the communicator's
id sent from rank 0 over MPI).

Sharded inference (`in_order`): chunk k of the inputs goes to rank k % N, and rank 0 yields every chunk's
results in the inputs' order, so what it writes is what one process writes.
"""
import contextlib
import os
import shutil
import subprocess
import sys
import time
import traceback

import numpy as np

from ..errors import DarknetError
from ..gpu.device import array_module, gpu_count, to_numpy

SIZE_VARIABLES = ("OMPI_COMM_WORLD_SIZE", "PMI_SIZE")  # set for each rank by Open MPI's and MPICH's mpirun
LOCAL_RANK_VARIABLES = ("OMPI_COMM_WORLD_LOCAL_RANK", "MPI_LOCALRANKID")
LOCAL_SIZE_VARIABLES = ("OMPI_COMM_WORLD_LOCAL_SIZE", "MPI_LOCALNRANKS")
DEFAULT_TIMEOUT = 600.  # seconds a rank waits in a collective before it aborts the job (-timeout)
NCCL_ID_BYTES = 128  # ncclUniqueId (cupy.cuda.nccl.get_unique_id gives its bytes as 128 ints)
OTHERS_REPORT_AFTER = 1.  # seconds a rank other than 0 waits before reporting an error and aborting
POLL_FIRST, POLL_MAX = 1e-5, 1e-3  # sleeps between tests of a pending request: short, then freeing the core
# What `launch` sets for mpirun (Open MPI's names; other MPIs ignore them): root is allowed, more ranks than
# cores are allowed, and no rank is pinned to one core (a rank runs loader and compute threads).
LAUNCH_ENVIRONMENT = {"OMPI_ALLOW_RUN_AS_ROOT": "1", "OMPI_ALLOW_RUN_AS_ROOT_CONFIRM": "1",
                      "OMPI_MCA_rmaps_base_oversubscribe": "1", "OMPI_MCA_hwloc_base_binding_policy": "none"}


def _first_int(names, default, environ):
    for name in names:
        value = environ.get(name, "")
        if value.isdigit():
            return int(value)
    return default


def launched_size(environ=os.environ):
    """How many ranks mpirun started this process among (1 outside mpirun), read without importing MPI."""
    return _first_int(SIZE_VARIABLES, 1, environ)


def local_rank(environ=os.environ):
    """This rank's index among the ranks on its host (which GPU of -gpus it takes)."""
    return _first_int(LOCAL_RANK_VARIABLES, 0, environ)


def local_size(environ=os.environ):
    return _first_int(LOCAL_SIZE_VARIABLES, 1, environ)


_world = None


def world(timeout=None):
    """This process's World when mpirun started it as one of several ranks, else None."""
    global _world
    if _world is None and launched_size() > 1:
        try:
            from mpi4py import MPI
        except ImportError:
            raise DarknetError("started by mpirun as one of several ranks, but mpi4py is not installed "
                               "(pip install mpi4py)") from None
        _world = World(MPI)
    if _world is not None and timeout is not None:
        _world.timeout = timeout
    return _world


def is_main(world):
    """Rank 0, or a single process: the one that prints, draws the chart and writes checkpoints."""
    return world is None or world.main


class World:
    """The ranks of MPI_COMM_WORLD: this one's rank, their number, and watched collectives."""

    def __init__(self, mpi, timeout=DEFAULT_TIMEOUT):
        self.MPI, self.comm = mpi, mpi.COMM_WORLD
        self.rank, self.size = self.comm.Get_rank(), self.comm.Get_size()
        self.timeout = timeout

    @property
    def main(self):
        return self.rank == 0

    def wait(self, requests, what):
        """Wait for every request; past the timeout, abort the job naming what was waited for."""
        deadline = time.monotonic() + self.timeout
        pause = POLL_FIRST
        while not self.MPI.Request.Testall(requests):
            if time.monotonic() > deadline:
                self.abort(f"{what}: no answer from all {self.size} ranks within {self.timeout:g} s "
                           f"(a rank died or hangs); stopping the job")
            time.sleep(pause)
            pause = min(2 * pause, POLL_MAX)

    def iallreduce(self, host):
        """Start summing the numpy buffer `host` in place across the ranks."""
        return self.comm.Iallreduce(self.MPI.IN_PLACE, host, op=self.MPI.SUM)

    def allreduce(self, host, what):
        self.wait([self.iallreduce(host)], what)
        return host

    def sum(self, values, what):
        """The sums across the ranks of a few numbers (float64), as a numpy array."""
        return self.allreduce(np.array(values, np.float64), what)

    def broadcast(self, host, what):
        """rank 0's values of the numpy buffer `host`, on every rank."""
        self.wait([self.comm.Ibcast(host, root=0)], what)
        return host

    def send(self, obj, tag):
        """Start sending a picklable object to rank 0 (wait on the request before reusing what it refers to)."""
        return self.comm.isend(obj, dest=0, tag=tag)

    def receive(self, source, tag, what):
        """The object rank `source` sent with `tag`, waited for with the watchdog."""
        deadline = time.monotonic() + self.timeout
        pause = POLL_FIRST
        while not self.comm.Iprobe(source=source, tag=tag):
            if time.monotonic() > deadline:
                self.abort(f"{what}: nothing from rank {source} within {self.timeout:g} s (it died or hangs); "
                           f"stopping the job")
            time.sleep(pause)
            pause = min(2 * pause, POLL_MAX)
        return self.comm.recv(source=source, tag=tag)

    def abort(self, message, status=1):
        """One line on stderr, then MPI_Abort: mpirun ends every rank of the job."""
        print(f"darknet-py: error: rank {self.rank} of {self.size}: {message}", file=sys.__stderr__, flush=True)
        self.comm.Abort(status)


@contextlib.contextmanager
def running(world):
    """Run a job's body on every rank: ranks other than 0 print nothing; an error on any rank prints one line
    and ends the whole job at once (the others would otherwise wait for it in their next collective)."""
    if world is None:
        yield
        return
    saved = sys.stdout, sys.stderr
    if not world.main:
        sys.stdout = sys.stderr = open(os.devnull, "w")
    try:
        yield
    except KeyboardInterrupt:
        world.abort("interrupted", 130)
    except DarknetError as e:
        if not world.main:  # rank 0 meets the same error (a NaN loss, a finished schedule) and reports it
            time.sleep(OTHERS_REPORT_AFTER)
        world.abort(str(e))
    except BaseException as e:  # a bug: its traceback, then the job ends
        traceback.print_exception(e, file=sys.__stderr__)
        world.abort(f"{type(e).__name__}: {e}")
    finally:
        if sys.stdout is not saved[0]:
            sys.stdout.close()
        sys.stdout, sys.stderr = saved


def shard(items, world):
    """This rank's items: every N-th from its rank on (all of them in a single process)."""
    if world is None:
        return list(items)
    mine = list(items)[world.rank::world.size]
    if not mine:
        raise DarknetError(f"{world.size} ranks but only {len(items)} items to share: rank {world.rank} has none")
    return mine


def in_order(world, items, chunk, run):
    """run(part) yields one result per item of `part`; this yields the results of all `items` (a list) in order
    on rank 0 (nothing on the others), chunk k of `chunk` items computed by rank k % N. Rank 0 computes its
    chunks as it reaches them and receives the others' as they come, so the output streams. Without ranks
    it is run(items), and items may be any iterable."""
    if world is None:
        yield from run(items)
        return
    chunks = [items[i:i + chunk] for i in range(0, len(items), chunk)]
    mine = chunks[world.rank::world.size]
    results = run([item for part in mine for item in part])
    if not world.main:
        pending = None
        for k, part in zip(range(world.rank, len(chunks), world.size), mine):
            values = [next(results) for _ in part]
            if pending is not None:
                world.wait([pending], f"sending results to rank 0 (chunk {k - world.size})")
            pending = world.send(values, k)
        if pending is not None:
            world.wait([pending], "sending the last results to rank 0")
        return
    for k, part in enumerate(chunks):
        owner = k % world.size
        if owner == 0:
            yield from (next(results) for _ in part)
        else:
            yield from world.receive(owner, k, f"results of chunk {k} of {len(chunks)}")


# ----------------------------------------------------------------------------------------------------
# Starting the ranks: Darknet's -gpus 0,1,2,3.

def gpu_list(gpus):
    """-gpus "0,1,2" as a list of strings ([] for none)."""
    return [g for g in str(gpus).split(",") if g.strip()] if gpus else []


def should_launch(gpus, environ=os.environ):
    """-gpus with several GPUs, outside mpirun: this process starts the ranks instead of training."""
    return len(gpu_list(gpus)) > 1 and launched_size(environ) == 1


def rank_gpu(gpus, environ=os.environ, visible=None):
    """The GPU this rank takes: the one of -gpus at its local rank, or without -gpus the visible GPU at its local
    rank (none on a machine without GPUs); the flag as it is in a single process."""
    if launched_size(environ) == 1:
        return gpus
    listed = gpu_list(gpus)
    if listed:
        return listed[local_rank(environ) % len(listed)]
    visible = gpu_count() if visible is None else visible
    return str(local_rank(environ) % visible) if visible else gpus


def launch_command(count, argv, python=sys.executable):
    """mpirun's command line for `count` ranks of `darknet-py <argv>` on this host."""
    mpirun = shutil.which("mpirun")
    if mpirun is None:
        raise DarknetError(f"-gpus with {count} GPUs starts one process per GPU with mpirun, which is not "
                           f"installed (apt-get install openmpi-bin, pip install mpi4py)")
    return [mpirun, "-np", str(count), python, "-m", "darknet_py"] + list(argv)


def launch(count, argv):
    """Run `darknet-py <argv>` as `count` ranks under mpirun and wait for them; errors if the job failed."""
    status = subprocess.call(launch_command(count, argv), env={**os.environ, **LAUNCH_ENVIRONMENT})
    if status:
        raise DarknetError(f"the {count} ranks ended with status {status} (their messages are above)")


# ----------------------------------------------------------------------------------------------------
# Summing buffers across the ranks.

class MpiBackend:
    """Sums float32 buffers in place with MPI_Iallreduce; a device buffer goes through a host copy."""

    def __init__(self, world):
        self.world = world

    def start(self, flat):
        host = flat if isinstance(flat, np.ndarray) else to_numpy(flat)
        return self.world.iallreduce(host), host, flat

    def progress(self, pending):
        """Let MPI move the started sums on (Open MPI advances a non-blocking collective only inside MPI calls)."""
        self.world.MPI.Request.Testall([request for request, _, _ in pending])

    def finish(self, pending, what):
        self.world.wait([request for request, _, _ in pending], what)
        for _, host, flat in pending:
            if host is not flat:
                flat.set(host)


def _pointer(a):
    return a.ctypes.data if isinstance(a, np.ndarray) else a.data.ptr


class NcclBackend:
    """Sums float32 device buffers in place with NCCL (cupy.cuda.nccl). Each sum runs on the backend's own
    stream after an event recorded on the compute stream, so it overlaps the backward still being launched
    there; finish makes the compute stream wait for the sums (watched: an NCCL peer that died never answers).
    `nccl` is the module (tests pass a stand-in that runs on host buffers over MPI)."""

    def __init__(self, world, nccl=None):
        if nccl is None:
            from cupy.cuda import nccl
        self.world, self.nccl = world, nccl
        uid = np.zeros(NCCL_ID_BYTES, np.int64)
        if world.main:
            uid[:] = nccl.get_unique_id()
        world.broadcast(uid, "the NCCL communicator's id")
        self.comm = nccl.NcclCommunicator(world.size, tuple(int(v) for v in uid), world.rank)
        self.stream = None

    def _streams(self, flat):
        """(the compute stream, the NCCL stream) for a device buffer; None for a host buffer (the stand-in)."""
        if isinstance(flat, np.ndarray):
            return None
        import cupy
        if self.stream is None:
            self.stream = cupy.cuda.Stream(non_blocking=True)
        return cupy.cuda.get_current_stream(), self.stream

    def start(self, flat):
        streams = self._streams(flat)
        stream_ptr = 0
        if streams is not None:
            compute, own = streams
            own.wait_event(compute.record())
            stream_ptr = own.ptr
        self.comm.allReduce(_pointer(flat), _pointer(flat), flat.size, self.nccl.NCCL_FLOAT32, self.nccl.NCCL_SUM,
                            stream_ptr)
        return streams

    def progress(self, pending):
        pass  # the GPU runs the sums on its own stream

    def finish(self, pending, what):
        if not pending or pending[0] is None:
            return
        compute, own = pending[0]
        done = own.record()
        deadline = time.monotonic() + self.world.timeout
        while not done.done:
            if time.monotonic() > deadline:
                self.comm.abort()
                self.world.abort(f"{what}: NCCL got no answer from all {self.world.size} ranks within "
                                 f"{self.world.timeout:g} s (a rank died or hangs); stopping the job")
            time.sleep(POLL_MAX)
        compute.wait_event(done)


def backend_for(world, arrays, nccl=None):
    """NCCL for device arrays when cupy.cuda.nccl is there (or a stand-in is given), else MPI."""
    if nccl is not None:
        return NcclBackend(world, nccl)
    if any(not isinstance(a, np.ndarray) for a in arrays):
        try:
            from cupy.cuda import nccl as found
        except ImportError:
            found = None
        if found is not None and getattr(found, "available", True):
            return NcclBackend(world, found)
    return MpiBackend(world)


def put(flat, start, array):
    """flat[start:start + array.size] = array, across array modules."""
    end = start + array.size
    if array_module(flat) is array_module(array):
        flat[start:end] = array.ravel()
    elif isinstance(flat, np.ndarray):
        flat[start:end] = to_numpy(array).ravel()
    else:
        flat[start:end] = array_module(flat).asarray(array.ravel())
    return end


def segment(flat, start, like_array):
    """flat[start:...] shaped as like_array, in like_array's module."""
    part = flat[start:start + like_array.size].reshape(like_array.shape)
    if array_module(part) is array_module(like_array):
        return part
    return to_numpy(part) if isinstance(like_array, np.ndarray) else array_module(like_array).asarray(part)
