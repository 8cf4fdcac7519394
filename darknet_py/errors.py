"""The one exception type the command line turns into a one-line message and a non-zero exit, and what such
messages share: user text quoted back at a bounded length, why a path cannot be read as a file or a folder
written into (checked before the work starts, not after); and how a long run is asked to stop (stop_signals)."""
import os
import signal
import stat
import tempfile
import threading
from contextlib import contextmanager

ECHO_LIMIT = 100  # characters of a user's text an error quotes back (a 2 MB cfg line is not echoed whole)
STOP_SIGNALS = (signal.SIGINT, signal.SIGTERM)


class DarknetError(Exception):
    """A user-facing error: bad cfg, bad weights, missing file. Its message is one line."""


class CfgError(DarknetError):
    """A problem in a .cfg or .data file, located as ``path:line: message``."""

    def __init__(self, path, line, message):
        self.path, self.line = path, line
        super().__init__(f"{path}:{line}: {message}" if line else f"{path}: {message}")


class WeightsError(DarknetError):
    """A weights file that does not fit the network it is loaded into."""


class ImageError(DarknetError, ValueError):
    """An image that cannot be read, written or resized as asked."""


def shown(text, limit=ECHO_LIMIT):
    """User text as an error quotes it: whole up to `limit` characters, else cut, saying how long it was."""
    text = str(text)
    return text if len(text) <= limit else f"{text[:limit]}... ({len(text)} characters)"


def file_problem(path):
    """Why `path` cannot be read as a file, or None: missing, a folder, or not a regular file (reading a FIFO or
    a device would block or never end, where Darknet's fopen would hang)."""
    try:
        mode = os.stat(path).st_mode
    except OSError as e:
        return e.strerror
    if stat.S_ISDIR(mode):
        return "is a folder, not a file"
    if not stat.S_ISREG(mode):
        return "is not a regular file (a FIFO, socket or device)"
    return None


def folder_problem(folder):
    """Why files cannot be written into `folder`, or None: missing, not a folder, or a write fails (tried with a
    hidden probe file, so a read-only mount shows even to root, where permission bits do not)."""
    if not os.path.isdir(folder):
        return "does not exist" if not os.path.exists(folder) else "is not a folder"
    try:
        fd, probe = tempfile.mkstemp(prefix=".darknet-py-probe-", dir=folder)
    except OSError as e:
        return f"cannot be written ({e.strerror})"
    os.close(fd)
    os.remove(probe)
    return None


@contextmanager
def stop_signals(on_stop):
    """Within the block, Ctrl-C (SIGINT) and SIGTERM call on_stop(signum) instead of ending the process, so that
    the work under way finishes and its outputs are complete (training saves after the batch; demo closes its
    video). The same signal again does what it did before the block: Ctrl-C raises KeyboardInterrupt at once,
    SIGTERM ends the process. Signals reach only the main thread: elsewhere nothing changes."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    previous = {s: signal.getsignal(s) for s in STOP_SIGNALS}

    def asked(signum, frame):
        signal.signal(signum, previous[signum])
        on_stop(signum)
    for s in STOP_SIGNALS:
        signal.signal(s, asked)
    try:
        yield
    finally:
        for s, handler in previous.items():
            signal.signal(s, handler)
