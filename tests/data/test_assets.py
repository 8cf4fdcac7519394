"""darknet_py.data.assets: verified weights from a mirror or a download, Darknet's data files."""
import hashlib
import io
import os
import urllib.error
from pathlib import Path

import pytest

from conftest import SHARED, project_cfg
from darknet_py.data import assets
from darknet_py.data.assets import AssetError, fetch_data, get_weights
from darknet_py.errors import DarknetError

SHARED_WEIGHTS = SHARED / "weights"
TINY = SHARED_WEIGHTS / "tiny.weights"
TINY_SHA256 = "f1c3fe6b9bab9af69ae2a090682df3e5b9d83accba69551315f030ce1b37ea81"
DARKNET_DATA = Path(assets.DARKNET_DATA_DIR)

needs_tiny = pytest.mark.skipif(not TINY.is_file(), reason=f"{TINY} not staged")


def sha256(path):
    return hashlib.sha256(Path(path).read_bytes()).hexdigest()


@pytest.fixture
def offline(monkeypatch):
    """No network: every download attempt fails the way urlopen does without a route."""
    calls = []

    def refuse(url):
        calls.append(url)
        raise urllib.error.URLError("[Errno -3] Temporary failure in name resolution")

    monkeypatch.setattr(assets, "_open_url", refuse)
    monkeypatch.delenv(assets.MIRROR_ENV, raising=False)
    return calls


def test_asset_error_is_a_darknet_error():
    assert issubclass(AssetError, DarknetError)


def test_table_has_the_project_networks():
    for name in ("tiny", "yolov2", "yolov2-tiny", "yolov2-voc", "yolov2-tiny-voc", "yolo9000",
                 "darknet19", "darknet19_448", "darknet19_448.conv.23"):
        info = assets.weights_info(name)
        assert info.sizes and all(s % 4 == 0 for s in info.sizes)  # 16/20-byte header + floats
    assert assets.weights_info("tiny.weights") is assets.WEIGHTS["tiny"]
    assert assets.WEIGHTS["darknet19_448.conv.23"].file == "darknet19_448.conv.23"


@pytest.mark.parametrize("name,cfg,cutoff", [("yolov3", "yolov3", None), ("yolov3-tiny", "yolov3-tiny", None),
                                             ("yolov3-spp", "yolov3-spp", None), ("darknet53", "darknet53", None),
                                             ("darknet53.conv.74", "darknet53", 74), ("yolov1", "yolov1", None)])
def test_zoo_sizes_are_the_cfgs_parameter_counts(name, cfg, cutoff):
    """The sizes `weights get` accepts are a header (16 or 20 bytes) plus the float count of our cfg file (the
    first `cutoff` layers for a partial backbone); yolov3-tiny's is the 35434956 bytes published with its sha."""
    from darknet_py.network import Network
    from darknet_py.weights import layer_arrays
    net = Network.from_cfg(project_cfg(cfg))
    floats = sum(a.size for layer in net.layers[:cutoff] for a in layer_arrays(layer))
    assert set(assets.weights_info(name).sizes) <= {16 + 4 * floats, 20 + 4 * floats}
    assert assets.weights_info("yolov3-tiny").sizes == (35434956,)


def test_yolov1_comes_from_its_folder(tmp_path, offline):
    with pytest.raises(AssetError, match="cannot download"):
        get_weights("yolov1", dest=tmp_path)
    assert offline == [assets.WEIGHTS_URL + "yolov1/yolov1.weights"]
    assert not any(tmp_path.iterdir())


def test_unknown_name(tmp_path):
    with pytest.raises(AssetError, match="unknown weights 'yolov7'"):
        get_weights("yolov7", dest=tmp_path)


@needs_tiny
def test_mirror_gives_a_verified_copy(tmp_path, offline, monkeypatch):
    monkeypatch.setenv(assets.MIRROR_ENV, str(SHARED_WEIGHTS))
    dest = tmp_path / "weights"
    path = get_weights("tiny", dest=dest)
    assert Path(path) == dest / "tiny.weights"
    assert sha256(path) == TINY_SHA256
    assert os.listdir(dest) == ["tiny.weights"]  # no temp file left over
    assert offline == []  # never touched the network

    # Present and valid: returned as is, even with no mirror.
    monkeypatch.delenv(assets.MIRROR_ENV)
    assert get_weights("tiny.weights", dest=dest) == path


@needs_tiny
@pytest.mark.parametrize("damage", ["flip_byte", "truncate", "append"])
def test_corrupt_mirror_copy_is_refused(tmp_path, offline, monkeypatch, damage):
    data = bytearray(TINY.read_bytes())
    if damage == "flip_byte":
        data[1000] ^= 0xFF  # same size: only the sha256 can tell
    elif damage == "truncate":
        del data[-4:]
    else:
        data += b"\0\0\0\0"
    mirror = tmp_path / "mirror"
    mirror.mkdir()
    (mirror / "tiny.weights").write_bytes(bytes(data))
    monkeypatch.setenv(assets.MIRROR_ENV, str(mirror))
    dest = tmp_path / "weights"
    with pytest.raises(AssetError) as exc:
        get_weights("tiny", dest=dest)
    msg = str(exc.value)
    assert "\n" not in msg and "tiny.weights" in msg
    assert ("sha256" in msg) if damage == "flip_byte" else ("bytes" in msg)
    assert os.listdir(dest) == []  # no partial or temp file


def test_offline_without_mirror_is_a_clear_error(tmp_path, offline):
    dest = tmp_path / "weights"
    with pytest.raises(AssetError) as exc:
        get_weights("yolov2", dest=dest)
    msg = str(exc.value)
    assert "\n" not in msg
    assert "https://pjreddie.com/media/files/yolov2.weights" in msg
    assert assets.MIRROR_ENV in msg
    assert offline == ["https://pjreddie.com/media/files/yolov2.weights"]
    assert os.listdir(dest) == []


@needs_tiny
def test_download_is_streamed_and_verified(tmp_path, monkeypatch):
    monkeypatch.delenv(assets.MIRROR_ENV, raising=False)
    urls = []

    def fake_urlopen(url):
        urls.append(url)
        return io.BytesIO(TINY.read_bytes())

    monkeypatch.setattr(assets, "_open_url", fake_urlopen)
    dest = tmp_path / "weights"
    path = get_weights("tiny", dest=dest)
    assert urls == ["https://pjreddie.com/media/files/tiny.weights"]
    assert sha256(path) == TINY_SHA256
    assert os.listdir(dest) == ["tiny.weights"]


@needs_tiny
def test_connection_lost_mid_download_leaves_nothing(tmp_path, monkeypatch):
    monkeypatch.delenv(assets.MIRROR_ENV, raising=False)

    class Dropping(io.BytesIO):
        def read(self, n=-1):
            if self.tell() >= 2_000_000:
                raise ConnectionResetError("Connection reset by peer")
            return super().read(min(n, 1 << 20))

    monkeypatch.setattr(assets, "_open_url", lambda url: Dropping(TINY.read_bytes()))
    dest = tmp_path / "weights"
    with pytest.raises(AssetError, match="Connection reset"):
        get_weights("tiny", dest=dest)
    assert os.listdir(dest) == []


@needs_tiny
def test_stale_file_in_dest_is_replaced(tmp_path, offline, monkeypatch):
    dest = tmp_path / "weights"
    dest.mkdir()
    (dest / "tiny.weights").write_bytes(b"not weights")
    monkeypatch.setenv(assets.MIRROR_ENV, str(SHARED_WEIGHTS))
    assert sha256(get_weights("tiny", dest=dest)) == TINY_SHA256


@pytest.mark.skipif(not DARKNET_DATA.is_dir(), reason="original Darknet data not installed")
def test_fetch_data_copies_from_installed_darknet(tmp_path, offline):
    dest = tmp_path / "data"
    paths = fetch_data(dest)
    assert [Path(p).name for p in paths] == list(assets.DATA_FILES)
    for p in paths:
        assert Path(p).read_bytes() == (DARKNET_DATA / Path(p).name).read_bytes()
    assert sorted(os.listdir(dest)) == sorted(assets.DATA_FILES)
    assert offline == []
    # Second run: everything present, nothing copied again.
    (dest / "dog.jpg").write_bytes(b"kept")
    fetch_data(dest)
    assert (dest / "dog.jpg").read_bytes() == b"kept"


def test_fetch_data_downloads_when_not_installed(tmp_path, monkeypatch):
    urls = []

    def fake_urlopen(url):
        urls.append(url)
        return io.BytesIO(b"content of " + url.encode())

    monkeypatch.setattr(assets, "_open_url", fake_urlopen)
    dest = tmp_path / "data"
    fetch_data(dest, names=("9k.tree", "dog.jpg"), darknet_dir=tmp_path / "none")
    base = "https://raw.githubusercontent.com/pjreddie/darknet/master/data/"
    assert urls == [base + "9k.tree", base + "dog.jpg"]
    assert (dest / "dog.jpg").read_bytes() == b"content of " + (base + "dog.jpg").encode()


def test_fetch_data_offline_is_a_clear_error(tmp_path, offline):
    dest = tmp_path / "data"
    with pytest.raises(AssetError) as exc:
        fetch_data(dest, darknet_dir=tmp_path / "none")
    assert "\n" not in str(exc.value) and "9k.tree" in str(exc.value)
    assert os.listdir(dest) == []
