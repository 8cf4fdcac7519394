"""The one exception type the command line turns into a one-line message and a non-zero exit, and what such
messages share: user text quoted back at a bounded length, why a path cannot be read as a file or a folder
written into (checked before the work starts, not after)."""
import os
import stat
import tempfile

ECHO_LIMIT = 100  # characters of a user's text an error quotes back (a 2 MB cfg line is not echoed whole)


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
