"""Darknet's .weights format (`parser.c: load_weights_upto`, `save_weights_upto`).

Header: int32 major, minor, revision, then `seen` - a size_t (8 bytes) when major*10+minor >= 2 and both
are < 1000, else an int32 (the 16-byte headers of pjreddie's older files). Then, layer by layer, float32:
  convolutional: biases[n], (scales, rolling_mean, rolling_variance)[n] if batch_normalize, weights[n][c/g][k][k]
  connected:     biases[out], weights[out][in], then (scales, rolling_mean, rolling_variance) if batch_normalize
  batchnorm:     scales, rolling_mean, rolling_variance
  local:         biases[n][out_h][out_w], weights[out_h*out_w][n][c][k][k]
We save as Darknet does: version 0.2.0 with an 8-byte seen.
"""
import os

import numpy as np

from .errors import WeightsError, file_problem

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
    if layer.type == "local":
        return [layer.biases, layer.weights]
    return []


def fan_in(layer):
    """The inputs each output of a layer with weights sums: a filter's c*k*k, a connected row's inputs,
    a [local] location's c*k*k."""
    return layer.weights.shape[-1] if layer.type == "local" else layer.weights[0].size


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
    if seen < 0:  # Darknet stores the int in a size_t: a huge count that says the schedule is over
        raise WeightsError(f"{path}: the header's image count (seen) is {seen}: not a Darknet weights file?")
    return (major, minor, revision), seen, 12 + seen_bytes


def _nonfinite_error(path, counts):
    """The error for a file holding NaN or inf: the first such layer and how many values in all."""
    first = min(counts)
    kind, count = counts[first]
    total = sum(n for _, n in counts.values())
    return WeightsError(f"{path}: {total} NaN or infinite values, the first {count} in layer {first} ({kind}): "
                        f"the weights of a diverged training run? (load_weights(..., allow_nonfinite=True) loads them)")


def load_weights(net, path, cutoff=None, allow_partial=False, allow_nonfinite=False):
    """Fill `net`'s layers [0, cutoff) from a Darknet .weights file; sets net.seen.

    Without a cutoff the file must hold exactly what the cfg needs; a mismatch is an error that states the
    expected and actual sizes. `allow_partial` accepts a file that ends on a layer boundary (a pretrained
    backbone such as darknet19_448.conv.23 loaded into a detector, as Darknet allows) and reports how many
    layers it filled; a header with no layer after it is refused. NaN or inf values are refused (Darknet loads
    them and predicts nothing, or garbage) unless allow_nonfinite; finite values of any size are fine.
    """
    layers = net.layers[:cutoff]
    if not str(path):
        raise WeightsError("the weights path is empty ('')")
    problem = file_problem(path)
    if problem:
        raise WeightsError(f"{path}: cannot read weights: {problem}")
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
        partial_ok = allow_partial and size in boundaries and (size > header or needed == header)
        if size != needed and not (cutoff is not None and size > needed) and not partial_ok:
            hint = ""
            if abs(size - needed) == 4:
                hint = (f"; the header says version {'.'.join(map(str, version))}, so `seen` is "
                        f"{header - 12} bytes - a file 4 bytes off usually has the other header form")
            elif size == header:
                hint = ": the header alone, no layer"
            raise WeightsError(f"{path}: expected {needed} bytes for {net.path} ({header}-byte header + "
                               f"{(needed - header) // 4} floats), got {size}{hint}")
        loaded, nonfinite = 0, {}
        for i, layer, arrays in plan:
            if f.tell() >= size:
                break
            for a in arrays:
                a[...] = np.fromfile(f, "<f4", a.size).reshape(a.shape)
                bad = a.size - int(np.count_nonzero(np.isfinite(a)))
                if bad:
                    nonfinite[i] = (layer.type, nonfinite.get(i, (0, 0))[1] + bad)
            if transpose and layer.type == "connected":
                # Darknet transposes only connected weights when the version numbers are > 1000.
                layer.weights[...] = layer.weights.reshape(layer.inputs, -1).T.reshape(layer.weights.shape)
            if layer.type == "convolutional" and layer.flipped:
                w = layer.weights
                w[...] = w.reshape(-1, w.shape[0]).T.reshape(w.shape)
            loaded = i + 1
    if nonfinite and not allow_nonfinite:
        raise _nonfinite_error(path, nonfinite)
    net.seen = seen
    net.weights_version = version
    return loaded


def temp_path(path, pid=None):
    """Where save_weights writes before renaming: hidden, this process's id in it, and ending in .tmp, so no
    `*.weights` or `*.backup` glob (nor Darknet) takes a half-written file for a checkpoint."""
    folder, name = os.path.split(str(path))
    return os.path.join(folder, f".{name}.{os.getpid() if pid is None else pid}.tmp")


def save_weights(net, path, cutoff=None):
    """save_weights_upto: version 0.2.0, 8-byte seen, layers [0, cutoff). Written atomically: into temp_path,
    flushed to the disk, then renamed over `path`; a failed or interrupted write removes its temp file, and
    the file under the real name stays as it was."""
    tmp = temp_path(path)
    try:
        with open(tmp, "wb") as f:
            # f.write, not ndarray.tofile: a full disk then raises with its errno (tofile's OSError has none).
            f.write(np.asarray(SAVE_VERSION, "<i4").tobytes())
            f.write(np.asarray([net.seen], "<u8").tobytes())
            for layer in net.layers[:cutoff]:
                if layer.dontsave:
                    continue
                for a in layer_arrays(layer):
                    f.write(np.ascontiguousarray(a, "<f4").data)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except OSError as e:
        raise WeightsError(f"{path}: cannot write weights: {e.strerror or 'disk full or write failed'}") from None
    finally:
        if os.path.exists(tmp):
            os.remove(tmp)


def write_random_weights(net, path, seed=0):
    """Fill `net` with random but sane values and save them: for oracle tests on any cfg.

    Weights ~ N(0, sqrt(2/fan_in)) as Darknet initialises them; biases small; BN scales near 1, rolling
    means small and variances in [0.5, 1.5] so activations stay O(1) through deep networks.
    """
    rng = np.random.default_rng(seed)
    for layer in net.layers:
        if not hasattr(layer, "weights"):
            continue
        layer.weights[...] = rng.normal(0, np.sqrt(2.0 / fan_in(layer)), layer.weights.shape)
        layer.biases[...] = rng.normal(0, .1, layer.biases.shape)
        if getattr(layer, "batch_normalize", 0):
            layer.scales[...] = rng.uniform(.5, 1.5, layer.scales.shape)
            layer.rolling_mean[...] = rng.normal(0, .1, layer.rolling_mean.shape)
            layer.rolling_variance[...] = rng.uniform(.5, 1.5, layer.rolling_variance.shape)
    net.seen = int(rng.integers(0, 10**6))
    save_weights(net, path)
