"""The real pjreddie Tiny Darknet weights through `classifier predict`, against the original."""
import numpy as np
import pytest

import oracle
from conftest import DARKNET_DATA, SHARED, darknet_cfg, needs_oracle, project_cfg
from darknet_py.detector import classify
from darknet_py.network import Network

TINY = SHARED / "weights" / "tiny.weights"


@pytest.fixture(scope="module")
def tiny_net():
    if not TINY.exists():
        pytest.skip(f"{TINY} not found")
    return Network.from_cfg(project_cfg("tiny")).load_weights(TINY)


@needs_oracle
@pytest.mark.parametrize("image", ["dog.jpg", "eagle.jpg", "giraffe.jpg", "horses.jpg", "person.jpg"])
def test_top5_equals_darknet(tiny_net, image):
    path = DARKNET_DATA / image
    probs = oracle.classify(darknet_cfg("tiny"), TINY, path)
    expected = np.argsort(-probs, kind="stable")[:5]
    ours = classify(tiny_net, path, top=5)
    assert [i for i, _ in ours] == list(expected)
    np.testing.assert_allclose([p for _, p in ours], probs[expected], rtol=1e-4)


@needs_oracle
def test_dog_is_a_malamute(tiny_net):
    """The number the installed Darknet prints for dog.jpg (OpenCV decoding): malamute 14.18%."""
    (index, prob), *_ = classify(tiny_net, DARKNET_DATA / "dog.jpg", top=5)
    assert index == 14 and round(prob * 100, 2) == 14.18  # line 15 of imagenet.shortnames.list: malamute
