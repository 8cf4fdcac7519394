"""demo.c's threads as a chain of stages: capture and decode, prepare (the letterbox), detect (the forward), and
optionally decode (the detection layers' boxes and NMS, so that the next forward need not wait for them), each
in its own thread and joined to the next by a short queue; the caller's loop over `run` (drawing, encoding,
printing) is the last stage.

demo.c overlaps fetch, detect and display on a ring of three buffers; here each stage hands its frames to the
next through a queue, so all of them work at once (numpy, BLAS and OpenCV release the GIL in their work) and the
frames keep their order. A live source's capture keeps only the newest frame (latency first: a frame the
detector had no time for is dropped); a file's frames all go through. Each run has its own threads, so
several (`Detector.video` generators, say) may be open at once.
"""
import queue
import threading
from dataclasses import dataclass

DEPTH = 2          # items that may wait between two stages, times the batch
POLL = .1          # seconds a blocked stage waits before looking at the stop flag again
_END = object()    # the source is done


@dataclass
class Item:
    frame: object            # source.Frame
    detect: bool             # False: a frame skipped by -s, carrying the last detections
    prepared: object = None  # what prepare made of it
    result: object = None    # what detect gave for it (the last detected frame's for a skipped one)


class _Failed:
    """An exception raised in a stage, handed down to the caller, which raises it."""

    def __init__(self, error):
        self.error = error


class _Newest(queue.Queue):
    """A one-item queue where a new frame replaces the frame waiting: a live source's newest frame. The end
    (or an error) waits its turn behind the last frame."""

    def __init__(self):
        super().__init__(1)

    def put(self, item, block=True, timeout=None):
        if isinstance(item, Item):
            with self.mutex:
                if self.queue and isinstance(self.queue[0], Item):
                    self.queue.popleft()
                    self.unfinished_tasks -= 1
        super().put(item, block, timeout)


class Pipeline:
    """Runs source -> prepare -> detect in three threads; iterate `run()` for the Items, in order.

    prepare(bgr) makes a frame ready for the network; detect([prepared, ...]) returns one result per frame,
    called with `batch` frames at a time (fewer at the end); decode(result), when given, turns a frame's result
    into what the caller gets, in a stage of its own. skip=N detects one frame in N+1 (demo's -s).
    threaded=False runs the stages one frame at a time in the caller's thread (paths typed at a prompt: the
    next is asked for once this one is done).
    """

    def __init__(self, source, prepare, detect, batch=1, skip=0, threaded=True, decode=None):
        self.source, self.prepare, self.detect, self.decode = source, prepare, detect, decode
        self.batch, self.skip = max(1, batch), max(0, skip)
        self.threaded = threaded
        self.stop = threading.Event()

    def _get(self, q):
        while not self.stop.is_set():
            try:
                return q.get(timeout=POLL)
            except queue.Empty:
                pass
        return _END

    def _put(self, q, item):
        while not self.stop.is_set():
            try:
                q.put(item, timeout=POLL)
                return True
            except queue.Full:
                pass
        return False

    def _stage(self, work, out):
        """Run work() in a thread; whatever it raises goes down to the caller."""
        def target():
            try:
                work()
            except BaseException as e:  # noqa: BLE001 - handed to the caller, who raises it
                self._put(out, _Failed(e))
        thread = threading.Thread(target=target, daemon=True, name=f"darknet-video-{work.__name__}")
        thread.start()
        return thread

    def _inline(self):
        last = None
        try:
            for frame in self.source:
                item = Item(frame, frame.index % (self.skip + 1) == 0)
                if item.detect:
                    last = self.detect([self.prepare(frame.bgr)])[0]
                    last = self.decode(last) if self.decode else last
                item.result = last
                yield item
        finally:
            self.source.close()

    def run(self):
        if not self.threaded:
            yield from self._inline()
            return
        depth = self.batch if self.source.live else DEPTH * self.batch  # live: no frame waits longer than it must
        captured = _Newest() if self.source.live else queue.Queue(depth)
        prepared, detected = queue.Queue(depth), queue.Queue(depth)

        def capture():
            try:
                for frame in self.source:
                    if not self._put(captured, Item(frame, frame.index % (self.skip + 1) == 0)):
                        return
            finally:
                self.source.close()
            self._put(captured, _END)

        def prepare():
            while True:
                item = self._get(captured)
                if isinstance(item, Item) and item.detect:
                    item.prepared = self.prepare(item.frame.bgr)
                if not self._put(prepared, item) or not isinstance(item, Item):
                    return

        def detect():
            pending, last = [], None
            while True:
                item = self._get(prepared)
                done = not isinstance(item, Item)
                if not done:
                    pending.append(item)
                todo = [p for p in pending if p.detect]
                if todo and (len(todo) == self.batch or done):
                    for p, result in zip(todo, self.detect([p.prepared for p in todo])):
                        p.result = result
                if done or len(todo) in (0, self.batch):
                    for p in pending:
                        if p.detect:
                            last = p.result
                        p.prepared, p.result = None, last
                        if not self._put(detected, p):
                            return
                    pending = []
                if done:
                    self._put(detected, item)
                    return

        def decode():
            raw = last = None
            while True:
                item = self._get(detected)
                if isinstance(item, Item):
                    if item.result is not raw:  # frames -s skipped carry their detected frame's result: once
                        raw, last = item.result, self.decode(item.result)
                    item.result = last
                if not self._put(decoded, item) or not isinstance(item, Item):
                    return

        threads = [self._stage(capture, captured), self._stage(prepare, prepared), self._stage(detect, detected)]
        decoded = detected
        if self.decode:
            decoded = queue.Queue(depth)
            threads.append(self._stage(decode, decoded))
        try:
            while True:
                item = self._get(decoded)
                if item is _END:
                    return
                if isinstance(item, _Failed):
                    raise item.error
                yield item
        finally:
            self.stop.set()
            for thread in threads:
                thread.join()
