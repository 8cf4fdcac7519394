"""Where training's checkpoints go, and what keeps them good through kills, full disks and diverged weights.

Both training loops (train_detector.py, train_classifier.py) save through a Checkpoints:
- the .data's backup folder is created and checked writable before the first batch (a read-only or misnamed
  folder is one error line, not a traceback at the first save);
- every save is logged as Darknet's save_weights_upto does ("Saving weights to <path>") and written atomically
  (weights.save_weights: a hidden temp file, fsync, rename), so a file under a real name is always whole;
- weights that went NaN or inf are never written: training stops with TrainingDiverged, naming the last good
  checkpoint (the file a resumed run started from counts);
- temp files left by a killed run of the same cfg (kill -9 during a write) are removed at the start; those of
  a run still alive in the same folder are left alone;
- SIGINT (Ctrl-C) and SIGTERM let the batch under way finish, then save `<base>_last.weights` (AlexeyAB's
  name), say where, and stop with TrainingInterrupted (exit 128 + the signal); a second Ctrl-C stops at once;
- a loss chart that cannot be written is a warning, once.
"""
import os
import re
import signal
import sys

from ..errors import DarknetError, stop_signals
from ..gpu.device import array_module

DEFAULT_BACKUP = "/backup/"  # option_find_str(options, "backup", "/backup/") in both of Darknet's loops


class TrainingDiverged(DarknetError):
    """The loss or the weights became NaN or infinite; the last checkpoint on disk is left as it was."""


class TrainingInterrupted(DarknetError):
    """SIGINT or SIGTERM stopped training after a checkpoint of the last finished batch; exits 128 + signal."""

    def __init__(self, message, signum):
        super().__init__(message)
        self.exit_code = 128 + signum


def nonfinite_parameters(net):
    """(first layer index, count) of the NaN or inf values among the parameters training steps (the device's
    copies on a GPU) and the batch-norm statistics, or None."""
    stepped = {id(layer): params for layer, params in net.parameters()}
    first, count = None, 0
    for i, layer in enumerate(net.layers):
        for name in ("weights", "biases", "scales", "rolling_mean", "rolling_variance"):
            a = getattr(stepped.get(id(layer), layer), name, getattr(layer, name, None))
            if a is None:
                continue
            bad = int(a.size - array_module(a).count_nonzero(array_module(a).isfinite(a)))
            if bad:
                first = i if first is None else first
                count += bad
    return None if first is None else (first, count)


class Checkpoints:
    """The backup folder of one training run: its saves, its signals, its chart."""

    def __init__(self, options, base, resumed_from=None, main=True):
        self.folder = options.folder("backup", DEFAULT_BACKUP)
        self.base = base
        self.main = main  # data-parallel training: rank 0 alone writes (every rank checks and stops alike)
        self.last = resumed_from  # the last good weights on disk: a resumed run's starting file to begin with
        self.signum = None        # the stop signal received, if any
        self.chart_warned = False
        self.remove_dead_temps()

    def path(self, name):
        return os.path.join(self.folder, name)

    def remove_dead_temps(self):
        """Temp files of this cfg's saves whose process is gone (killed mid-write); never a live run's."""
        pattern = re.compile(rf"\.{re.escape(self.base)}[._].*\.(\d+)\.tmp")
        for name in os.listdir(self.folder):
            match = pattern.fullmatch(name)
            if match and not _alive(int(match[1])):
                try:
                    os.remove(self.path(name))
                except OSError:
                    pass

    def save(self, net, path, batch):
        """Save the weights to `path` unless they went non-finite (then TrainingDiverged; the file keeps its
        last good contents). Returns the path."""
        bad = nonfinite_parameters(net)
        if bad:
            raise TrainingDiverged(f"the weights hold {bad[1]} NaN or infinite values (the first in layer {bad[0]}) "
                                   f"at batch {batch}: training stopped, {path} not written; last good checkpoint: "
                                   f"{self.last or 'none'}")
        if self.main:
            print(f"Saving weights to {path}", file=sys.stderr)
            net.save_weights(path)
        self.last = path
        return path

    def save_chart(self, chart):
        if not self.main:
            return
        try:
            chart.save()
        except OSError as e:
            if not self.chart_warned:
                self.chart_warned = True
                print(f"darknet-py: warning: cannot write the loss chart {chart.path}: {e.strerror}; training goes "
                      f"on", file=sys.stderr)

    def stop_signals(self):
        """While training: SIGINT and SIGTERM ask to stop after the batch under way (see stop_if_asked)."""
        def asked(signum):
            self.signum = signum
            print(f"darknet-py: {signal.Signals(signum).name}: saving after this batch "
                  f"({'Ctrl-C' if signum == signal.SIGINT else 'the signal'} again stops at once)", file=sys.stderr)
        return stop_signals(asked)

    def stop_if_asked(self, net, batch, before_save=None):
        """After a finished batch: when a stop signal came, save `<base>_last.weights` and raise
        TrainingInterrupted naming it. before_save(net): what a save needs first (the detector's data-parallel
        weight sync)."""
        if self.signum is None:
            return
        if before_save is not None:
            before_save(net)
        path = self.save(net, self.path(f"{self.base}_last.weights"), batch)
        name = signal.Signals(self.signum).name
        raise TrainingInterrupted(f"{name}: training stopped after batch {batch}; its weights are in {path} "
                                  f"(pass it to resume)", self.signum)


def _alive(pid):
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # someone else's process
        return True
    return True

