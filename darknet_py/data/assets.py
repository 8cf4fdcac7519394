"""Files darknet-py uses but does not commit: Darknet's larger data files and pjreddie's weights.

    fetch_data(dest="data")        -> copy (or download) 9k.tree, dog.jpg, ... into data/
    get_weights(name, dest="weights") -> a verified weights/<name>.weights

Every file is written to a temporary name in the destination directory and renamed into place
only once it is complete (and, for weights, once its size and published checksum match), so an
interrupted or failed fetch never leaves a file that looks usable.
"""
import hashlib
import os
import tempfile
import urllib.error
import urllib.request
from typing import NamedTuple

from ..errors import DarknetError


class AssetError(DarknetError):
    """A data or weights file could not be fetched or did not verify. One-line message."""


# ---------------------------------------------------------------------------------------------
# Darknet's data files

DARKNET_DATA_DIR = "/usr/share/darknet/data"  # Debian's `darknet` package installs them here
DATA_URL = "https://raw.githubusercontent.com/pjreddie/darknet/master/data/"
DATA_FILES = (
    "9k.tree", "9k.names", "9k.labels", "coco9k.map", "inet9k.map",
    "imagenet.labels.list", "imagenet.shortnames.list",
    "dog.jpg", "eagle.jpg", "giraffe.jpg", "horses.jpg", "kite.jpg", "person.jpg", "scream.jpg",
)


def fetch_data(dest="data", names=DATA_FILES, darknet_dir=DARKNET_DATA_DIR):
    """Put Darknet's data files `names` into `dest`; return their paths.

    A file already in `dest` is kept. Otherwise it is copied from the installed Darknet
    (`darknet_dir`) if there, else downloaded from DATA_URL.
    """
    os.makedirs(dest, exist_ok=True)
    paths = []
    for name in names:
        target = os.path.join(dest, name)
        if not os.path.isfile(target):
            local = os.path.join(darknet_dir, name) if darknet_dir else None
            if local and os.path.isfile(local):
                _copy_file(local, target)
            else:
                _download(DATA_URL + name, target)
        paths.append(target)
    return paths


# ---------------------------------------------------------------------------------------------
# pjreddie's weights

WEIGHTS_URL = "https://pjreddie.com/media/files/"
MIRROR_ENV = "DARKNET_WEIGHTS_MIRROR"


class WeightsInfo(NamedTuple):
    file: str        # file name on pjreddie.com and in the mirror / dest directory
    sizes: tuple     # accepted sizes in bytes
    algo: str        # "sha256", "sha1" or None where no checksum is published
    digest: str
    folder: str = ""  # where under WEIGHTS_URL, when not at its top (yolov1/)


def _h(floats_bytes):
    """Both header variants: 16 bytes (format 0.1, 32-bit `seen`) or 20 (0.2+, 64-bit `seen`)."""
    return (floats_bytes + 16, floats_bytes + 20)


# Sizes and checksums from ../shared/weights/CHECKSUMS.md, which cites its sources:
# tiny: the staged authentic copy (sha256 measured); yolov2-tiny: sha256 from openvinotoolkit
# open_model_zoo models/public/yolo-v2-tiny-tf/model.yml; yolov2-tiny-voc, yolov2-voc: sha1 from
# opencv/opencv_extra testdata/dnn/download_models.py. The other sizes are computed from the
# float count of the cfg plus the header. darknet19_448 is not in that table: it has the same
# layers as darknet19, hence the same float count.
WEIGHTS = {
    "tiny": WeightsInfo("tiny.weights", (4185968,), "sha256",
                        "f1c3fe6b9bab9af69ae2a090682df3e5b9d83accba69551315f030ce1b37ea81"),
    "yolov2-tiny": WeightsInfo("yolov2-tiny.weights", (44948600,), "sha256",
                               "16f4e870f1aed83f0089cb69bfda6b53cb7b2a4a01721be56eaf5c899dfac45f"),
    "yolov2-tiny-voc": WeightsInfo("yolov2-tiny-voc.weights", (63471556,), "sha1",
                                   "24b4bd049fc4fa5f5e95f684a8967e65c625dff9"),
    "yolov2-voc": WeightsInfo("yolov2-voc.weights", (202704260,), "sha1",
                              "1cc1a7f8ad12d563d85b76e9de025dc28ac397bb"),
    "yolov2": WeightsInfo("yolov2.weights", (203934260,), None, None),
    "yolo9000": WeightsInfo("yolo9000.weights", _h(195230004), None, None),
    "darknet19": WeightsInfo("darknet19.weights", _h(83427104), None, None),
    "darknet19_448": WeightsInfo("darknet19_448.weights", _h(83427104), None, None),
    "darknet19_448.conv.23": WeightsInfo("darknet19_448.conv.23", _h(79327104), None, None),
    "darknet": WeightsInfo("darknet.weights", _h(29293920), None, None),
    "extraction": WeightsInfo("extraction.weights", _h(93821600), None, None),
    # YOLOv3, Darknet-53 and YOLOv1: sizes from the float count of our cfg/ files plus the header (the
    # 20-byte one where it is known); sha256 from PurdueDualityLab/TensorFlowModels
    # yolo/utils/downloads/file_manager.py (its urls table). None is published that we know of for
    # darknet53.conv.74 (what `darknet-py partial cfg/darknet53.cfg darknet53.weights darknet53.conv.74 74`
    # makes) or yolov1 (pjreddie.com/media/files/yolov1/).
    "yolov3": WeightsInfo("yolov3.weights", (248007048,), "sha256",
                          "523e4e69e1d015393a1b0a441cef1d9c7659e3eb2d7e15f793f060a21b32f297"),
    "yolov3-tiny": WeightsInfo("yolov3-tiny.weights", (35434956,), "sha256",
                               "dccea06f59b781ec1234ddf8d1e94b9519a97f4245748a7d4db75d5b7080a42c"),
    "yolov3-spp": WeightsInfo("yolov3-spp.weights", (252209544,), "sha256",
                              "87a1e8c85c763316f34e428f2295e1db9ed4abcec59dd9544f8052f50de327b4"),
    "darknet53": WeightsInfo("darknet53.weights", _h(166582560), "sha256",
                             "51f4d36ee12e4542f52e21e41a7376063e3546097709d6334ba90ebcdb232065"),
    "darknet53.conv.74": WeightsInfo("darknet53.conv.74", _h(162482560), None, None),
    "yolov1": WeightsInfo("yolov1.weights", _h(789312972), None, None, folder="yolov1/"),
}


def weights_info(name):
    """The WEIGHTS entry for `name` ("yolov2" or "yolov2.weights")."""
    key = name[:-len(".weights")] if name.endswith(".weights") else name
    if key not in WEIGHTS:
        raise AssetError(f"unknown weights {name!r}; known: {', '.join(WEIGHTS)}")
    return WEIGHTS[key]


def get_weights(name, dest="weights", progress=None):
    """Return the path of a verified copy of pjreddie's weights `name` in `dest`.

    Order: an existing file in `dest` that verifies; the mirror directory named by
    $DARKNET_WEIGHTS_MIRROR if it holds the file; a download from pjreddie.com.
    A copy that fails verification raises AssetError and leaves nothing behind. progress(bytes done, bytes
    expected) as the copy or download goes.
    """
    info = weights_info(name)
    os.makedirs(dest, exist_ok=True)
    target = os.path.join(dest, info.file)
    if os.path.isfile(target):
        try:
            with open(target, "rb") as f:
                _check(f, None, info, target)
            return target
        except AssetError:
            pass  # stale or truncated: fetch it again, replacing it only once verified
    mirror = os.environ.get(MIRROR_ENV)
    if mirror and os.path.isfile(os.path.join(mirror, info.file)):
        _copy_file(os.path.join(mirror, info.file), target, info, progress)
    else:
        hint = f"; to work offline put {info.file} in a directory and set {MIRROR_ENV} to it"
        _download(WEIGHTS_URL + info.folder + info.file, target, info, hint, progress)
    return target


# ---------------------------------------------------------------------------------------------
# Writing: stream into a temp file next to the target, check, then rename

def _open_url(url):
    """Open `url` for reading (tests replace this to simulate being offline)."""
    return urllib.request.urlopen(url, timeout=60)


def _one_line(err):
    return " ".join(str(err).split())


def _copy_file(src, target, info=None, progress=None):
    with open(src, "rb") as f:
        _install(f, target, src, info, progress)


def _download(url, target, info=None, hint="", progress=None):
    try:
        stream = _open_url(url)
    except (urllib.error.URLError, OSError) as e:
        raise AssetError(f"cannot download {url}: {_one_line(e)}{hint}") from e
    with stream:
        _install(stream, target, url, info, progress)


def _install(stream, target, source, info, progress=None):
    """Copy `stream` to `target` via a temp file, verifying it against `info` (if given)."""
    fd, tmp = tempfile.mkstemp(prefix="." + os.path.basename(target) + ".",
                               suffix=".part", dir=os.path.dirname(target) or ".")
    try:
        with os.fdopen(fd, "wb") as out:
            _check(stream, out, info, source, progress)
        os.replace(tmp, target)
    except BaseException as e:
        try:
            os.unlink(tmp)
        except FileNotFoundError:
            pass
        if isinstance(e, OSError):  # network drop mid-stream, disk full, ...
            raise AssetError(f"cannot fetch {source}: {_one_line(e)}") from e
        raise


def _check(stream, out, info, source, progress=None):
    """Read `stream` to the end (writing to `out` if given, calling progress(bytes, expected bytes) after
    each chunk); raise AssetError unless its size and checksum match `info`."""
    digest = hashlib.new(info.algo) if info and info.algo else None
    limit = max(info.sizes) if info else None
    size = 0
    while True:
        chunk = stream.read(1 << 20)
        if not chunk:
            break
        size += len(chunk)
        if limit is not None and size > limit:
            raise AssetError(f"{source}: more than the expected {limit} bytes")
        if digest:
            digest.update(chunk)
        if out:
            out.write(chunk)
        if progress:
            progress(size, limit)
    if info is None:
        return
    if size not in info.sizes:
        want = " or ".join(str(s) for s in info.sizes)
        raise AssetError(f"{source}: {size} bytes, expected {want}")
    if digest and digest.hexdigest() != info.digest:
        raise AssetError(f"{source}: {info.algo} {digest.hexdigest()} does not match the "
                         f"published {info.digest}")
