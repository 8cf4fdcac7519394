"""The one exception type the command line turns into a one-line message and a non-zero exit."""


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
