"""Training's checkpoints through kills and faults (darknet_py/train/checkpoint.py): kill -9 in the middle of a
save, SIGINT and SIGTERM (and a second Ctrl-C), a full disk (a small tmpfs where mount works, and a stand-in
raising ENOSPC), a read-only backup folder, weights that go NaN between two checks, a loss chart that cannot
be written. No file under a real name is ever partial, no temp file of a finished or interrupted run stays,
and a resumed run continues from the last good file. A checkpoint every batch (BACKUP_EVERY = 1) keeps them
to a few batches of test_train_detector.py's small synthetic set."""
import errno
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

from conftest import ROOT
from darknet_py import cli
from darknet_py import weights as weights_module
from darknet_py.network import Network
from darknet_py.train import train_detector as td
from darknet_py.train.checkpoint import TrainingInterrupted
from darknet_py.train.schedule import current_batch
from darknet_py.train.train_classifier import ClassifierTraining
from test_train_classifier import small_cfg, synthetic_set
from test_train_detector import BATCH, Run, seen_in

# The command line with a checkpoint every batch, each save's fsync (between writing the temp file and renaming
# it over the real one) logged in a marker file and, at save number PAUSE_AT, held until the test creates
# <marker>.go; a SIGINT handler changing meanwhile (the first Ctrl-C taken) is logged too. No timing involved.
DRIVER = """
import os, signal, sys, time
from darknet_py import cli
from darknet_py.train import train_detector as td
data, cfg, marker, pause_at, max_batches = sys.argv[1:6]
td.BACKUP_EVERY = 1
real_fsync, saves = os.fsync, []
def log(line):
    with open(marker, "a") as f:
        f.write(line + "\\n")
def fsync(fd):
    saves.append(fd)
    log(f"save {len(saves)}")
    handler = signal.getsignal(signal.SIGINT)
    while len(saves) == int(pause_at) and not os.path.exists(marker + ".go"):
        if signal.getsignal(signal.SIGINT) is not handler:
            handler = signal.getsignal(signal.SIGINT)
            log("signal taken")
        time.sleep(.01)
    real_fsync(fd)
os.fsync = fsync
sys.exit(cli.main(["detector", "train", data, cfg, "-max_batches", max_batches, "-nogpu"]))
"""


@pytest.fixture(scope="module")
def run(tmp_path_factory):
    return Run(tmp_path_factory.mktemp("checkpoints"))


@pytest.fixture
def every_batch(monkeypatch):
    monkeypatch.setattr(td, "BACKUP_EVERY", 1)


def temp_files(folder):
    return sorted(p.name for p in Path(folder).iterdir() if p.name.endswith(".tmp"))


def loads(cfg, path):
    """The file is a whole checkpoint of cfg (the right size, finite): its seen."""
    return Network.from_cfg(cfg).load_weights(path).seen


class Driver:
    """DRIVER in a subprocess, training `cfg` from scratch."""

    def __init__(self, run, cfg, pause_at=0, max_batches=50):
        self.marker = Path(cfg).with_suffix(".log")
        self.proc = subprocess.Popen(
            [sys.executable, "-c", DRIVER, str(run.data), cfg, str(self.marker), str(pause_at), str(max_batches)],
            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env={**os.environ, "PYTHONPATH": str(ROOT)})

    def wait_for(self, line, timeout=120):
        """Until the driver has logged `line` ("save 3", "signal taken")."""
        deadline = time.time() + timeout
        while not (self.marker.exists() and line in self.marker.read_text().splitlines()):
            assert self.proc.poll() is None, self.proc.communicate()
            assert time.time() < deadline, f"no '{line}' after {timeout} s"
            time.sleep(.02)

    def go(self):
        """Let the held save go on."""
        Path(f"{self.marker}.go").touch()

    def finish(self):
        out, err = self.proc.communicate(timeout=120)
        return self.proc.returncode, out, err


def test_kill_9_during_a_save_leaves_whole_files_and_the_resume_cleans_up(run):
    cfg = run.cfg("killed")
    driver = Driver(run, cfg, pause_at=3)  # saves 1, 2: batch 1's .backup and _1; 3: batch 2's .backup
    driver.wait_for("save 3")
    driver.proc.send_signal(signal.SIGKILL)
    driver.finish()
    assert loads(cfg, run.backup / "killed.backup") == BATCH and loads(cfg, run.backup / "killed_1.weights") == BATCH
    left = temp_files(run.backup)
    assert left == [f".killed.backup.{driver.proc.pid}.tmp"]  # hidden: no *.weights or *.backup glob takes it
    assert not [p for p in run.backup.glob("*.backup") if p.name != "killed.backup"]
    _, lines = run.train(cfg, str(run.backup / "killed.backup"), max_batches=2)  # a resume removes it
    assert [n for n, *_ in lines] == [2] and temp_files(run.backup) == []


def test_a_live_runs_temp_files_are_left_alone(run, every_batch):
    cfg = run.cfg("shared")
    sleeper = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    try:
        run.backup.mkdir(exist_ok=True)
        theirs, dead = (run.backup / f".shared.backup.{pid}.tmp" for pid in (sleeper.pid, 2 ** 22 + 12345))
        theirs.write_bytes(b"half"), dead.write_bytes(b"half")
        run.train(cfg, None, max_batches=1)
        assert theirs.exists() and not dead.exists()  # another job in the same folder, still writing
    finally:
        sleeper.kill()
        theirs.unlink()


def test_sigint_during_a_save_finishes_it_then_saves_the_batch_and_says_where(run):
    cfg = run.cfg("interrupted")
    driver = Driver(run, cfg, pause_at=1)
    driver.wait_for("save 1")
    driver.proc.send_signal(signal.SIGINT)
    driver.wait_for("signal taken")
    driver.go()
    status, _, err = driver.finish()
    last = run.backup / "interrupted_last.weights"
    assert status == 130, err
    assert err.splitlines()[-1] == (f"darknet-py: stopped: SIGINT: training stopped after batch 1; its weights are "
                                    f"in {last} (pass it to resume)")
    assert "darknet-py: SIGINT: saving after this batch (Ctrl-C again stops at once)" in err
    assert f"Saving weights to {run.backup / 'interrupted.backup'}" in err and f"Saving weights to {last}" in err
    assert loads(cfg, last) == BATCH and loads(cfg, run.backup / "interrupted.backup") == BATCH
    assert temp_files(run.backup) == [] and "Traceback" not in err


def test_sigterm_saves_the_batch_under_way(run):
    cfg = run.cfg("terminated")
    driver = Driver(run, cfg)
    driver.wait_for("save 1")
    driver.proc.send_signal(signal.SIGTERM)
    status, out, err = driver.finish()
    batch = int(err.splitlines()[-1].split("after batch ")[1].split(";")[0])
    assert status == 143 and err.splitlines()[-1].startswith("darknet-py: stopped: SIGTERM: training stopped")
    assert loads(cfg, run.backup / "terminated_last.weights") == batch * BATCH
    assert f"\n{batch}: " in "\n" + out and f"\n{batch + 1}: " not in "\n" + out  # no batch after it
    assert temp_files(run.backup) == []


def test_a_second_ctrl_c_stops_at_once_and_removes_the_half_written_file(run):
    cfg = run.cfg("impatient")
    driver = Driver(run, cfg, pause_at=1)
    driver.wait_for("save 1")
    driver.proc.send_signal(signal.SIGINT)
    driver.wait_for("signal taken")  # the first one reached the handler: the next is Python's default
    driver.proc.send_signal(signal.SIGINT)
    status, _, err = driver.finish()
    assert status == 130 and err.splitlines()[-1] == "darknet-py: interrupted" and "Traceback" not in err
    assert temp_files(run.backup) == [] and not (run.backup / "impatient.backup").exists()


def no_space_on(save_number, monkeypatch):
    """A stand-in for a full disk: save `save_number` fails in fsync with ENOSPC, as on a full filesystem."""
    real, count = os.fsync, []

    def fsync(fd):
        count.append(fd)
        if len(count) == save_number:
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))
        real(fd)
    monkeypatch.setattr(weights_module.os, "fsync", fsync)


def train_command(run, cfg, *extra):
    return cli.main(["detector", "train", str(run.data), cfg, "-max_batches", "3", "-nogpu", *extra])


def test_full_disk_stops_with_the_path_and_keeps_the_last_good_file(run, every_batch, monkeypatch, capsys):
    cfg = run.cfg("full")
    no_space_on(3, monkeypatch)  # batch 2's .backup
    assert train_command(run, cfg) == 1
    assert capsys.readouterr().err.splitlines()[-1] == (
        f"darknet-py: error: {run.backup / 'full.backup'}: cannot write weights: No space left on device")
    assert loads(cfg, run.backup / "full.backup") == BATCH and temp_files(run.backup) == []


@pytest.fixture
def tmpfs(tmp_path):
    """A 64 KiB tmpfs (a real full disk), where this process may mount one."""
    folder = tmp_path / "small"
    folder.mkdir()
    if subprocess.run(["mount", "-t", "tmpfs", "-o", "size=64k", "tmpfs", str(folder)], capture_output=True).returncode:
        pytest.skip("cannot mount a tmpfs here (the ENOSPC stand-in covers a full disk)")
    yield folder
    subprocess.run(["umount", str(folder)], check=True)


def test_full_tmpfs(run, tmpfs, every_batch, capsys):
    cfg = run.cfg("tmpfs")  # 27 KiB of weights: batch 1's .backup and _1 fit in 64 KiB, batch 2's temp does not
    data = run.root / "tmpfs.data"
    data.write_text(run.data.read_text().replace(f"backup={run.backup}", f"backup={tmpfs}"))
    assert cli.main(["detector", "train", str(data), cfg, "-max_batches", "3", "-nogpu"]) == 1
    assert capsys.readouterr().err.splitlines()[-1] == (
        f"darknet-py: error: {tmpfs / 'tmpfs.backup'}: cannot write weights: No space left on device")
    assert loads(cfg, tmpfs / "tmpfs.backup") == BATCH and temp_files(tmpfs) == []


@pytest.fixture
def read_only(tmp_path):
    """A folder that cannot be written: a read-only tmpfs for root (permission bits do not stop root), else
    mode 0555."""
    folder = tmp_path / "ro"
    folder.mkdir()
    if os.geteuid() != 0:
        folder.chmod(0o555)
        yield folder
        folder.chmod(0o755)
        return
    if subprocess.run(["mount", "-t", "tmpfs", "-o", "ro,size=64k", "tmpfs", str(folder)],
                      capture_output=True).returncode:
        pytest.skip("root without mount: no folder here that root cannot write")
    yield folder
    subprocess.run(["umount", str(folder)], check=True)


def test_read_only_backup_folder_is_refused_before_training(run, read_only, capsys):
    data = run.root / "ro.data"
    data.write_text(run.data.read_text().replace(f"backup={run.backup}", f"backup={read_only}"))
    assert cli.main(["detector", "train", str(data), run.cfg("ro"), "-nogpu"]) == 1
    out, err = capsys.readouterr()
    assert err.splitlines()[-1].startswith(f"darknet-py: error: {data}:3: backup={read_only} cannot be written (")
    assert "Loaded" not in out  # not a single batch


def test_weights_gone_nan_between_checks_are_not_saved(run, every_batch, monkeypatch, capsys):
    """The loss is computed before the update; weights that the update turns NaN are caught at the save: the
    last good file stays, and the error names it (the file a resumed run started from, before any save)."""
    real = td.train_batch

    def poison_after(batch):
        def train_batch(net, x, truth):
            loss = real(net, x, truth)
            if net.seen >= batch * BATCH:
                net.layers[0].weights.reshape(-1)[7] = np.nan
            return loss
        return train_batch

    cfg = run.cfg("poisoned")
    monkeypatch.setattr(td, "train_batch", poison_after(2))
    assert train_command(run, cfg) == 1
    assert capsys.readouterr().err.splitlines()[-1] == (
        f"darknet-py: error: the weights hold 1 NaN or infinite values (the first in layer 0) at batch 2: training "
        f"stopped, {run.backup / 'poisoned.backup'} not written; last good checkpoint: "
        f"{run.backup / 'poisoned_1.weights'}")
    assert loads(cfg, run.backup / "poisoned.backup") == BATCH  # batch 1's, loadable: finite
    monkeypatch.setattr(td, "train_batch", poison_after(0))
    start = run.backup / "poisoned_1.weights"
    assert train_command(run, cfg, str(start)) == 1
    assert capsys.readouterr().err.splitlines()[-1].endswith(f"last good checkpoint: {start}")
    assert temp_files(run.backup) == []


def test_a_chart_that_cannot_be_written_is_one_warning(run, capsys):
    cfg = run.cfg("chartless")
    run.backup.mkdir(exist_ok=True)
    (run.backup / "chartless_loss.png").mkdir()  # a folder where the chart goes
    final, lines = run.train(cfg, None, max_batches=3, chart_every=1)
    warnings = [line for line in capsys.readouterr().err.splitlines() if "warning" in line]
    assert [n for n, *_ in lines] == [1, 2, 3] and loads(cfg, final) == 3 * BATCH
    assert len(warnings) == 1 and "cannot write the loss chart" in warnings[0] and "training goes on" in warnings[0]


def test_classifier_training_stops_on_sigint_with_its_last_batch_saved(tmp_path, capsys):
    """train_classifier shares the Checkpoints: a SIGINT (sent to this process after batch 1) lets batch 2
    finish, then `<base>_last.weights` holds it."""
    data = synthetic_set(tmp_path)
    cfg = small_cfg(tmp_path / "c.cfg", 16, 2, max_batches=20, batch=4)
    training = ClassifierTraining(data, cfg, clear=True, seed=1)
    step = training.step

    def step_then_signal():
        loss = step()
        if current_batch(training.net) == 1:
            os.kill(os.getpid(), signal.SIGINT)  # handled (a flag) at the next bytecode
        return loss
    training.step = step_then_signal
    with pytest.raises(TrainingInterrupted, match=r"SIGINT: training stopped after batch 2; its weights are in .*"
                                                  r"c_last\.weights") as stop:
        training.run()
    assert stop.value.exit_code == 130 and seen_in(tmp_path / "backup" / "c_last.weights") == 2 * 4
    assert signal.getsignal(signal.SIGINT) is signal.default_int_handler  # restored after training
    assert temp_files(tmp_path / "backup") == []
