"""Shared test fixtures: where the original Darknet's files are, random weights for any cfg, oracle skips."""
import os
import sys
from pathlib import Path

# No timing-dependent choices in tests (nor a tuning cache written): the fast path's shape rules (cpu/tune.py);
# tests/cpu/test_tune.py turns measuring on where it is the subject.
os.environ["DARKNET_PY_TUNE"] = "0"

import numpy as np
import pytest

sys.path.insert(0, str(Path(__file__).parent))  # `import oracle` from any working directory
import oracle  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
DARKNET_CFG = Path("/usr/share/darknet/cfg")
DARKNET_DATA = Path("/usr/share/darknet/data")
SHARED = Path(os.environ.get("DARKNET_PY_SHARED", ROOT.parent / "shared"))

needs_oracle = pytest.mark.skipif(not oracle.available(), reason="the original Darknet (apt-get install darknet) is not installed")


def darknet_cfg(name):
    return DARKNET_CFG / f"{name}.cfg"


def project_cfg(name):
    return ROOT / "cfg" / f"{name}.cfg"


@pytest.fixture(scope="session")
def random_weights(tmp_path_factory):
    """random_weights(cfg, seed) -> path of a Darknet .weights file with random but sane values (cached)."""
    from darknet_py.network import Network
    from darknet_py.weights import write_random_weights
    cache = {}
    folder = tmp_path_factory.mktemp("weights")

    def make(cfg, seed=1, confident=False):
        """confident: bias the region's inputs so that objects with probabilities above .5 appear."""
        key = (str(cfg), seed, confident)
        if key not in cache:
            path = folder / f"{Path(cfg).stem}-{seed}{'-confident' * confident}.weights"
            net = Network.from_cfg(cfg)
            write_random_weights(net, path, seed)
            if confident:
                last, region = net.layers[-2], net.layers[-1]
                rng = np.random.default_rng(seed)
                for a in range(region.num):
                    base = a * region.entries
                    last.biases[base + region.coords] += 2.5            # objectness
                    for c in rng.choice(region.classes, 3, replace=False):
                        last.biases[base + region.coords + 1 + c] += 6  # a few likely classes per anchor
                    last.weights[base:base + region.entries] *= .5
                net.save_weights(path)
            cache[key] = path
        return cache[key]
    return make


def relative_error(ours, ref):
    """max |ours - ref| / max |ref|, the per-layer agreement measure (NaN anywhere counts as a failure)."""
    ours, ref = np.asarray(ours), np.asarray(ref)
    if np.isnan(ours).any() or np.isnan(ref).any():
        return np.inf
    return float(np.abs(ours - ref).max() / max(float(np.abs(ref).max()), 1e-30))


def sane_parameters(net, seed=0):
    """write_random_weights' values, in memory."""
    rng = np.random.default_rng(seed)
    for layer in net.layers:
        if hasattr(layer, "weights"):
            layer.weights[...] = rng.normal(0, np.sqrt(2.0 / layer.weights[0].size), layer.weights.shape)
            layer.biases[...] = rng.normal(0, .1, layer.biases.shape)
        if getattr(layer, "batch_normalize", 0) or layer.type == "batchnorm":
            layer.scales[...] = rng.uniform(.5, 1.5, layer.scales.shape)
            layer.rolling_mean[...] = rng.normal(0, .1, layer.rolling_mean.shape)
            layer.rolling_variance[...] = rng.uniform(.5, 1.5, layer.rolling_variance.shape)
    return net


def section(kind, **options):
    """A cfg section as text: [kind] then key=value lines in the order given."""
    return f"[{kind}]\n" + "".join(f"{key}={value}\n" for key, value in options.items())


def conv(filters, size=3, stride=1, activation="leaky", batch_normalize=1, **options):
    """A padded [convolutional] section."""
    return section("convolutional", batch_normalize=batch_normalize, filters=filters, size=size, stride=stride,
                   pad=1, activation=activation, **options)


def maxpool(size=2, stride=2):
    return section("maxpool", size=size, stride=stride)
