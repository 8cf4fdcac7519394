"""Training and validating a classifier (`examples/classifier.c: train_classifier, validate_classifier_single`).

train_classifier: batches of augmented images labelled from their paths (classification_data.py), one
SGD step per batch of minibatch * subdivisions images, Darknet's loss line, a checkpoint per epoch
(`<backup>/<base>_<epoch>.weights`), `<backup>/<base>.backup` every BACKUP_EVERY batches and
`<backup>/<base>.weights` at the end (classifier.c names its final file so; the detector says _final).
Resume by passing a checkpoint: its `seen` carries the batch number, epoch and learning rate on.
"""
import os
import sys
import time

import numpy as np

from ..backend import to_numpy
from ..cfg import read_data_cfg
from ..classification_data import ClassAugment, ClassificationLoader, class_of, validation_crop
from ..data import read_names, read_paths
from ..errors import DarknetError
from ..image import load_image
from ..network import Network
from ..tree import Tree, hierarchy_predictions
from .schedule import current_batch, current_rate
from .sgd import train_datum

BACKUP_EVERY = 1000  # train_classifier: `<base>.backup` whenever get_current_batch(net) % 1000 == 0
AVG_DECAY = .9       # avg_loss = avg_loss*.9 + loss*.1
DEFAULT_BACKUP = "/backup/"  # option_find_str(options, "backup", "/backup/")
DEFAULT_CLASSES = 2  # option_find_int(options, "classes", 2)


def basecfg(path):
    """utils.c basecfg: the cfg's file name without directory and extension."""
    return os.path.splitext(os.path.basename(path))[0]


def save_atomic(net, path):
    """save_weights through a temporary file and a rename, so a crash never leaves half a checkpoint."""
    tmp = f"{path}.tmp{os.getpid()}"
    net.save_weights(tmp)
    os.replace(tmp, path)


def network_tree(net, options):
    """net->hierarchy: the .data's `tree`, else the tree of the network's [softmax] layer."""
    if options.get("tree"):
        return Tree.read(options["tree"])
    return getattr(net.output_layer, "tree", None)


class ClassifierTraining:
    """train_classifier's state: the network, its data, where checkpoints go, the running average loss."""

    def __init__(self, datacfg, cfgfile, weightfile=None, clear=False, workers=2, seed=None, out=sys.stdout):
        self.out = out
        self.base = basecfg(cfgfile)
        print(self.base, file=out)
        self.net = net = Network.from_cfg(cfgfile)
        if weightfile:
            net.load_weights(weightfile)
        if clear:
            net.seen = 0
        print(f"Learning Rate: {net.learning_rate:g}, Momentum: {net.momentum:g}, Decay: {net.decay:g}", file=out)
        options = read_data_cfg(datacfg)
        if int(options.get("tag", 0)):
            raise DarknetError(f"{datacfg}: tag=1 (TAG_DATA, multi-label tags) is not supported")
        self.backup = options.get("backup", DEFAULT_BACKUP)
        self.labels = read_names(options.get("labels", "data/labels.list"))
        self.paths = read_paths(options.get("train", "data/train.list"))
        self.classes = int(options.get("classes", DEFAULT_CLASSES))
        if self.classes > net.output_layer.inputs:
            raise DarknetError(f"{datacfg}: classes={self.classes} but the network has {net.output_layer.inputs} outputs")
        print(len(self.paths), file=out)
        self.aug = ClassAugment.from_network(net)
        print(f"{self.aug.min} {self.aug.max}", file=out)
        self.tree = network_tree(net, options)
        self.loader = ClassificationLoader(self.paths, net.minibatch * net.subdivisions, self.labels,
                                           self.classes, self.aug, self.tree, workers,
                                           seed if seed is not None else time.time_ns() % 2**32)
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
        total = 0.
        for s in range(net.subdivisions):
            part = slice(s * net.minibatch, (s + 1) * net.minibatch)
            total += train_datum(net, x[part], truths[part])
        loss = total / len(x)  # train_network: sum of the minibatch costs / (n*batch)
        self.avg_loss = loss if self.avg_loss == -1 else self.avg_loss * AVG_DECAY + loss * (1 - AVG_DECAY)
        n = len(self.paths)
        print(f"{current_batch(net)}, {net.seen / n:.3f}: {loss:f}, {self.avg_loss:f} avg, {current_rate(net):f} rate, "
              f"{time.time() - start:f} seconds, {net.seen} images", file=self.out)
        if net.seen // n > self.epoch:
            self.epoch = net.seen // n
            save_atomic(net, os.path.join(self.backup, f"{self.base}_{self.epoch}.weights"))
        if current_batch(net) % BACKUP_EVERY == 0:
            save_atomic(net, os.path.join(self.backup, f"{self.base}.backup"))
        return loss

    def run(self, max_batches=None):
        """Train until the cfg's max_batches (or `max_batches`); 0 means forever, as in Darknet.
        Saves `<base>.weights` and returns the list of per-batch losses."""
        limit = self.net.max_batches if max_batches is None else max_batches
        losses = []
        try:
            while current_batch(self.net) < limit or limit == 0:
                losses.append(self.step())
        finally:
            self.loader.close()
        save_atomic(self.net, os.path.join(self.backup, f"{self.base}.weights"))
        return losses


def train_classifier(datacfg, cfgfile, weightfile=None, clear=False, **kwargs):
    """`classifier train`: returns (the trained Network, per-batch losses)."""
    training = ClassifierTraining(datacfg, cfgfile, weightfile, clear, **kwargs)
    losses = training.run()
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


def validate_classifier(datacfg, cfgfile, weightfile, out=sys.stdout, net=None):
    """`classifier valid` (validate_classifier_single): top-1 and top-k (`top` in the .data, default 1)
    accuracy over the `valid` list, the label taken from each path; prints Darknet's two lines per image.
    Returns (top-1, top-k) as fractions."""
    options = read_data_cfg(datacfg)
    if net is None:
        net = Network.from_cfg(cfgfile)
        net.load_weights(weightfile)
    labels = read_names(options.get("labels", "data/labels.list"))
    paths = read_paths(options.get("valid", "data/train.list"))
    classes = int(options.get("classes", DEFAULT_CLASSES))
    topk = int(options.get("top", 1))
    tree = network_tree(net, options)
    hits1 = hitsk = 0
    for i, (path, pred) in enumerate(classify_crops(net, paths, tree)):
        label = class_of(path, labels[:classes])
        order = np.argsort(-pred[:classes], kind="stable")[:topk]  # top_k: ties keep the lower index
        hits1 += int(order[0] == label)
        hitsk += int(label in order)
        print(f"{path}, {label}, {pred[0]:f}, {pred[1]:f}, ", file=out)
        print(f"{i}: top 1: {hits1 / (i + 1):f}, top {topk}: {hitsk / (i + 1):f}", file=out)
    return hits1 / len(paths), hitsk / len(paths)
