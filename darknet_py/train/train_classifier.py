"""Training and validating a classifier (`examples/classifier.c: train_classifier, validate_classifier_single`).

train_classifier: batches of augmented images labelled from their paths (data/classification.py), one
SGD step per batch of minibatch * subdivisions images (train_detector.py's train_batch), Darknet's loss
line, a checkpoint per epoch (`<backup>/<base>_<epoch>.weights`), `<backup>/<base>.backup` every
BACKUP_EVERY batches and `<backup>/<base>.weights` at the end (classifier.c names its final file so; the
detector says _final); weights.save_weights writes each atomically. Resume by passing a checkpoint: its
`seen` carries the batch number, epoch and learning rate on. The loss chart is the detector's.
"""
import math
import os
import sys
import time

import numpy as np

from ..cfg import basecfg, data_path, read_data_cfg
from ..data.classification import ClassAugment, ClassificationLoader, class_of, validation_crop
from ..data.lists import read_names, read_paths
from ..errors import DarknetError
from ..gpu.device import to_numpy
from ..image import load_image
from ..network import Network
from ..wordtree.tree import Tree, hierarchy_predictions
from . import data_parallel
from .chart import LossChart
from .checkpoint import Checkpoints, TrainingDiverged
from .schedule import check_training_options, current_batch, current_rate
from .train_detector import train_batch

BACKUP_EVERY = 1000  # train_classifier: `<base>.backup` whenever get_current_batch(net) % 1000 == 0
AVG_DECAY = .9       # avg_loss = avg_loss*.9 + loss*.1
DEFAULT_CLASSES = 2  # option_find_int(options, "classes", 2)
DEFAULT_LABELS = "data/labels.list"  # option_find_str(options, "labels", "data/labels.list")
DEFAULT_TRAIN = "data/train.list"    # option_find_str(options, "train", "data/train.list"); also valid's default


def network_tree(net, options, datacfg):
    """net->hierarchy: the .data's `tree`, else the tree of the network's [softmax] layer."""
    if options.get("tree"):
        return Tree.read(data_path(options["tree"], datacfg))
    return getattr(net.output_layer, "tree", None)


class ClassifierTraining:
    """train_classifier's state: the network, its data, where checkpoints go, the running average loss."""

    def __init__(self, datacfg, cfgfile, weightfile=None, clear=False, max_batches=None, workers=2, seed=None,
                 out=None, device="cpu", team=None):
        self.team = team = team or data_parallel.team()  # under mpirun: this rank's (data_parallel.py)
        self.out = out = out or sys.stdout
        self.base = basecfg(cfgfile)
        print(self.base, file=out)
        seed = team.seed(seed if seed is not None else time.time_ns() % 2**32)
        np.random.seed(seed)  # as srand(seed) before load_network: the layers' random initial weights
        self.net = net = Network.from_cfg(cfgfile)
        if weightfile is not None:
            net.load_weights(weightfile, allow_partial=True)  # a backbone (partial) fills the first layers
        if clear:
            net.seen = 0
        if max_batches is not None:  # darknet-py: a shorter run (the poly policy decays over it too)
            net.max_batches = max_batches
        check_training_options(net, endless=True)
        net.to(device)  # "cpu", or a GPU to train there (gpu/train.py)
        team.prepare(net)
        print(f"Learning Rate: {net.learning_rate:g}, Momentum: {net.momentum:g}, Decay: {net.decay:g}", file=out)
        options = read_data_cfg(datacfg)
        if options.int("tag", 0):
            raise DarknetError(f"{datacfg}: tag=1 (TAG_DATA, multi-label tags) is not supported")
        self.checkpoints = Checkpoints(options, self.base, weightfile, team.main)
        self.backup = self.checkpoints.folder
        self.chart = LossChart(os.path.join(self.backup, f"{self.base}_loss.png"), self.base)
        self.labels = read_names(data_path(options.get("labels", DEFAULT_LABELS), datacfg))
        self.paths = read_paths(data_path(options.get("train", DEFAULT_TRAIN), datacfg))
        self.classes = options.int("classes", DEFAULT_CLASSES, low=1)
        if self.classes > net.output_layer.inputs:
            raise DarknetError(f"{datacfg}: classes={self.classes} but the network has "
                               f"{net.output_layer.inputs} outputs")
        print(len(self.paths), file=out)
        self.aug = ClassAugment.from_network(net)
        print(f"{self.aug.min} {self.aug.max}", file=out)
        self.tree = network_tree(net, options, datacfg)
        self.loader = ClassificationLoader(team.shard(self.paths), net.minibatch * net.subdivisions, self.labels,
                                           self.classes, self.aug, self.tree, workers,
                                           team.rank_seed(seed + current_batch(net)))  # resumed: new batches
        self.train = team.wrap(train_batch)
        self.avg_loss = -1.
        self.epoch = net.seen // len(self.paths)

    def step(self):
        """One batch: train_network (subdivisions minibatches), the loss line, checkpoints. Returns the loss."""
        net = self.net
        start = time.time()
        x, truth = self.loader.next()
        print(f"Loaded: {time.time() - start:f} seconds", file=self.out)
        start = time.time()
        truths = np.zeros((len(x), net.output_layer.inputs), np.float32)
        truths[:, :truth.shape[1]] = truth
        loss = self.train(net, x, truths)
        if math.isnan(loss):  # +inf is only a -log(0) of a saturated softmax (Darknet prints it and goes on)
            raise TrainingDiverged(f"loss is nan at batch {current_batch(net)}: training stopped; last checkpoint: "
                                   f"{self.checkpoints.last or 'none'}")
        self.avg_loss = loss if self.avg_loss == -1 else self.avg_loss * AVG_DECAY + loss * (1 - AVG_DECAY)
        n = len(self.paths)
        print(f"{current_batch(net)}, {net.seen / n:.3f}: {loss:f}, {self.avg_loss:f} avg, {current_rate(net):f} rate, "
              f"{time.time() - start:f} seconds, {net.seen} images", file=self.out, flush=True)
        self.chart.add(current_batch(net), loss, self.avg_loss)
        if net.seen // n > self.epoch:
            self.epoch = net.seen // n
            self.save(f"{self.base}_{self.epoch}.weights")
        if current_batch(net) % BACKUP_EVERY == 0:
            self.save(f"{self.base}.backup")
        self.checkpoints.stop_if_asked(net, current_batch(net))
        return loss

    def run(self, progress=None):
        """Train until max_batches (0: forever, as Darknet); saves `<base>.weights` and the loss chart.
        Returns the list of per-batch losses. progress(batch, max_batches or None, text) after each batch."""
        limit = self.net.max_batches
        losses = []
        if progress:
            progress(current_batch(self.net), limit or None)
        try:
            with self.checkpoints.stop_signals():
                while current_batch(self.net) < limit or limit == 0:
                    losses.append(self.step())
                    if progress:
                        progress(current_batch(self.net), limit or None, f"avg {self.avg_loss:.3f}")
        finally:
            self.loader.close()
            self.checkpoints.save_chart(self.chart)
        self.save(f"{self.base}.weights")
        return losses

    def save(self, name):
        """A checkpoint in the backup folder, by rank 0 alone (train_classifier saves net 0's weights, without
        the detector's sync_nets first; Checkpoints writes only on the main rank)."""
        self.checkpoints.save(self.net, os.path.join(self.backup, name), current_batch(self.net))


def train_classifier(datacfg, cfgfile, weightfile=None, clear=False, progress=None, **kwargs):
    """`classifier train`: returns (the trained Network, per-batch losses)."""
    training = ClassifierTraining(datacfg, cfgfile, weightfile, clear, **kwargs)
    losses = training.run(progress)
    return training.net, losses


def classify_crops(net, paths, tree=None, batch=16):
    """validate_classifier_single's predictions: resize_min + centre crop at the network width, forward,
    leaf probabilities for a tree (hierarchy_predictions with only_leaves). Yields (path, probabilities)."""
    for start in range(0, len(paths), batch):
        chunk = paths[start:start + batch]
        x = np.stack([validation_crop(load_image(p), net.w) for p in chunk])
        if net.h != net.w:
            raise DarknetError("validation crops are square (net->w x net->w); the network is not")
        probs = to_numpy(net.forward(x)).reshape(len(chunk), -1).copy()
        for p, row in zip(chunk, probs):
            if tree is not None:
                hierarchy_predictions(row[:tree.n], tree, only_leaves=True)
            yield p, row


def validate_classifier(datacfg, cfgfile, weightfile, out=None, net=None, progress=None):
    """`classifier valid` (validate_classifier_single): top-1 and top-k (`top` in the .data, default 1)
    accuracy over the `valid` list, the label taken from each path; prints Darknet's two lines per image.
    Returns (top-1, top-k) as fractions. progress(images done, images) after each image."""
    out = out or sys.stdout
    options = read_data_cfg(datacfg)
    if net is None:
        net = Network.from_cfg(cfgfile)
        net.load_weights(weightfile)
    labels = read_names(data_path(options.get("labels", DEFAULT_LABELS), datacfg))
    paths = read_paths(data_path(options.get("valid", DEFAULT_TRAIN), datacfg))
    classes = options.int("classes", DEFAULT_CLASSES, low=1)
    topk = options.int("top", 1, low=1)
    tree = network_tree(net, options, datacfg)
    hits1 = hitsk = 0
    for i, (path, pred) in enumerate(classify_crops(net, paths, tree)):
        label = class_of(path, labels[:classes])
        order = np.argsort(-pred[:classes], kind="stable")[:topk]  # top_k: ties keep the lower index
        hits1 += int(order[0] == label)
        hitsk += int(label in order)
        print(f"{path}, {label}, {pred[0]:f}, {pred[1]:f}, ", file=out)
        print(f"{i}: top 1: {hits1 / (i + 1):f}, top {topk}: {hitsk / (i + 1):f}", file=out)
        if progress:
            progress(i + 1, len(paths))
    return hits1 / len(paths), hitsk / len(paths)
