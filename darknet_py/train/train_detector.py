"""Training a detector as Darknet's `detector train` does (`examples/detector.c: train_detector`).

Each iteration loads minibatch*subdivisions images (the DetectionLoader prepares the next batches in
background threads while this one trains), runs them through train_datum one minibatch at a time (the
update comes after the last), and prints Darknet's line `<batch>: <loss>, <avg> avg, <rate> rate,
<seconds> seconds, <images> images`. Checkpoints go to the .data file's `backup` folder under Darknet's
names; `seen` in their header is how far the schedule got, so passing one back resumes the schedule.
"""
import math
import os
import sys
import time

from ..cfg import basecfg, data_path, read_data_cfg
from ..cpu.blas import single_threaded
from ..data.augment import Augment, DarknetRandom
from ..data.detection import DetectionLoader, RegionLoader
from ..data.lists import read_paths
from ..errors import DarknetError
from ..network import Network
from . import data_parallel
from .chart import LossChart
from .checkpoint import Checkpoints, TrainingDiverged
from .schedule import check_training_options, current_batch, current_rate
from .sgd import train_datum

DEFAULT_TRAIN = "data/train.list"  # train_detector: option_find_str(options, "train", "data/train.list")
AVG_KEEP = .9                      # avg_loss = avg_loss*.9 + loss*.1
BACKUP_EVERY = 100                 # <cfg>.backup is rewritten every 100 batches
SNAPSHOT_EVERY = 10000             # <cfg>_<i>.weights every 10000 batches ...
EARLY_SNAPSHOT_BELOW = 1000        # ... and every 100 (BACKUP_EVERY) below batch 1000
RESIZE_EVERY = 10                  # multi-scale ([region]/[yolo] random=1): a new input size every 10 iterations
SCALE_UNIT = 32                    # dim = (rand() % 10 + 10) * 32: 320 to 608
SCALE_CHOICES = 10
SCALE_MIN_UNITS = 10
FINAL_DIM = 608                    # the last 200 batches train at 608
FINAL_WINDOW = 200
CHART_EVERY = 10                   # darknet-py: redraw the loss chart every 10 iterations
LOADER_WORKERS = 2                 # batches prepared ahead (Darknet loads one ahead, in args.threads threads)


def snapshot_due(i):
    """train_detector: <cfg>_<i>.weights when i%10000 == 0 or (i < 1000 and i%100 == 0)."""
    return i % SNAPSHOT_EVERY == 0 or (i < EARLY_SNAPSHOT_BELOW and i % BACKUP_EVERY == 0)


def checkpoint_paths(backup, base, i):
    """The files train_detector writes after batch i (saved atomically by weights.save_weights)."""
    paths = []
    if i % BACKUP_EVERY == 0:
        paths.append(os.path.join(backup, f"{base}.backup"))
    if snapshot_due(i):
        paths.append(os.path.join(backup, f"{base}_{i}.weights"))
    return paths


def random_dim(rng, batch, max_batches):
    """The multi-scale draw: (rand()%10 + 10)*32, but 608 for the last 200 batches."""
    dim = (rng.rand() % SCALE_CHOICES + SCALE_MIN_UNITS) * SCALE_UNIT
    return FINAL_DIM if batch + FINAL_WINDOW > max_batches else dim


def load_training_network(cfgfile, weightfile, clear, max_batches):
    """parse_network_cfg + load_weights (a backbone file with fewer layers is fine) + -clear. The layer table
    and Darknet's "Loading weights ... Done!" are printed once the file has loaded (a bad one: its error alone)."""
    net = Network.from_cfg(cfgfile)
    if weightfile is not None:
        net.load_weights(weightfile, allow_partial=True)
    if clear:
        net.seen = 0
    if max_batches is not None:
        net.max_batches = max_batches
    if net.output_layer.type not in ("region", "yolo", "detection"):
        raise DarknetError(f"{cfgfile}: the last layer is [{net.output_layer.type}], detector train needs [region], "
                           f"[yolo] or [detection]")
    check_training_options(net)
    print(net.summary(), file=sys.stderr)
    if weightfile is not None:
        print(f"Loading weights from {weightfile}...Done!", file=sys.stderr)
    return net


def loader_for(net, loader_class):
    """The batches the output layer learns from, as the loader class and its truths per image: YOLOv2's
    30 and YOLOv3's 90 boxes (train_detector: args.num_boxes = l.max_boxes, DETECTION_DATA), or YOLOv1's
    grid of side x side cells (examples/yolo.c train_yolo: REGION_DATA, args.num_boxes = l.side)."""
    layer = net.output_layer
    if layer.type == "detection":
        return RegionLoader, layer.side
    return loader_class, layer.max_boxes


def train_detector(datacfg, cfgfile, weightfile=None, clear=False, max_batches=None, seed=None,
                   workers=LOADER_WORKERS, chart_every=CHART_EVERY, progress=None, loader_class=DetectionLoader,
                   device="cpu", team=None):
    """Darknet's train_detector. Returns the path of `<backup>/<cfg base>_final.weights`.

    max_batches overrides the cfg's (for short runs; the schedule's poly policy uses it too); seed makes
    the image draws and multi-scale sizes reproducible (Darknet seeds with the time). Raises
    TrainingDiverged when the loss is not finite, DarknetError when a resumed file has already reached
    max_batches. loader_class: a DetectionLoader-like class built with DetectionLoader's arguments, num_boxes
    (the output layer's truths per image) by keyword (e.g. functools.partial(data.mixed.MixedLoader,
    class_paths=..., ratio=...) for YOLO9000 joint training); a YOLOv1 trains on RegionLoader's grids.
    device: "cpu", or a GPU (gpu/device.py: select_device's values) to train there (gpu/train.py).
    team: the data-parallel hooks (data_parallel.team(); a single process's by default): under mpirun each
    rank trains on its shard and rank 0 alone prints, charts and writes the checkpoints.
    progress: called as progress(batch, max_batches, text) after each batch (commands/progress.py draws it).
    """
    team = team or data_parallel.team()
    options = read_data_cfg(datacfg)
    paths = team.shard(read_paths(data_path(options.get("train", DEFAULT_TRAIN), datacfg)))
    base = basecfg(cfgfile)
    print(base)
    net = load_training_network(cfgfile, weightfile, clear, max_batches).to(device)
    team.prepare(net)
    print(f"Learning Rate: {net.learning_rate:g}, Momentum: {net.momentum:g}, Decay: {net.decay:g}")
    start = current_batch(net)
    if start >= net.max_batches:
        raise DarknetError(f"{weightfile}: already trained {start} batches ({net.seen} images), max_batches is "
                           f"{net.max_batches}: nothing to train (give a larger -max_batches, or -clear to restart "
                           f"the schedule)")
    checkpoints = Checkpoints(options, base, weightfile, team.main)
    backup = checkpoints.folder
    last = net.output_layer
    seed = team.seed(int(time.time()) if seed is None else seed)
    rng = DarknetRandom(seed)
    imgs = net.minibatch * net.subdivisions
    chart = LossChart(os.path.join(backup, f"{base}_loss.png"), base)
    loader_class, num_boxes = loader_for(net, loader_class)
    loader = loader_class(paths, imgs, net.w, net.h, Augment.from_network(net), last.classes,
                          workers, seed=team.rank_seed(seed + start), num_boxes=num_boxes)
    train = team.wrap(train_batch)
    avg_loss, count = -1., 0
    if progress:
        progress(start, net.max_batches)
    # One OpenBLAS thread, as Darknet's CPU gemm: the training path's many small per-image GEMMs spend
    # more in OpenBLAS's thread hand-offs than they gain (7x the CPU time on tests/train/test_train_detector.py).
    with single_threaded(), checkpoints.stop_signals():
        try:
            while current_batch(net) < net.max_batches:
                if last.type != "detection" and last.random and count % RESIZE_EVERY == 0:
                    print("Resizing")
                    dim = random_dim(rng, current_batch(net), net.max_batches)
                    print(dim)
                    loader.resize(dim, dim)
                    net.resize(dim, dim)
                count += 1
                began = time.time()
                x, truth = loader.next()
                print(f"Loaded: {time.time() - began:f} seconds")
                began = time.time()
                loss = train(net, x, truth)
                avg_loss = loss if avg_loss < 0 else avg_loss * AVG_KEEP + loss * (1 - AVG_KEEP)
                i = current_batch(net)
                print(f"{i}: {loss:f}, {avg_loss:f} avg, {current_rate(net):f} rate, "
                      f"{time.time() - began:f} seconds, {i * imgs} images", flush=True)
                chart.add(i, loss, avg_loss)
                if not math.isfinite(loss):
                    checkpoints.save_chart(chart)
                    raise TrainingDiverged(f"loss is {loss} at batch {i}: training stopped, weights not saved; "
                                           f"last checkpoint: {checkpoints.last or 'none'}")
                due = checkpoint_paths(backup, base, i)
                if due:
                    team.before_save(net)
                for path in due:
                    checkpoints.save(net, path, i)
                if i % chart_every == 0:
                    checkpoints.save_chart(chart)
                if progress:
                    progress(i, net.max_batches, f"avg {avg_loss:.3f}")
                checkpoints.stop_if_asked(net, i, team.before_save)
        finally:
            loader.close()
    final = os.path.join(backup, f"{base}_final.weights")
    team.before_save(net)
    checkpoints.save(net, final, current_batch(net))
    checkpoints.save_chart(chart)
    return final


def train_batch(net, x, truth):
    """train_network: the batch as `subdivisions` minibatches; loss = summed cost / images in the batch."""
    mb = net.minibatch
    total = 0.
    for k in range(0, len(x), mb):
        total += train_datum(net, x[k:k + mb], truth[k:k + mb])
    return total / len(x)
