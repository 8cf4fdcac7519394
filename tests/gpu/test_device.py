"""Device selection (device.select_device, device_from_flags) where there may be no GPU."""
import pytest

from darknet_py.gpu import device
from darknet_py.errors import DarknetError
from darknet_py.network import Network
from conftest import project_cfg


def test_cpu_choices():
    assert device.select_device("cpu") == "cpu"
    assert device.select_device(-1) == "cpu"
    assert device.device_from_flags(nogpu=True, gpu_index="0") == "cpu"


def test_auto_is_the_cpu_without_a_gpu():
    expected = 0 if device.gpu_count() else "cpu"
    assert device.select_device(None) == expected
    assert device.select_device("auto") == expected
    assert device.device_from_flags() == expected


@pytest.mark.parametrize("name", ["tpu", "cuda:x", -2, 1.5])
def test_unknown_devices_are_refused(name):
    with pytest.raises(DarknetError, match="unknown device"):
        device.select_device(name)


@pytest.mark.skipif(device.gpu_count() > 0, reason="a GPU is present")
def test_asking_for_a_missing_gpu_says_why():
    with pytest.raises(DarknetError, match="GPU"):
        device.select_device("cuda:0")
    with pytest.raises(DarknetError, match="GPU"):
        device.device_from_flags(gpus="0,1")


def test_network_to_cpu_keeps_the_cpu_path():
    net = Network.from_cfg(project_cfg("yolov2-tiny")).to("cpu")
    assert net.gpu is None
