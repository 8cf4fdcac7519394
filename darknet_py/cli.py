"""`darknet-py`: Darknet's command line (`examples/darknet.c`, dispatching as it does to detector, classifier, ...).

As in Darknet, flags (`-thresh .25`, `-out name`, `-nogpu`) may stand anywhere and are taken out of the
argument list before the positional arguments are read. Errors print one line and exit non-zero: 1 for bad input,
130 for Ctrl-C, 2 for an internal error (a bug), never a traceback.
"""
import os
import sys

from .commands import classifier, detector, export, tools, wordtree
from .commands.common import Args
from .commands.progress import set_quiet
from .cpu.threads import set_threads
from .errors import DarknetError, shown

TRACEBACK_VAR = "DARKNET_PY_TRACEBACK"  # set: an unexpected exception shows its traceback (for bug reports)

USAGE = """usage: darknet-py <command> ...
  detector test <data> <cfg> <weights> [image|folder|glob ...] [-list F] [-thresh .5] [-hier .5] [-nms .45]
      [-out name|folder] [-json file] [-save_labels] [-ext_output] [-dont_show] [-batch N]   (no image: stdin)
  detector demo <data> <cfg> <weights> [video|url|frames/%06d.jpg | -c N] [-thresh .5] [-avgframes 3] [-nms .4]
      [-out_filename F] [-prefix NAME] [-json_file_output F] [-dont_show] [-ext_output] [-benchmark] [-s N]
      [-batch N] [-time_limit_sec S]
  detector valid <data> <cfg> <weights> [-out prefix] [-batch 8]   (comp4 files or coco json into <results>/)
  detector recall <data> <cfg> <weights>                      (proposal recall over the valid list)
  detector map <data> <cfg> <weights> [-iou .5]               (per-class AP, VOC07 / AUC mAP, COCO AP)
  detector calc_anchors <data> -num_of_clusters 5 -width 416 -height 416 [-yolo 3] [-show] [-plot anchors.png]
  detector train <data> <cfg> [weights] [-clear] [-max_batches N] [-seed N]   (checkpoints in the .data's backup folder)
    data-parallel: mpirun -np N darknet-py detector train ..., or -gpus 0,1,2,3 [-sync darknet] [-timeout S]
  detect <cfg> <weights> [image ...]                (detector test with cfg/coco.data)
  classifier predict <data> <cfg> <weights> [image ...] [-t top] [-hier .5]
  classifier train <data> <cfg> [weights] [-clear] [-max_batches N] [-seed N]   (data-parallel as detector train)
  classifier valid <data> <cfg> <weights>
  partial <cfg> <weights> <out> <layers>
  weights get <name> [-dest weights]
  data get [-dest data]
  wordtree build <graph> <labels> <out.tree> [-names f]      (WordTree from a concept graph, paper section 4)
  wordtree merge <graph> <labels1> <labels2> <out.tree> <out1.map> <out2.map>
  """ + export.USAGE + """
common flags: -nogpu, -gpus 0, -threads N, -quiet (no progress line),
  -darknet_cpu_tree (reproduce the CPU build's YOLO9000 tree softmax)"""


COMMANDS = {
    ("detector", "test"): detector.test,
    ("detector", "demo"): detector.demo,
    ("detector", "valid"): detector.valid,
    ("detector", "recall"): detector.recall,
    ("detector", "map"): detector.mean_ap,
    ("detector", "calc_anchors"): detector.calc_anchors,
    ("detector", "train"): detector.train,
    ("classifier", "predict"): classifier.predict,
    ("classifier", "train"): classifier.train,
    ("classifier", "valid"): classifier.valid,
    ("weights", "get"): tools.weights_get,
    ("data", "get"): tools.data_get,
    ("wordtree", "build"): wordtree.build,
    ("wordtree", "merge"): wordtree.merge,
    ("export", "onnx"): export.onnx,
}


def main(argv=None):
    argv = sys.argv[1:] if argv is None else list(argv)
    try:
        if not argv or argv[0] in ("-h", "--help", "help"):
            print(USAGE)
            return 0
        if argv[0] == "detect":  # darknet's shortcut: detector test cfg/coco.data <cfg> <weights> ...
            argv = ["detector", "test", "cfg/coco.data"] + argv[1:]
        if argv[0] == "partial":
            tools.partial(Args(argv[1:]))
            return 0
        command = COMMANDS.get(tuple(argv[:2]))
        if command is None:
            raise DarknetError(f"unknown command '{shown(' '.join(argv[:2]))}' (darknet-py --help lists them)")
        args = Args(argv[2:])
        set_threads(args.value("-threads", None, int, 1))  # the fast CPU path's threads (darknet_py/cpu)
        set_quiet(args.flag("-quiet"))  # no progress lines (commands/progress.py)
        command(args)
        return 0
    except DarknetError as e:
        status = getattr(e, "exit_code", 1)  # TrainingInterrupted: 128 + the signal
        return _fail(f"{'error' if status == 1 else 'stopped'}: {e}", status)
    except KeyboardInterrupt:
        return _fail("interrupted", 130)
    except MemoryError as e:
        return _fail(f"error: out of memory ({e or 'the allocation failed'})", 1)
    except BrokenPipeError:  # `darknet-py ... | head`: the reader left; nothing more to say
        sys.stderr.close()
        return 1
    except Exception as e:  # a bug: one line, not a traceback (DARKNET_PY_TRACEBACK=1 shows it)
        if os.environ.get(TRACEBACK_VAR):
            raise
        return _fail(f"internal error: {type(e).__name__}: {e} (a bug in darknet-py; {TRACEBACK_VAR}=1 shows where)", 2)


def _fail(message, status):
    """Errors print one line on stderr, however many lines their text has."""
    print("darknet-py: " + " / ".join(str(message).splitlines()), file=sys.stderr)
    return status
