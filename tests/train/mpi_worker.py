"""One rank of the data-parallel tests (tests/train/test_distributed.py starts it under mpirun).

    mpi_worker.py <out folder> <data> <cfg> <weights> <mode> [<mode> ...]

Each mode (allreduce, nccl: allreduce through NcclBackend with the stand-in below, darknet: -sync darknet)
runs train_detector with seed 0 on a fresh copy of <weights>; then every rank saves the network it holds as
<out>/<mode>.rank<r>.weights, and rank 0 also keeps the job's final file as <out>/<mode>.final.weights.
"""
import contextlib
import ctypes
import io
import os
import shutil
import sys

import numpy as np
from mpi4py import MPI

from darknet_py.train import data_parallel
from darknet_py.train import train_detector as td


SMALL_BUCKETS = 4 << 10  # bytes: the test network's 26 KiB of gradients as 3 buckets


class StandInNccl:
    """The part of cupy.cuda.nccl that NcclBackend calls, on host buffers given by address, summed over MPI:
    the NCCL code path (id from rank 0, pointers, counts, types) on a machine without a GPU."""
    NCCL_FLOAT32, NCCL_SUM = 7, 0  # nccl.h's ncclFloat32 and ncclSum
    calls = 0

    @staticmethod
    def get_unique_id():
        return tuple(np.frombuffer(os.urandom(128), np.int8).tolist())

    class NcclCommunicator:
        def __init__(self, ndev, uid, rank):
            comm = MPI.COMM_WORLD
            assert (ndev, rank) == (comm.size, comm.rank)
            assert len(set(comm.allgather(uid))) == 1, "the ranks got different NCCL ids"
            self.comm = comm.Dup()

        def allReduce(self, sendbuf, recvbuf, count, datatype, op, stream):  # noqa: N802 (cupy's name)
            assert (datatype, op, stream) == (StandInNccl.NCCL_FLOAT32, StandInNccl.NCCL_SUM, 0)
            array = np.frombuffer((ctypes.c_float * count).from_address(recvbuf), np.float32)
            if sendbuf != recvbuf:
                array[...] = np.frombuffer((ctypes.c_float * count).from_address(sendbuf), np.float32)
            self.comm.Allreduce(MPI.IN_PLACE, array, op=MPI.SUM)
            StandInNccl.calls += 1

        def abort(self):
            pass


def train(out, data, cfg, weights, mode):
    rank = MPI.COMM_WORLD.rank
    start = os.path.join(out, f"{mode}.start.rank{rank}.weights")
    shutil.copy(weights, start)
    held = {}
    load = td.load_training_network
    td.load_training_network = lambda *a: held.setdefault("net", load(*a))
    data_parallel.BUCKET_BYTES = SMALL_BUCKETS
    team = data_parallel.team(data_parallel.DARKNET if mode == "darknet" else data_parallel.ALLREDUCE,
                              nccl=StandInNccl if mode == "nccl" else None)
    with team.running(), contextlib.redirect_stdout(io.StringIO()) as log, np.errstate(all="ignore"):
        final = td.train_detector(data, cfg, start, seed=0, progress=False, team=team)
    td.load_training_network = load
    held["net"].save_weights(os.path.join(out, f"{mode}.rank{rank}.weights"))
    if rank == 0:
        shutil.copy(final, os.path.join(out, f"{mode}.final.weights"))
        with open(os.path.join(out, f"{mode}.log"), "w") as f:
            f.write(log.getvalue())
    if mode == "nccl":
        assert StandInNccl.calls > 0, "the NCCL backend was not used"
    if mode != "darknet":  # the last layers' buckets were summed while the backward went on below them
        buckets = team.buckets
        assert len(buckets.buckets) == 3 and buckets.overlapped == 3, (buckets.buckets, buckets.overlapped)


if __name__ == "__main__":
    out, data, cfg, weights, *modes = sys.argv[1:]
    for mode in modes:
        train(out, data, cfg, weights, mode)
