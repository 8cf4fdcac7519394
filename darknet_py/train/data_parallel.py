"""Data-parallel training: the hooks of the `detector train` and `classifier train` loops, one team per job.

`Solo` (one process) does what the loops always did. With N ranks (distributed.py), as Darknet's `-gpus`
(examples/detector.c train_detector: `nets[i]->learning_rate *= ngpus`; network.c sync_nets: `seen +=
interval*(n-1)*batch*subdivisions`) the learning rate is multiplied by N and `seen` counts every rank's images,
so the batch number (seen / the cfg's batch) moves by N per iteration: max_batches, steps and burn_in count
the same images whatever the rank count, and a checkpoint resumes with any number of ranks. Each rank draws
from its own shard of the train list with its own random stream (the seed plus rank << 32, the seed being
rank 0's); the ranks start from rank 0's parameters.

- `Allreduce` (the default): every iteration the ranks' gradients are summed (GradientBuckets, overlapped
  with the backward) and every rank takes the same SGD step, over the N ranks' images. Batch-norm normalises
  each minibatch with its own statistics, so N ranks of `subdivisions` minibatches of m images take exactly
  the step of ONE process whose batch is N x subdivisions minibatches of m (N x batch images, N x subdivisions,
  learning rate x N, burn_in/steps/max_batches in its batches: / N), not one with minibatches of N x m.
  The rolling statistics (used only at inference) are averaged, so the replicas stay identical.
- `DarknetSync` (`-sync darknet`): pjreddie's train_networks: local SGD on each rank; weights, biases and
  scales averaged every 4 iterations (sync_nets) and, for the detector, before each checkpoint.
"""
import time

import numpy as np

from ..cpu.threads import share_cores
from ..errors import DarknetError
from ..gpu.device import array_module
from . import distributed
from .schedule import current_batch, current_rate
from .sgd import update_network

ALLREDUCE, DARKNET = "allreduce", "darknet"  # -sync values
SYNC_INTERVAL = 4                # train_networks(nets, ngpus, train, 4)
BUCKET_BYTES = 4 << 20           # gradients per bucket (PyTorch DDP uses 25 MB on GPUs; a CPU step is slower)
RANK_SEED_SHIFT = 32             # rank r draws with seed + (r << 32): streams apart for any 32-bit seed
UPDATES = (("weights", "weight_updates"), ("biases", "bias_updates"), ("scales", "scale_updates"))
STATISTICS = ("rolling_mean", "rolling_variance")
F32 = np.float32


def team(sync=ALLREDUCE, timeout=None, nccl=None):
    """The job's team: Solo outside mpirun (mpi4py is not imported), else this rank's. nccl: a stand-in for
    cupy.cuda.nccl (tests)."""
    if sync not in (ALLREDUCE, DARKNET):
        raise DarknetError(f"-sync must be {ALLREDUCE} or {DARKNET}, got '{sync}'")
    world = distributed.world(timeout)
    if world is None:
        return Solo()
    share_cores(distributed.local_size())
    return (Allreduce if sync == ALLREDUCE else DarknetSync)(world, nccl)


class Solo:
    """One process: every hook leaves the loop as it was."""
    rank, size, main, world = 0, 1, True, None

    def prepare(self, net):
        pass

    def shard(self, paths):
        return paths

    def seed(self, seed):
        return seed

    def rank_seed(self, seed):
        return seed

    def wrap(self, train_batch):
        return train_batch

    def before_save(self, net):
        pass

    def running(self):
        return distributed.running(None)


class Team(Solo):
    """What both data-parallel modes share: shards, seeds, the learning rate x N, rank 0's start."""

    def __init__(self, world, nccl=None):
        self.world, self.nccl = world, nccl
        self.rank, self.size, self.main = world.rank, world.size, world.main

    def prepare(self, net):
        """nets[i]->learning_rate *= ngpus, and every rank starts from rank 0's parameters (a network without
        a weights file is drawn at random on each rank)."""
        net.learning_rate *= self.size
        arrays = parameter_arrays(net, [p for p, _ in UPDATES] + list(STATISTICS))
        flat = pack(arrays)
        host = flat if isinstance(flat, np.ndarray) else flat.get()
        self.world.broadcast(host, "rank 0's starting parameters")
        unpack(array_module(flat).asarray(host), arrays)

    def shard(self, paths):
        return distributed.shard(paths, self.world)

    def seed(self, seed):
        return int(self.world.broadcast(np.array([seed], np.int64), "the random seed")[0])

    def rank_seed(self, seed):
        return seed + (self.rank << RANK_SEED_SHIFT)

    def running(self):
        return distributed.running(self.world)

    def mean(self, value, what):
        return float(self.world.sum([value], what)[0]) / self.size


class Allreduce(Team):
    """Gradients summed every iteration: the step of one process over all ranks' images."""

    def __init__(self, world, nccl=None):
        super().__init__(world, nccl)
        self.buckets = None

    def wrap(self, train_batch):
        return self.train_batch

    def train_batch(self, net, x, truth):
        """train_network over this rank's part of the merged batch; one step for all. Returns the merged
        batch's loss (summed cost / its images)."""
        if self.buckets is None:
            self.buckets = GradientBuckets(net, self.world, self.nccl)
        images, mb = len(x), net.minibatch
        before = net.seen
        ahead = self.rank * images  # the images of the lower ranks come first in the merged batch
        self.buckets.begin(net)
        total = 0.
        for k in range(0, images, mb):
            net.seen = before + ahead + k + mb  # as one process counts at this minibatch (region_loss reads it)
            last = k + mb >= images
            net.forward_backward(x[k:k + mb], truth[k:k + mb], self.buckets.layer_done if last else None)
            total += net.cost
        net.seen = before + images * self.size
        self.buckets.finish()
        update_network(net, current_rate(net), net.momentum, net.decay, images * self.size)
        return float(self.world.sum([total], "the loss")[0]) / (images * self.size)


class DarknetSync(Team):
    """train_networks: each rank trains on its own; every SYNC_INTERVAL batches sync_nets averages them."""
    backend = None

    def wrap(self, train_batch):
        def train(net, x, truth):
            loss = self.mean(train_batch(net, x, truth), "the loss")  # train_networks: sum(errors) / n
            if current_batch(net) % SYNC_INTERVAL == 0:
                print("Syncing... ", end="", flush=True)
                self.sync(net, SYNC_INTERVAL)
                print("Done!")
            return loss
        return train

    def sync(self, net, interval):
        """sync_nets: seen += interval*(n-1)*batch*subdivisions (rank 0's, on every rank); each layer's weights,
        biases and scales averaged as sync_layer does (their sum times (float)(1./n)). The update buffers (the
        momentum) and rolling statistics stay each rank's own."""
        net.seen += interval * (self.size - 1) * net.minibatch * net.subdivisions
        net.seen = int(self.world.broadcast(np.array([net.seen], np.int64), "seen")[0])
        arrays = parameter_arrays(net, [p for p, _ in UPDATES])
        flat = pack(arrays)
        if self.backend is None:
            self.backend = distributed.backend_for(self.world, [flat], self.nccl)
        self.backend.finish([self.backend.start(flat)], "sync_nets' average of the weights")
        flat *= F32(1. / self.size)
        unpack(flat, arrays)

    def before_save(self, net):
        """train_detector: sync_nets(nets, ngpus, 0) before every save."""
        self.sync(net, 0)


def parameter_arrays(net, names):
    """[(params, name, array)] of Network.parameters() (the device's copies on a GPU), in layer order."""
    return [(params, name, getattr(params, name)) for _, params in net.parameters() for name in names
            if getattr(params, name, None) is not None]


def pack(arrays):
    """One contiguous float32 buffer holding the arrays, in the first array's module."""
    xp = array_module(arrays[0][2]) if arrays else np
    flat = xp.empty(sum(a.size for _, _, a in arrays), F32)
    start = 0
    for _, _, a in arrays:
        start = distributed.put(flat, start, a)
    return flat


def unpack(flat, arrays):
    """Copy pack's buffer back into the arrays, in place."""
    start = 0
    for _, _, a in arrays:
        a[...] = distributed.segment(flat, start, a)
        start += a.size


class GradientBuckets:
    """The summed gradients of an Allreduce step. The layers' `*_updates` hold Darknet's momentum carry plus the
    batch's gradients, and only the gradients are summed: `begin` sets the carry aside and zeroes them, `finish`
    adds the summed gradients back onto the carry. They are cut into buckets of about BUCKET_BYTES from the last
    layer down, and during the last minibatch's backward a bucket's sum starts as soon as the backward has
    passed its lowest layer (`layer_done`), while the layers below are still computing (PyTorch DDP's buckets).
    `sent_bytes`, `wait_s` and `overlapped` (the last step's bytes, wait after the backward, and buckets started
    during it) are what the benchmark reports."""

    def __init__(self, net, world, nccl=None, bucket_bytes=None):
        self.net, self.world, self.nccl = net, world, nccl
        bucket_bytes = bucket_bytes or BUCKET_BYTES
        self.index = {id(layer): i for i, layer in enumerate(net.layers)}
        sizes = {i: sum(getattr(layer, p).size for p, _ in UPDATES if getattr(layer, p, None) is not None)
                 for i, layer in enumerate(net.layers) if getattr(layer, "weights", None) is not None}
        self.buckets, bucket, filled = [], [], 0
        for i in sorted(sizes, reverse=True):
            bucket.append(i)
            filled += sizes[i] * F32().itemsize
            if filled >= bucket_bytes:
                self.buckets.append(bucket)
                bucket, filled = [], 0
        if bucket:
            self.buckets.append(bucket)
        self.backend = None
        self.spare = {}  # (layer, name) -> a zeroed buffer to swap in at the next begin
        self.sent_bytes, self.wait_s, self.overlapped = 0, 0., 0

    def begin(self, net):
        """Before the batch's first minibatch: the carry aside, zeroed gradient buffers in its place."""
        self.carry, self.params, self.pending, self.started = {}, None, [], 0
        for layer, params in net.parameters():
            i = self.index[id(layer)]
            for p, u in UPDATES:
                param = getattr(params, p, None)
                if param is None:
                    continue
                carry = getattr(params, u, None)
                fresh = self.spare.pop((i, u), None)
                like = carry if carry is not None else param
                if fresh is None or fresh.shape != like.shape or array_module(fresh) is not array_module(like):
                    fresh = array_module(like).zeros_like(like)
                else:
                    fresh.fill(0)
                self.carry[i, u] = carry
                setattr(params, u, fresh)

    def layer_done(self, i):
        """The backward has passed layer i (of the last minibatch): start the buckets that are complete."""
        while self.started < len(self.buckets) and self.buckets[self.started][-1] >= i:
            self._start(self.buckets[self.started])
            self.started += 1
        if self.pending:
            self.backend.progress([started for started, _, _ in self.pending])

    def _start(self, bucket):
        if self.params is None:  # resolved once the forward ran: on a GPU its parameters exist from then on
            self.params = {self.index[id(layer)]: params for layer, params in self.net.parameters()}
        arrays = [(i, u, getattr(self.params[i], u)) for i in bucket for p, u in UPDATES
                  if getattr(self.params[i], p, None) is not None]
        flat = pack(arrays)
        if self.backend is None:
            self.backend = distributed.backend_for(self.world, [flat], self.nccl)
        self.pending.append((self.backend.start(flat), flat, arrays))

    def finish(self):
        """After the last minibatch: start what the backward did not reach, wait, add the sums to the carry,
        and average the rolling statistics."""
        self.overlapped = self.started  # the buckets whose sums began during the backward
        self.layer_done(-1)
        began = time.perf_counter()
        self.backend.finish([started for started, _, _ in self.pending], "the gradients' allreduce")
        self.wait_s = time.perf_counter() - began
        self.sent_bytes = sum(flat.nbytes for _, flat, _ in self.pending)
        for _, flat, arrays in self.pending:
            start_of = 0
            for i, u, gradient in arrays:
                summed = distributed.segment(flat, start_of, gradient)
                start_of += gradient.size
                carry = self.carry[i, u]
                if carry is None:
                    gradient[...] = summed
                    continue
                carry += summed
                setattr(self.params[i], u, carry)
                self.spare[i, u] = gradient
        self._average_statistics()

    def _average_statistics(self):
        arrays = parameter_arrays(self.net, STATISTICS)
        if not arrays:
            return
        flat = pack(arrays)
        self.backend.finish([self.backend.start(flat)], "the rolling statistics' allreduce")
        flat *= F32(1. / self.world.size)
        unpack(flat, arrays)
