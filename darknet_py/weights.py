"""Darknet's .weights format (`parser.c: load_weights_upto`, `save_weights_upto`).

Header: int32 major, minor, revision, then `seen` - a size_t (8 bytes) when major*10+minor >= 2 and both
are < 1000, else an int32 (the 16-byte headers of pjreddie's older files). Then, layer by layer, float32:
  convolutional: biases[n], (scales, rolling_mean, rolling_variance)[n] if batch_normalize, weights[n][c/g][k][k]
  connected:     biases[out], weights[out][in], then (scales, rolling_mean, rolling_variance) if batch_normalize
  batchnorm:     scales, rolling_mean, rolling_variance
We save as Darknet does: version 0.2.0 with an 8-byte seen.
"""
import os

import numpy as np

from .errors import WeightsError

SAVE_VERSION = (0, 2, 0)


def header_seen_bytes(major, minor):
    return 8 if major * 10 + minor >= 2 and major < 1000 and minor < 1000 else 4


def layer_arrays(layer, loading=False):
    """The arrays of a layer in file order (views: loading writes into them), per Darknet's layer type.

    When loading, `numload` limits a conv to its first filters and `dontloadscales` means the file has no
    batchnorm values for the layer (load_convolutional_weights); saving always writes everything.
    """
    bn = getattr(layer, "batch_normalize", 0)
    with_bn = bn and not (loading and layer.dontloadscales)
    if layer.type == "convolutional":
        n = (loading and layer.numload) or layer.filters
        arrays = [layer.biases[:n]]
        if with_bn:
            arrays += [layer.scales[:n], layer.rolling_mean[:n], layer.rolling_variance[:n]]
        return arrays + [layer.weights[:n]]
    if layer.type == "connected":
        arrays = [layer.biases, layer.weights]
        if with_bn:
            arrays += [layer.scales, layer.rolling_mean, layer.rolling_variance]
        return arrays
    if layer.type == "batchnorm":
        return [layer.scales, layer.rolling_mean, layer.rolling_variance]
    return []


def _read_header(f, path):
    raw = f.read(12)
    if len(raw) < 12:
        raise WeightsError(f"{path}: {len(raw)} bytes is too short for a Darknet weights header")
    major, minor, revision = (int(v) for v in np.frombuffer(raw, "<i4"))
    seen_bytes = header_seen_bytes(major, minor)
    raw = f.read(seen_bytes)
    if len(raw) < seen_bytes:
        raise WeightsError(f"{path}: truncated header")
    seen = int(np.frombuffer(raw, "<u8" if seen_bytes == 8 else "<i4")[0])
    return (major, minor, revision), seen, 12 + seen_bytes


def load_weights(net, path, cutoff=None, allow_partial=False):
    """Fill `net`'s layers [0, cutoff) from a Darknet .weights file; sets net.seen.

    Without a cutoff the file must hold exactly what the cfg needs; a mismatch is an error that states the
    expected and actual sizes. `allow_partial` accepts a file that ends on a layer boundary (a pretrained
    backbone such as darknet19_448.conv.23 loaded into a detector, as Darknet allows) and reports how many
    layers it filled.
    """
    layers = net.layers[:cutoff]
    try:
        size = os.path.getsize(path)
        f = open(path, "rb")
    except OSError as e:
        raise WeightsError(f"{path}: cannot read weights: {e.strerror}") from None
    with f:
        version, seen, header = _read_header(f, path)
        transpose = version[0] > 1000 or version[1] > 1000
        plan = [(i, layer, layer_arrays(layer, loading=True)) for i, layer in enumerate(layers) if not layer.dontload]
        needed = header + 4 * sum(a.size for _, _, arrays in plan for a in arrays)
        boundaries = {header}
        total = header
        for _, _, arrays in plan:
            total += 4 * sum(a.size for a in arrays)
            boundaries.add(total)
        if size != needed and not (cutoff is not None and size > needed) and not (allow_partial and size in boundaries):
            hint = ""
            if abs(size - needed) == 4:
                hint = (f"; the header says version {'.'.join(map(str, version))}, so `seen` is "
                        f"{header - 12} bytes - a file 4 bytes off usually has the other header form")
            raise WeightsError(f"{path}: expected {needed} bytes for {net.path} ({header}-byte header + "
                               f"{(needed - header) // 4} floats), got {size}{hint}")
        loaded = 0
        for i, layer, arrays in plan:
            if f.tell() >= size:
                break
            for a in arrays:
                a[...] = np.fromfile(f, "<f4", a.size).reshape(a.shape)
            if transpose and layer.type == "connected":
                # Darknet transposes only connected weights when the version numbers are > 1000.
                layer.weights[...] = layer.weights.reshape(layer.inputs, -1).T.reshape(layer.weights.shape)
            if layer.type == "convolutional" and layer.flipped:
                w = layer.weights
                w[...] = w.reshape(-1, w.shape[0]).T.reshape(w.shape)
            loaded = i + 1
    net.seen = seen
    net.weights_version = version
    return loaded


def save_weights(net, path, cutoff=None):
    """save_weights_upto: version 0.2.0, 8-byte seen, layers [0, cutoff). Written atomically (temp + rename)."""
    tmp = f"{path}.tmp{os.getpid()}"
    try:
        with open(tmp, "wb") as f:
            np.asarray(SAVE_VERSION, "<i4").tofile(f)
            np.asarray([net.seen], "<u8").tofile(f)
            for layer in net.layers[:cutoff]:
                if layer.dontsave:
                    continue
                for a in layer_arrays(layer):
                    np.ascontiguousarray(a, "<f4").tofile(f)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except OSError as e:
        if os.path.exists(tmp):
            os.remove(tmp)
        raise WeightsError(f"{path}: cannot write weights: {e.strerror}") from None


def write_random_weights(net, path, seed=0):
    """Fill `net` with random but sane values and save them: for oracle tests on any cfg.

    Weights ~ N(0, sqrt(2/fan_in)) as Darknet initialises them; biases small; BN scales near 1, rolling
    means small and variances in [0.5, 1.5] so activations stay O(1) through deep networks.
    """
    rng = np.random.default_rng(seed)
    for layer in net.layers:
        if not hasattr(layer, "weights"):
            continue
        fan_in = layer.weights[0].size
        layer.weights[...] = rng.normal(0, np.sqrt(2.0 / fan_in), layer.weights.shape)
        layer.biases[...] = rng.normal(0, .1, layer.biases.shape)
        if getattr(layer, "batch_normalize", 0):
            layer.scales[...] = rng.uniform(.5, 1.5, layer.scales.shape)
            layer.rolling_mean[...] = rng.normal(0, .1, layer.rolling_mean.shape)
            layer.rolling_variance[...] = rng.uniform(.5, 1.5, layer.rolling_variance.shape)
    net.seen = int(rng.integers(0, 10**6))
    save_weights(net, path)
