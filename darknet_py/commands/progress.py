"""Progress lines for the long commands: a bar with done/total, rate and ETA, or a running rate where the
total is unknown (a camera, a stream, paths read from stdin).

The library stays quiet: its long loops take a callback `progress(done, total=None, text="")` or yield what
the command counts, and the command renders it here. The line is drawn on stderr, only when stderr is a
terminal and -quiet was not given; while it is up (`with Progress(...)`), every line the command prints on
a terminal, stdout or stderr, is written above it.
"""
import sys
import threading
import time

BAR_WIDTH = 30      # characters of bar
REDRAW_EVERY = .1   # seconds: the line is redrawn at most this often (and always at the end)
CLEAR = "\r\033[K"  # back to the start of the line, erase it

_quiet = False  # the CLI's -quiet, set for each command by cli.main


def set_quiet(quiet):
    global _quiet
    _quiet = bool(quiet)


def _clock(seconds):
    seconds = int(seconds)
    return f"{seconds // 3600}:{seconds // 60 % 60:02d}:{seconds % 60:02d}"


def _singular(unit):
    return unit[:-2] if unit.endswith(("ches", "shes")) else unit[:-1] if unit.endswith("s") else unit


class Progress:
    """One progress line. Call it as the library's callback, or `step()` once per item, or wrap an iterable
    with `iterate`. unit: what is counted ("images", "frames", "batches"; "B" shows megabytes)."""

    def __init__(self, label, total=None, unit="images", stream=None, enabled=None):
        self.label, self.total, self.unit = label, total, unit
        self.stream = stream or sys.stderr
        self.enabled = (not _quiet and self.stream.isatty()) if enabled is None else enabled
        self.done, self.text = 0, ""
        self.base = None        # (done, time) of the first update: rates count from there
        self.drawn_at = 0.
        self.shown = False      # the line is on the terminal now
        self.mid_line = False   # a printed line is unfinished: no bar until it ends
        self.lock = threading.RLock()
        self._saved = None

    def __call__(self, done, total=None, text=""):
        with self.lock:
            if self.base is None:
                self.base = (done, time.monotonic())
            self.done, self.text = done, text
            if total is not None:
                self.total = total
            finished = self.total is not None and done >= self.total
            if self.enabled and (finished or time.monotonic() - self.drawn_at >= REDRAW_EVERY):
                self.draw()

    def step(self, count=1, text=""):
        self(self.done + count, text=text)

    def iterate(self, items):
        """Yield items, counting each once it has been handled (before the next is taken)."""
        if self.base is None:
            self(self.done)
        for item in items:
            yield item
            self.step()

    def rate(self):
        """Items per second since the first update, or None before there are two."""
        if self.base is None:
            return None
        elapsed = time.monotonic() - self.base[1]
        return (self.done - self.base[0]) / elapsed if elapsed > 0 and self.done > self.base[0] else None

    def line(self):
        rate, mb = self.rate(), self.unit == "B"
        count = (lambda n: f"{n / 1e6:.1f}") if mb else str
        unit = "MB" if mb else self.unit
        parts = [self.label]
        if self.total:
            frac = min(self.done / self.total, 1.)
            parts += [f"[{'#' * int(frac * BAR_WIDTH):<{BAR_WIDTH}}]", f"{count(self.done)}/{count(self.total)} {unit}",
                      f"{100 * frac:3.0f}%"]
        else:
            parts.append(f"{count(self.done)} {unit}")
        if rate:
            per = rate / 1e6 if mb else rate
            parts.append(f"{per:.1f} {unit}/s" if per >= 1 else f"{1 / per:.2f} s/{_singular(unit)}")
            if self.total and self.done < self.total:
                parts.append(f"ETA {_clock((self.total - self.done) / rate)}")
        if self.text:
            parts.append(self.text)
        return " ".join(parts)

    def draw(self):
        with self.lock:
            if self.mid_line:
                return
            self.stream.write(CLEAR + self.line())
            self.stream.flush()
            self.drawn_at, self.shown = time.monotonic(), True

    def clear(self):
        with self.lock:
            if self.shown:
                self.stream.write(CLEAR)
                self.shown = False

    def __enter__(self):
        if self.enabled:
            self._saved = sys.stdout, sys.stderr
            sys.stdout, sys.stderr = (_Above(s, self) if s.isatty() else s for s in self._saved)
        return self

    def __exit__(self, *exc):
        if self._saved:
            sys.stdout, sys.stderr = self._saved
            self._saved = None
        self.close()

    def close(self):
        """Leave the last state on its own line."""
        with self.lock:
            if self.enabled and self.base is not None:
                self.mid_line = False
                self.draw()
                self.stream.write("\n")
                self.stream.flush()
                self.shown = False


class _Above:
    """A terminal stream whose writes go above the progress line: clear it, write, draw it again once the
    written line is complete."""

    def __init__(self, target, bar):
        self.target, self.bar = target, bar

    def write(self, text):
        with self.bar.lock:
            self.bar.clear()
            self.target.write(text)
            self.target.flush()
            if text:
                self.bar.mid_line = not text.endswith("\n")
            if not self.bar.mid_line and self.bar.base is not None:
                self.bar.draw()
        return len(text)

    def flush(self):
        self.target.flush()

    def __getattr__(self, name):
        return getattr(self.target, name)
