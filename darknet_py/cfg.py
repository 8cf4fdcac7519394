"""Darknet's .cfg and .data files (Darknet's `read_cfg`, `read_data_cfg`, `option_find_*`).

A .cfg is a list of `[section]` headers each followed by `key=value` lines; a .data file is the same
without headers. As in Darknet's `strip`, every whitespace character is removed from a line before it
is read, so `anchors = 1, 2` and `anchors=1,2` are the same. Lines starting `#` or `;` are comments.
"""
import math
import os
import sys

from .errors import CfgError, file_problem, folder_problem, shown

# Darknet's string_to_layer_type: alias -> canonical section name.
SECTION_ALIASES = {
    "net": "net", "network": "net",
    "conv": "convolutional", "convolutional": "convolutional",
    "max": "maxpool", "maxpool": "maxpool",
    "avg": "avgpool", "avgpool": "avgpool",
    "soft": "softmax", "softmax": "softmax",
    "conn": "connected", "connected": "connected",
    "reorg": "reorg", "route": "route", "region": "region", "dropout": "dropout",
    "cost": "cost", "shortcut": "shortcut", "batchnorm": "batchnorm",
    "upsample": "upsample", "yolo": "yolo", "detection": "detection", "local": "local", "crop": "crop",
}
# Sections the original accepts but darknet-py does not build (none is in the original's image cfgs).
KNOWN_UNSUPPORTED = {"lrn", "normalization", "deconv", "deconvolutional", "activation", "logistic", "l2norm",
                     "rnn", "gru", "lstm", "crnn", "iseg"}


class Section:
    """One `[type]` block: its options, where they came from, and which ones were read."""

    def __init__(self, type, path, line):
        self.type, self.path, self.line = type, path, line
        self.options = {}       # key -> raw string value
        self.option_lines = {}  # key -> line number, for error messages
        self._used = set()

    def __contains__(self, key):
        return key in self.options

    def error(self, message, key=None):
        return CfgError(self.path, self.option_lines.get(key, self.line), message)

    def _get(self, key, default, convert, kind):
        self._used.add(key)
        if key not in self.options:
            if default is REQUIRED:
                raise self.error(f"[{self.type}] needs option '{key}'")
            return default
        raw = self.options[key]
        try:
            return convert(raw)
        except ValueError:
            raise self.error(f"option '{key}' of [{self.type}] must be {kind}, got '{shown(raw)}'", key) from None
        except OverflowError:
            raise self.error(f"option '{key}' of [{self.type}] must fit a C int ({INT_MIN} to {INT_MAX}), got "
                             f"'{shown(raw)}'", key) from None

    def int(self, key, default=None):
        return self._get(key, default, _c_int, "an integer")

    def float(self, key, default=None):
        return self._get(key, default, _c_float, "a finite number")

    def str(self, key, default=None):
        return self._get(key, default, str, "text")

    def ints(self, key, default=None):
        return self._get(key, default, lambda s: [_c_int(v) for v in _split_list(s)], "a list of integers")

    def floats(self, key, default=None):
        return self._get(key, default, lambda s: [_c_float(v) for v in _split_list(s)], "a list of numbers")

    def file(self, key):
        """A file named by an option (tree=, map=), as Darknet opens it: relative to the working directory.

        Falls back to the folder above the cfg's (cfg/x.cfg naming data/9k.tree) and to the darknet-py
        checkout, so the project's cfgs work from any directory. None if the option is absent.
        """
        name = self.str(key)
        if name is None:
            return None
        found = find_file(name, self.path)
        if found is None:
            raise self.error(f"{key} file '{name}' not found (run `make data` for Darknet's data files)", key)
        return found

    def unused(self):
        """Options never read: Darknet prints them as 'Unused field' and goes on."""
        return [(k, v, self.option_lines[k]) for k, v in self.options.items() if k not in self._used]


REQUIRED = object()
PROJECT_ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def find_file(name, config_path):
    """A file named inside a .cfg or .data file: as Darknet opens it, relative to the working directory;
    else relative to the folder above the config's (cfg/x.cfg naming data/9k.tree), else to the darknet-py
    checkout, so the project's files work from any directory. None when none of them exists."""
    here = os.path.dirname(os.path.abspath(config_path))
    for candidate in (name, os.path.join(here, "..", name), os.path.join(PROJECT_ROOT, name)):
        if os.path.exists(candidate):
            return candidate
    return None


def data_path(path, data_file):
    """A file named in a .data file (find_file); as given when it is nowhere, so its reader names it."""
    return find_file(path, data_file) or path


def _split_list(s):
    # Darknet reads comma lists with atoi/atof per field; a trailing comma is tolerated.
    return [v for v in s.split(",") if v != ""]


INT_MIN, INT_MAX = -2 ** 31, 2 ** 31 - 1  # Darknet's options are C ints


def _c_int(s):
    # Darknet uses atoi, which also takes "1.0" as 1; we accept a float literal only if it is integral. A value
    # outside a C int (atoi's undefined overflow) or inf/nan is refused.
    try:
        value = int(s)
    except ValueError:
        if s.lstrip("+-").isdigit():  # more digits than Python converts: far outside a C int anyway
            raise OverflowError(s) from None
        f = float(s)
        if not math.isfinite(f) or f != int(f):
            raise
        value = int(f)
    if not INT_MIN <= value <= INT_MAX:
        raise OverflowError(s)
    return value


def _c_float(s):
    # atof takes "nan" and "inf"; no option of Darknet's means anything with them (learning_rate=nan trains
    # all-NaN weights, jitter=inf NaN boxes), so they are refused.
    value = float(s)
    if not math.isfinite(value):
        raise ValueError(s)
    return value


def _read_lines(path):
    problem = file_problem(path)
    if problem:
        raise CfgError(path, 0, f"cannot read: {problem}")
    try:
        with open(path, encoding="utf-8", errors="replace") as f:
            return f.read().splitlines()
    except OSError as e:
        raise CfgError(path, 0, f"cannot read: {e.strerror}") from None


def _key_value(path, number, line):
    key, sep, value = line.partition("=")
    if not sep or not key:
        raise CfgError(path, number, f"expected 'key=value' or '[section]', got '{shown(line)}'")
    return key, value


def parse_cfg(path):
    """Read a Darknet .cfg into a list of Sections, first one [net]."""
    sections = []
    for number, raw in enumerate(_read_lines(path), 1):
        line = "".join(raw.split())
        if not line or line[0] in "#;":
            continue
        if line[0] == "[":
            if not line.endswith("]"):
                raise CfgError(path, number, f"malformed section header '{shown(line)}'")
            name = line[1:-1]
            if name in KNOWN_UNSUPPORTED:
                raise CfgError(path, number, f"layer type [{name}] is not supported by darknet-py")
            if name not in SECTION_ALIASES:
                raise CfgError(path, number, f"unknown section [{shown(name)}]")
            sections.append(Section(SECTION_ALIASES[name], path, number))
            continue
        if not sections:
            raise CfgError(path, number, "option before the first [section]")
        key, value = _key_value(path, number, line)
        sections[-1].options[key] = value
        sections[-1].option_lines[key] = number
    if not sections:
        raise CfgError(path, 0, "no sections")
    if sections[0].type != "net":
        raise CfgError(path, sections[0].line, "first section must be [net] or [network]")
    return sections


DATA_INTS = {"classes": 1, "top": 1, "tag": 0}  # the numeric options of a .data file, with their least value


class DataFile(dict):
    """A .data file's options as strings, with where each was set, for errors that name its line."""

    def __init__(self, path):
        super().__init__()
        self.path, self.lines = path, {}

    def error(self, message, key=None):
        return CfgError(self.path, self.lines.get(key, 0), message)

    def int(self, key, default, low=None):
        """option_find_int, refusing what is not an integer (classes=abc) or below `low`."""
        if key not in self:
            return default
        try:
            value = _c_int(self[key])
        except (ValueError, OverflowError):
            raise self.error(f"{key} must be an integer, got '{shown(self[key])}'", key) from None
        if low is not None and value < low:
            raise self.error(f"{key} must be at least {low}, got {value}", key)
        return value

    def folder(self, key, default):
        """The output folder an option names (backup=, results=), created when missing; a file there or a folder
        that cannot be written is an error naming the line, before any work is done."""
        path = self.get(key, default)
        try:
            os.makedirs(path, exist_ok=True)  # exist_ok: another rank or job may create it at the same moment
        except OSError as e:
            problem = "is a file, not a folder" if os.path.exists(path) else f"cannot be created ({e.strerror})"
            raise self.error(f"{key}={shown(path)} {problem}", key) from None
        problem = folder_problem(path)
        if problem:
            raise self.error(f"{key}={shown(path)} {problem}", key)
        return path


def read_data_cfg(path):
    """Read a Darknet .data file (`classes=80`, `names=...`) into a DataFile (a dict of strings)."""
    options = DataFile(path)
    for number, raw in enumerate(_read_lines(path), 1):
        line = "".join(raw.split())
        if not line or line[0] in "#;":
            continue
        key, value = _key_value(path, number, line)
        options[key] = value
        options.lines[key] = number
    for key, low in DATA_INTS.items():  # read as text elsewhere; a bad number shows here, with its line
        options.int(key, None, low)
    return options


def warn_unused(section):
    for key, value, line in section.unused():
        print(f"{section.path}:{line}: Unused field: '{key} = {shown(value)}'", file=sys.stderr)


def basecfg(path):
    """utils.c basecfg: the file name without directories, cut at its first '.' (strchr), so
    "yolov2.coco.cfg" gives "yolov2" and "a.b.jpg" gives "a", as Darknet names backups and comp4 ids."""
    return os.path.basename(str(path)).split(".", 1)[0]
