"""The loss chart saved beside the checkpoints while a detector trains (drawn with OpenCV, no plotting library).

Each iteration's loss as a light line, Darknet's running average (.9*avg + .1*loss) as a dark one, over
iterations on x; the y axis starts at 0 and ends at the largest average seen (early spikes are clipped).
"""
import os

import cv2
import numpy as np

from ..weights import temp_path

WIDTH, HEIGHT = 800, 500   # chart size in pixels
MARGIN = 60                # room for the axis labels
TICKS = 5                  # labelled ticks per axis
LOSS_COLOR = (200, 200, 240)   # BGR: each iteration's loss, pale red
AVG_COLOR = (40, 40, 200)      # BGR: the running average, dark red
AXIS_COLOR = (0, 0, 0)
FONT = cv2.FONT_HERSHEY_SIMPLEX


class LossChart:
    """Collects (iteration, loss, avg) and writes the chart as a PNG, atomically (temp file + rename)."""

    def __init__(self, path, title):
        self.path, self.title = path, title
        self.points = []

    def add(self, iteration, loss, avg):
        self.points.append((iteration, loss, avg))

    def draw(self):
        """The chart as a (HEIGHT, WIDTH, 3) uint8 BGR image."""
        im = np.full((HEIGHT, WIDTH, 3), 255, np.uint8)
        pts = np.array(self.points, float).reshape(-1, 3)
        pts = pts[np.isfinite(pts).all(axis=1)]  # a diverged (NaN / inf) last loss is not drawn
        x0, x1 = (pts[0, 0], pts[-1, 0]) if len(pts) else (0., 1.)
        x1 = max(x1, x0 + 1)
        top = max(float(pts[:, 2].max()), 1e-6) if len(pts) else 1.

        def to_pixels(it, value):
            px = MARGIN + (it - x0) / (x1 - x0) * (WIDTH - 2 * MARGIN)
            py = HEIGHT - MARGIN - np.clip(value, 0, top) / top * (HEIGHT - 2 * MARGIN)
            return np.stack([px, py], -1).round().astype(np.int32)

        cv2.rectangle(im, (MARGIN, MARGIN), (WIDTH - MARGIN, HEIGHT - MARGIN), AXIS_COLOR, 1)
        for t in range(TICKS + 1):
            it, value = x0 + (x1 - x0) * t / TICKS, top * t / TICKS
            (px, _), (_, py) = to_pixels(it, 0), to_pixels(x0, value)
            cv2.putText(im, f"{it:.0f}", (px - 12, HEIGHT - MARGIN + 20), FONT, .45, AXIS_COLOR, 1, cv2.LINE_AA)
            cv2.putText(im, f"{value:.3g}", (4, py + 4), FONT, .45, AXIS_COLOR, 1, cv2.LINE_AA)
        for column, color in ((1, LOSS_COLOR), (2, AVG_COLOR)):
            if len(pts) > 1:
                cv2.polylines(im, [to_pixels(pts[:, 0], pts[:, column])], False, color, 1, cv2.LINE_AA)
        for row, (name, color) in enumerate((("loss", LOSS_COLOR), ("avg loss", AVG_COLOR))):
            y = MARGIN + 20 + 18 * row
            cv2.line(im, (WIDTH - MARGIN - 110, y - 4), (WIDTH - MARGIN - 85, y - 4), color, 2)
            cv2.putText(im, name, (WIDTH - MARGIN - 78, y), FONT, .45, AXIS_COLOR, 1, cv2.LINE_AA)
        caption = self.title
        if len(pts):
            caption += f"   iteration {pts[-1, 0]:.0f}: loss {pts[-1, 1]:.3f}, avg {pts[-1, 2]:.3f}"
        cv2.putText(im, caption, (MARGIN, MARGIN - 20), FONT, .5, AXIS_COLOR, 1, cv2.LINE_AA)
        return im

    def save(self):
        """Write the PNG (temp file + rename). Raises OSError when it cannot; the training loop warns and goes on."""
        _, png = cv2.imencode(".png", self.draw())
        tmp = temp_path(self.path)
        try:
            with open(tmp, "wb") as f:
                f.write(png.tobytes())
            os.replace(tmp, self.path)
        finally:
            if os.path.exists(tmp):
                os.remove(tmp)
