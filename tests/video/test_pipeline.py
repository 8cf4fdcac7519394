"""video/pipeline.py: the stages keep the frames' order, batch and skip as asked, hand errors to the caller, and
stop their threads when the caller stops."""
import threading

import pytest

from darknet_py.video.pipeline import Pipeline
from darknet_py.video.source import Frame


class Counting:
    """A source of n numbered frames (the 'image' is the index)."""

    def __init__(self, n, live=False):
        self.n, self.live, self.closed = n, live, False
        self.finished = threading.Event()  # set once every frame is out

    def __iter__(self):
        for i in range(self.n):
            yield Frame(i, i / 10, i)
        self.finished.set()

    def close(self):
        self.closed = True


def square_batches(calls):
    def detect(prepared):
        calls.append(list(prepared))
        return [p * p for p in prepared]
    return detect


@pytest.mark.parametrize("threaded", [True, False])
@pytest.mark.parametrize("batch,skip", [(1, 0), (3, 0), (4, 2)])
def test_order_batches_and_skipped_frames(batch, skip, threaded):
    calls = []
    source = Counting(20)
    items = list(Pipeline(source, lambda x: x + 100, square_batches(calls), batch, skip, threaded).run())
    detected = [i for i in range(20) if i % (skip + 1) == 0]
    assert [it.frame.index for it in items] == list(range(20))
    assert [it.detect for it in items] == [i in detected for i in range(20)]
    # a skipped frame carries the last detected frame's result
    assert [it.result for it in items] == [(max(d for d in detected if d <= i) + 100) ** 2 for i in range(20)]
    assert sum(calls, []) == [d + 100 for d in detected]
    if threaded:
        assert [len(c) for c in calls] == [min(batch, len(detected) - k) for k in range(0, len(detected), batch)]
    assert source.closed


@pytest.mark.parametrize("threaded", [True, False])
@pytest.mark.parametrize("batch,skip", [(1, 0), (3, 2)])
def test_a_decode_stage_once_per_detected_frame(batch, skip, threaded):
    decoded = []

    def decode(result):
        decoded.append(result)
        return -result
    items = list(Pipeline(Counting(12), lambda x: x + 100, square_batches([]), batch, skip, threaded, decode).run())
    detected = [(i + 100) ** 2 for i in range(12) if i % (skip + 1) == 0]
    assert decoded == detected
    assert [it.result for it in items] == [-detected[i // (skip + 1)] for i in range(12)]


def test_an_error_in_a_stage_reaches_the_caller():
    def detect(prepared):
        if 7 in prepared:
            raise ValueError("frame 7 is bad")
        return prepared
    seen = []
    with pytest.raises(ValueError, match="frame 7 is bad"):
        for item in Pipeline(Counting(20), lambda x: x, detect).run():
            seen.append(item.frame.index)
    assert seen == list(range(7))


def test_stopping_early_ends_the_threads():
    before = threading.active_count()
    run = Pipeline(Counting(1000), lambda x: x, lambda p: p).run()
    assert next(run).frame.index == 0
    run.close()
    assert threading.active_count() == before


def test_a_live_source_gives_its_newest_frames():
    """The detector is slower than the camera (here: busy until the camera has given all its frames): the frames
    it had no time for are dropped, the newest goes through, the order stays."""
    source = Counting(40, live=True)

    def slow(prepared):
        source.finished.wait()
        return prepared
    indices = [item.frame.index for item in Pipeline(source, lambda x: x, slow).run()]
    assert indices == sorted(set(indices)) and indices[-1] == 39 and len(indices) <= 5
