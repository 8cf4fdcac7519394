"""The data-parallel plumbing that needs no MPI (darknet_py/train/distributed.py, data_parallel.py): ranks read
from mpirun's environment, -gpus narrowed per rank or launching mpirun, sharding, the ordered merge without
ranks, the gradient buckets' layout, the allreduce step of one rank against one process's (CPU layers and the
GPU training plan); and a plain run never imports mpi4py."""
import contextlib
import io
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from conftest import ROOT, conv, maxpool, section
from test_train_detector import CFG as DETECTOR_CFG

from darknet_py.errors import DarknetError
from darknet_py.gpu.train import GpuTrainer
from darknet_py.network import Network
from darknet_py.train import data_parallel, distributed
from darknet_py.train.train_detector import train_batch

OPEN_MPI_RANK_1 = {"OMPI_COMM_WORLD_SIZE": "4", "OMPI_COMM_WORLD_LOCAL_RANK": "1", "OMPI_COMM_WORLD_LOCAL_SIZE": "2"}


def test_ranks_are_read_from_the_mpirun_environment():
    assert distributed.launched_size({}) == 1 and distributed.launched_size({"PMI_SIZE": "3"}) == 3
    assert distributed.launched_size(OPEN_MPI_RANK_1) == 4
    assert distributed.local_rank(OPEN_MPI_RANK_1) == 1 and distributed.local_size(OPEN_MPI_RANK_1) == 2


def test_gpus_flag_launches_outside_mpirun_and_picks_the_local_gpu_inside():
    assert distributed.should_launch("0,1", {}) and not distributed.should_launch("0", {})
    assert not distributed.should_launch("0,1", OPEN_MPI_RANK_1) and not distributed.should_launch(None, {})
    assert distributed.rank_gpu("2,3", OPEN_MPI_RANK_1) == "3"
    assert distributed.rank_gpu("2,3", {}) == "2,3" and distributed.rank_gpu(None, {}) is None
    assert distributed.rank_gpu(None, OPEN_MPI_RANK_1, visible=4) == "1"
    assert distributed.rank_gpu(None, OPEN_MPI_RANK_1, visible=0) is None  # no GPU: the CPU


def test_launch_command_and_a_missing_mpirun(monkeypatch):
    monkeypatch.setattr(distributed.shutil, "which", lambda name: "/usr/bin/mpirun")
    assert distributed.launch_command(2, ["detector", "train", "a.data", "b.cfg", "-gpus", "0,1"], "py") == \
        ["/usr/bin/mpirun", "-np", "2", "py", "-m", "darknet_py", "detector", "train", "a.data", "b.cfg",
         "-gpus", "0,1"]
    monkeypatch.setattr(distributed.shutil, "which", lambda name: None)
    with pytest.raises(DarknetError, match="starts one process per GPU with mpirun, which is not installed"):
        distributed.launch_command(2, [])


def test_without_ranks_everything_stays_one_process():
    team = data_parallel.team()
    assert isinstance(team, data_parallel.Solo) and team.main and distributed.world() is None
    assert team.shard([1, 2, 3]) == [1, 2, 3] and team.rank_seed(7) == 7
    assert list(distributed.in_order(None, iter("abc"), 2, lambda part: (x.upper() for x in part))) == list("ABC")
    with pytest.raises(DarknetError, match="-sync must be allreduce or darknet, got 'ring'"):
        data_parallel.team("ring")


def test_a_plain_training_run_never_imports_mpi4py():
    code = ("import sys; from darknet_py.train import data_parallel, train_detector, train_classifier; "
            "data_parallel.team(); assert 'mpi4py' not in sys.modules")
    subprocess.run([sys.executable, "-c", code], check=True, cwd=ROOT, env={"PYTHONPATH": str(ROOT)})


def test_buckets_run_from_the_last_layer_down(tmp_path):
    cfg = tmp_path / "n.cfg"
    cfg.write_text("[net]\nwidth=32\nheight=32\nchannels=3\n" + conv(64) + maxpool() + conv(128) + conv(256)
                   + section("connected", output=10, activation="linear"))
    net = Network.from_cfg(cfg)
    floats = {i: sum(getattr(layer, name).size for name in ("weights", "biases", "scales")
                     if getattr(layer, name, None) is not None)
              for i, layer in enumerate(net.layers) if getattr(layer, "weights", None) is not None}
    assert floats[4] > floats[3] > floats[2] + floats[0]
    # buckets of at least layer 3's bytes, filled from the connected layer (4) down: {4}, {3}, then the rest
    assert data_parallel.GradientBuckets(net, world=None, bucket_bytes=4 * floats[3]).buckets == [[4], [3], [2, 0]]


class OneRank:
    """A world of one rank: what Allreduce calls on distributed.World, with nothing to exchange."""
    rank, size, main, timeout = 0, 1, True, 1.

    def broadcast(self, host, what):
        return host

    def sum(self, values, what):
        return np.array(values, np.float64)


class SumOfOne:
    """cupy.cuda.nccl for one rank: the sum of one buffer is the buffer."""
    NCCL_FLOAT32, NCCL_SUM = 7, 0

    @staticmethod
    def get_unique_id():
        return tuple(range(distributed.NCCL_ID_BYTES))

    class NcclCommunicator:
        def __init__(self, ndev, uid, rank):
            assert (ndev, rank) == (1, 0) and len(uid) == distributed.NCCL_ID_BYTES

        def allReduce(self, sendbuf, recvbuf, count, datatype, op, stream):  # noqa: N802 (cupy's name)
            assert sendbuf == recvbuf and stream == 0

        def abort(self):
            pass


def kernel_host_runner():
    sys.path.insert(0, str(Path(__file__).parents[1] / "gpu"))
    import kernel_host
    if not kernel_host.available():
        pytest.skip("needs g++ to build the kernels for the CPU")
    return kernel_host.HostRunner()


@pytest.mark.parametrize("plan", ["cpu", "gpu plan"])
def test_allreduce_of_one_rank_steps_as_one_process(tmp_path, plan):
    """Allreduce's step (momentum set aside, gradients summed in 3 buckets during the backward, added back) equals
    train_batch's for one rank, on the CPU layers and on the GPU training plan (its kernels run as C++ here)."""
    cfg = tmp_path / "net.cfg"
    cfg.write_text(DETECTOR_CFG.format(batch=8, size=32, lr=.001, burn_in=0, max_batches=10, steps=100))
    nets = []
    for _ in range(2):
        np.random.seed(0)
        nets.append(Network.from_cfg(cfg))
        if plan != "cpu":
            nets[-1].gpu = GpuTrainer(nets[-1], kernel_host_runner())
    team = data_parallel.Allreduce(OneRank(), nccl=SumOfOne)
    team.prepare(nets[1])
    rng = np.random.default_rng(0)
    truth = np.zeros((8, 150), np.float32)
    truth[:, :5] = [.5, .4, .3, .2, 1]
    data_parallel.BUCKET_BYTES, saved = 4 << 10, data_parallel.BUCKET_BYTES
    try:
        with np.errstate(all="ignore"), contextlib.redirect_stdout(io.StringIO()):
            for _ in range(3):
                x = rng.random((8, 3, 32, 32), dtype=np.float32)
                assert team.train_batch(nets[1], x, truth) == pytest.approx(train_batch(nets[0], x, truth), rel=1e-6)
    finally:
        data_parallel.BUCKET_BYTES = saved
    assert len(team.buckets.buckets) == 3 and team.buckets.overlapped == 3 and nets[1].seen == nets[0].seen == 24
    for net in nets:
        if net.gpu is not None:
            net.gpu.download()
    for ours, theirs in zip(nets[1].layers, nets[0].layers):
        for name in ("weights", "biases", "scales", "weight_updates", "rolling_mean"):
            if getattr(theirs, name, None) is not None:
                a, b = getattr(ours, name), getattr(theirs, name)
                assert np.abs(a - b).max() <= 1e-5 * np.abs(b).max(), (ours.type, name)
