"""The project's cfg/*.cfg and cfg/*.data say the same as the original Darknet files of the same
name (/usr/share/darknet/cfg), in the project's own words.

The comparison uses a tiny reader written here, following Darknet's `read_cfg`: every whitespace
character is removed from a line, blank lines and lines starting with '#' or ';' are skipped,
`[type]` opens a section, `key=value` adds an option, and a repeated key is looked up by its first
occurrence (`option_find` walks the list from the front). Section aliases are folded together.
A later test compares the networks that darknet_py.cfg builds from both.
"""
import os
import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
OURS = ROOT / "cfg"
ORIGINAL = Path("/usr/share/darknet/cfg")
ORIGINAL_DATA = Path("/usr/share/darknet/data")

CFGS = ["yolov2", "yolov2-tiny", "yolov2-voc", "yolov2-tiny-voc", "yolo9000",
        "darknet19", "darknet19_448", "tiny", "yolov3", "yolov3-spp", "yolov3-tiny", "darknet53",
        "yolov1", "yolov1-tiny"]
DATAS = ["coco", "voc", "imagenet1k", "combine9k"]

# parser.c string_to_layer_type: short and long spellings of the same layer.
ALIASES = {"conv": "convolutional", "max": "maxpool", "avg": "avgpool", "soft": "softmax",
           "conn": "connected", "network": "net", "lrn": "normalization",
           "deconv": "deconvolutional"}
# Options holding a file path: Debian's copies point them at /usr/share/darknet/data, ours at
# the project's data/ (backup: a user directory). Compared by the file's name only.
PATH_KEYS = {"tree", "map", "names", "labels", "backup"}

needs_original = pytest.mark.skipif(not ORIGINAL.is_dir(),
                                    reason="original Darknet cfgs not installed")


def read_sections(path):
    """[(type, [(key, value), ...]), ...] as Darknet's read_cfg sees the file."""
    sections = []
    for number, line in enumerate(Path(path).read_text().splitlines(), 1):
        line = re.sub(r"\s", "", line)
        if not line or line[0] in "#;":
            continue
        if line[0] == "[":
            assert line.endswith("]"), f"{path}:{number}: bad section line {line!r}"
            kind = line[1:-1]
            sections.append((ALIASES.get(kind, kind), []))
            continue
        assert "=" in line, f"{path}:{number}: not key=value: {line!r}"
        key, value = line.split("=", 1)
        if not sections:  # .data files: one implicit section
            sections.append(("", []))
        sections[-1][1].append((key, value))
    return sections


def normalise(key, value):
    if key in PATH_KEYS:
        return os.path.basename(value.rstrip("/"))
    try:  # ".6" == "0.6", "1,2" lists element-wise
        return tuple(float(v) for v in value.split(","))
    except ValueError:
        return value


def effective(sections):
    """Section types in order, each with its options as Darknet reads them (first key wins)."""
    out = []
    for kind, options in sections:
        d = {}
        for key, value in options:
            d.setdefault(key, normalise(key, value))
        out.append((kind, d))
    return out


@needs_original
@pytest.mark.parametrize("name", CFGS)
def test_cfg_matches_original(name):
    ours = effective(read_sections(OURS / f"{name}.cfg"))
    theirs = effective(read_sections(ORIGINAL / f"{name}.cfg"))
    assert [k for k, _ in ours] == [k for k, _ in theirs], "section types differ"
    for i, ((kind, a), (_, b)) in enumerate(zip(ours, theirs)):
        assert a == b, f"section {i} [{kind}] differs"


@needs_original
@pytest.mark.parametrize("name", CFGS + DATAS)
def test_not_a_copy(name):
    suffix = ".data" if name in DATAS else ".cfg"
    ours = (OURS / f"{name}{suffix}").read_text()
    theirs = (ORIGINAL / f"{name}{suffix}").read_text()
    assert ours != theirs
    # Our own words: a header comment before the first section / option.
    assert ours.lstrip().startswith("#")


@pytest.mark.parametrize("name", CFGS)
def test_cfg_is_unambiguous(name):
    """No key twice in a section (so first-wins vs last-wins readers agree), paths into data/."""
    for kind, options in read_sections(OURS / f"{name}.cfg"):
        keys = [k for k, _ in options]
        assert len(keys) == len(set(keys)), f"[{kind}] repeats a key: {keys}"
        for key, value in options:
            if key in ("tree", "map"):
                assert value.startswith("data/"), (key, value)


@needs_original
@pytest.mark.parametrize("name", DATAS)
def test_data_matches_original(name):
    [(_, ours)] = effective(read_sections(OURS / f"{name}.data"))
    [(_, theirs)] = effective(read_sections(ORIGINAL / f"{name}.data"))
    assert ours == theirs
    [(_, raw)] = read_sections(OURS / f"{name}.data")
    for key, value in raw:
        if key in ("names", "labels", "map", "tree"):
            assert value.startswith("data/"), (key, value)
        if key == "backup":
            assert value == "backup/"


@pytest.mark.parametrize("name, count", [("coco", 80), ("voc", 20)])
def test_names_files(name, count):
    lines = (ROOT / "data" / f"{name}.names").read_text().splitlines()
    assert len(lines) == count and all(lines) and len(set(lines)) == count
    [(_, data)] = read_sections(OURS / f"{name}.data")
    assert int(dict(data)["classes"]) == count
    original = ORIGINAL_DATA / f"{name}.names"
    if original.is_file():
        assert lines == original.read_text().splitlines()


def test_region_outputs_fit_classes():
    """The last conv before [region] has num * (classes + coords + 1) filters."""
    for name in CFGS:
        sections = read_sections(OURS / f"{name}.cfg")
        kinds = [k for k, _ in sections]
        if "region" not in kinds:
            continue
        region = dict(sections[kinds.index("region")][1])
        conv = dict(sections[kinds.index("region") - 1][1])
        n, classes, coords = int(region["num"]), int(region["classes"]), int(region["coords"])
        assert int(conv["filters"]) == n * (classes + coords + 1), name
        assert len(region["anchors"].split(",")) == 2 * n, name


def test_yolo_outputs_fit_classes():
    """The conv before each [yolo] has len(mask) * (classes + 5) filters; anchors hold all `num` boxes."""
    for name in CFGS:
        sections = read_sections(OURS / f"{name}.cfg")
        for i, (kind, options) in enumerate(sections):
            if kind != "yolo":
                continue
            yolo, conv = dict(options), dict(sections[i - 1][1])
            masks, classes = yolo["mask"].split(","), int(yolo["classes"])
            assert int(conv["filters"]) == len(masks) * (classes + 5), name
            assert len(yolo["anchors"].split(",")) == 2 * int(yolo["num"]), name
