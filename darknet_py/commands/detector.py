"""`darknet-py detector ...` (Darknet's examples/detector.c)."""
import sys
import time

from ..cfg import data_path, read_data_cfg
from ..data.lists import read_names
from ..errors import DarknetError, stop_signals
from ..train import distributed
from .common import check_names, check_writable, common_flags, flag_device, load_network, training_team, warn_nonfinite
from .progress import Progress

DEMO_NMS = .4  # demo.c: detect_in_thread's do_nms_obj(dets, nboxes, l.classes, .4)


def test(args):
    """test_detector over one image, many (paths, folders, globs, -list F) or the paths on stdin; -batch N images
    per forward, read and letterboxed ahead in threads (video/pipeline.py). Of many images, an unreadable one is
    reported and skipped, and the exit status is 1 at the end; a single one is the error. Under mpirun the images
    are shared among the ranks (chunks of -batch) and rank 0 prints and writes the -json list in their order, as
    one process does."""
    from ..detector import detection_classes
    from . import detections as D
    thresh = args.fraction("-thresh", .5)
    hier = args.fraction("-hier", .5)
    nms = args.fraction("-nms", .45)
    out = args.value("-out", None)
    json_out = args.value("-json", None)
    list_file = args.value("-list", None)
    batch = args.value("-batch", 1, int, 1)
    ext_output, labels, dont_show = args.flag("-ext_output"), args.flag("-save_labels"), args.flag("-dont_show")
    flags = common_flags(args)
    (data, cfg, weights), rest = args.positional(3, "detector test <data> <cfg> <weights> [image ...]")
    inputs = D.image_inputs(rest, list_file)
    check_writable(json_out, "-json")
    world = distributed.world()
    if world is not None and inputs.total is None:
        raise DarknetError("detector test under mpirun: give the images on the command line or in -list (no prompt)")
    last = inputs.total - 1 if world is not None else None  # predictions.jpg: the last image's, as one process
    annotated = D.AnnotatedImages(out, inputs.many, last)
    threaded = not inputs.interactive and inputs.total != 1  # read ahead: many images, or piped paths
    with distributed.running(world):
        names_path = data_path(read_data_cfg(data).get("names", "data/names.list"), data)
        names = read_names(names_path)
        net = load_network(cfg, weights, flags)
        check_names(names, detection_classes(net), names_path)
        tester = D.ImageTest(net, names, thresh, hier, nms, batch, annotated, ext_output, labels,
                             _window("predictions", dont_show) if world is None else None)
        numbered = list(enumerate(inputs.paths)) if world is not None else enumerate(inputs.paths)
        records = D.JsonArray(json_out) if json_out and distributed.is_main(world) else None
        failed, done, began = [], 0, time.time()
        warm = None  # (when, images done) at the first forward's end: it pays for the warm-up (tuning, compiling)
        try:
            with Progress("detector test", inputs.total, enabled=False if inputs.interactive else None) as bar:
                results = distributed.in_order(world, numbered, batch, lambda part: tester.run(part, threaded))
                for n, result in enumerate(results):
                    if result.error and inputs.total == 1:
                        raise DarknetError(result.error)  # one image: its error is the run's (test_detector)
                    if result.error:
                        print(f"darknet-py: warning: {result.error} (skipped)", file=sys.stderr)
                        failed.append(result.error)
                    else:
                        print("\n".join(result.lines))
                        if records:
                            records.add(result.record)
                        done += 1
                    if n + 1 == batch:
                        warm = time.time(), done
                    bar(n + 1)
        finally:
            if records:
                records.close()
        if done:
            now = time.time()
            steady = (done - warm[1]) / max(now - warm[0], 1e-9) if warm and done > warm[1] else None
            print(_summary(done, "images", now - began, steady, first=batch), file=sys.stderr)
        if failed:
            raise DarknetError(f"{len(failed)} of {n + 1} images could not be read (the first: {failed[0]})")


def _summary(count, unit, seconds, steady=None, first=1):
    """The closing line; `steady`: the rate after the first `first` items (a forward's worth), which pay for the
    warm-up."""
    after = f", {steady:.1f} {unit}/s after the first{f' {first}' if first > 1 else ''}" if steady is not None else ""
    return f"{count} {unit} in {seconds:.1f} s ({count / max(seconds, 1e-9):.1f} {unit}/s{after})"


def _window(title, dont_show):
    """A window where there is a display and -dont_show is not given (and OpenCV has a GUI)."""
    from ..video.writers import Window, display_available
    if dont_show or not display_available():
        return None
    try:
        return Window(title)
    except DarknetError as e:
        print(f"darknet-py: {e}: running as with -dont_show", file=sys.stderr)
        return None


def demo(args):
    """demo.c on a video file, stream URL, image sequence (frames/%06d.jpg) or camera (-c N): capture, letterbox,
    detection and drawing/writing run concurrently (video/pipeline.py); each frame's detections come from the
    network outputs averaged over its last -avgframes frames (3, demo.c; video/average.py), then do_nms_obj(.4)."""
    from ..detector import detection_classes, forward_prepared, frame_detections, prepare
    from ..video import writers
    from ..video.average import DEMO_FRAMES, MAX_FRAMES, FrameAverage
    from ..video.pipeline import Pipeline
    from ..video.source import VideoSource
    from . import detections as D
    thresh = args.fraction("-thresh", .5)
    hier = args.fraction("-hier", .5)
    nms = args.fraction("-nms", DEMO_NMS)
    camera = args.value("-c", 0, int, 0)
    avgframes = args.value("-avgframes", args.value("-avg", DEMO_FRAMES, int, 1, MAX_FRAMES), int, 1, MAX_FRAMES)
    skip = args.value("-s", 0, int, 0)
    batch = args.value("-batch", 1, int, 1)
    time_limit = args.value("-time_limit_sec", 0, float, 0)  # 0: none
    out_video, prefix = args.value("-out_filename", None), args.value("-prefix", None)
    json_out = args.value("-json_file_output", None)
    dont_show, ext_output, benchmark = args.flag("-dont_show"), args.flag("-ext_output"), args.flag("-benchmark")
    flags = common_flags(args)
    (data, cfg, weights), rest = args.positional(3, "detector demo <data> <cfg> <weights> [video | -c N]")
    if not benchmark:  # -benchmark writes nothing
        check_writable(out_video, "-out_filename")
        check_writable(json_out, "-json_file_output")
        check_writable(prefix and f"{prefix}_{0:08d}.jpg", "-prefix")
    print(f"video file: {rest[0]}" if rest else f"Webcam index: {camera}")  # demo.c's printf, before opening
    source = VideoSource(rest[0] if rest else camera)
    names_path = data_path(read_data_cfg(data).get("names", "data/names.list"), data)
    names = read_names(names_path)
    net = load_network(cfg, weights, flags)
    check_names(names, detection_classes(net), names_path)
    average = FrameAverage(avgframes)

    def detect(prepared):
        outputs = forward_prepared(net, prepared, thresh, hier, average)
        warn_nonfinite(net)
        return outputs

    def decode(outputs):  # in a stage of its own: the next forward does not wait for it
        return frame_detections(net, outputs, thresh, hier, nms)
    outputs = D.DemoOutputs(names, thresh, ext_output, benchmark)
    try:
        if not benchmark:
            outputs.video = out_video and writers.VideoFile(out_video, source.fps, source.width, source.height)
            outputs.frames = prefix and writers.FrameFiles(prefix)
            outputs.json = json_out and writers.JsonLines(json_out)
            outputs.window = not prefix and _window("Demo", dont_show)
        pipeline = Pipeline(source, lambda bgr: prepare(net, bgr), detect, batch, skip, decode=decode)
        signalled = []

        def stop(signum):  # the frame in hand is finished, then the run ends with its outputs complete
            signalled.append(signum)
            pipeline.stop.set()
        with stop_signals(stop), Progress("demo", source.frame_count, "frames") as bar:
            for item in pipeline.run():
                if not outputs.add(item) or (time_limit and outputs.elapsed() > time_limit):
                    break
                bar(item.frame.index + 1 if source.frame_count else outputs.done)  # a live source: frames shown
    finally:
        outputs.close()
        if outputs.done:
            print(_summary(outputs.done, "frames", outputs.elapsed(), outputs.steady_rate()), file=sys.stderr)
    if signalled:
        raise KeyboardInterrupt  # exit status 130, the outputs complete
    if source.failure():
        raise DarknetError(source.failure())


def _valid_setup(args, usage):
    """What valid / map share: flags, the network, the .data's valid list, names and class map."""
    from ..data.lists import read_paths
    from ..eval.validate import VALID_BATCH
    from ..wordtree.tree import read_map
    batch = args.value("-batch", VALID_BATCH, int, 1)
    flags = common_flags(args)
    (data, cfg, weights), _ = args.positional(3, usage)
    options = read_data_cfg(data)
    net = load_network(cfg, weights, flags)
    paths = read_paths(data_path(options.get("valid", "data/train.list"), data))
    names = read_names(data_path(options.get("names", "data/names.list"), data))
    class_map = read_map(data_path(options["map"], data)) if "map" in options else None
    return net, paths, names, class_map, options, batch


def valid(args):
    """validate_detector: the valid list's detections into <results>/comp4_det_test_<class>.txt (VOC) or
    <results>/coco_results.json (eval=coco); -out replaces the file prefix / name. Under mpirun the ranks
    share the list and rank 0 writes the files, identical to one process's (distributed.in_order)."""
    outfile = args.value("-out", None)
    world = distributed.world()
    with distributed.running(world):
        _valid(args, outfile, world)


def _valid(args, outfile, world):
    from ..detector import detection_classes
    from ..eval import results
    from ..eval.validate import valid_detections
    net, paths, names, class_map, options, batch = _valid_setup(
        args, "detector valid <data> <cfg> <weights> [-out prefix]")
    prefix = options.folder("results", "results")
    kind = options.get("eval", "voc")
    if kind == "imagenet":
        raise DarknetError("detector valid: eval=imagenet (print_imagenet_detections) is not supported")
    classes = len(class_map) if class_map is not None else detection_classes(net)
    if kind != "coco" and len(names) < classes:
        raise DarknetError(f"detector valid: {classes} classes but only {len(names)} names")
    detections = distributed.in_order(world, paths, batch, lambda part: valid_detections(net, part, class_map, batch))
    if not distributed.is_main(world):
        for _ in detections:  # this rank's chunks go to rank 0
            pass
        return
    if kind == "coco":
        writer = results.CocoWriter(prefix, outfile or results.COCO_OUTFILE)
    else:
        writer = results.VocWriter(prefix, names[:classes], outfile or results.VOC_OUTFILE)
    start = time.time()
    with writer, Progress("detector valid", len(paths)) as bar:
        for i, (path, dets, w, h) in enumerate(detections):
            writer.add(path, dets, w, h)
            bar(i + 1)
            if not bar.enabled and ((i + 1) % batch == 0 or i + 1 == len(paths)):
                print(i + 1, file=sys.stderr)  # validate_detector prints its image counter as it goes
    print(f"Total Detection Time: {time.time() - start:f} Seconds", file=sys.stderr)


def recall(args):
    """validate_detector_recall over the .data's valid list (darknet reads data/coco_val_5k.list)."""
    from ..data.lists import read_paths
    from ..eval.validate import VALID_BATCH, recall_lines
    batch = args.value("-batch", VALID_BATCH, int, 1)
    flags = common_flags(args)
    (data, cfg, weights), _ = args.positional(3, "detector recall <data> <cfg> <weights>")
    net = load_network(cfg, weights, flags)
    paths = read_paths(data_path(read_data_cfg(data).get("valid", "data/coco_val_5k.list"), data))
    with Progress("detector recall", len(paths)) as bar:
        for line in bar.iterate(recall_lines(net, paths, batch)):
            print(line, file=sys.stderr)


def mean_ap(args):
    """valid's detections scored against the valid images' labels: per-class AP, VOC2007 11-point and
    area-under-curve mAP at -iou (.5), COCO AP@[.5:.95]."""
    from ..eval.metrics import VOC_IOU
    from ..eval.validate import map_of_valid, map_table
    iou = args.fraction("-iou", VOC_IOU)
    net, paths, names, class_map, _, batch = _valid_setup(args, "detector map <data> <cfg> <weights> [-iou .5]")
    with Progress("detector map", len(paths)) as bar:
        result = map_of_valid(net, paths, iou, class_map, batch, progress=bar)
    print(f"{len(paths)} images")
    for line in map_table(result, names):
        print(line)


def calc_anchors(args):
    """Dimension clusters over the .data's train list (k-means, 1 - IoU), in grid cells of a
    width x height network; -yolo N: YOLOv3's, in input pixels, with the mask= of each of its N [yolo]
    layers; -show also prints Table 1 and writes Figure 2 (-plot anchors.png)."""
    from ..data.lists import label_path, read_paths
    from ..eval import anchor_figures as F
    from ..eval import anchors as A
    yolo = args.value("-yolo", 0, int, 0)
    k = args.value("-num_of_clusters", 3 * yolo if yolo else 5, int, 1)
    width = args.value("-width", 416, int, 1)
    height = args.value("-height", 416, int, 1)
    seed = args.value("-seed", 0, int)
    show = args.flag("-show")
    plot = args.value("-plot", "anchors.png")
    if show:
        check_writable(plot, "-plot")
    (data,), _ = args.positional(1, "detector calc_anchors <data> -num_of_clusters 5 -width 416 -height 416 "
                                    "[-yolo 3] [-show]")
    paths = read_paths(data_path(read_data_cfg(data).get("train", "data/train.list"), data))
    with Progress("reading labels", len(paths), "files") as bar:
        boxes = A.label_sizes(bar.iterate([label_path(p) for p in paths]), width, height,
                              stride=1 if yolo else A.STRIDE)
    print(f" num_of_clusters = {k}, width = {width}, height = {height}")
    print(f" read labels from {len(paths)} images, {len(boxes)} boxes")
    if not 1 <= k <= len(boxes):
        raise DarknetError(f"calc_anchors: -num_of_clusters must be in [1, {len(boxes)}] (the boxes), got {k}")
    if yolo and not 1 <= yolo <= k:
        raise DarknetError(f"calc_anchors: -yolo must be in [1, {k}] (the clusters), got {yolo}")
    with Progress("k-means", F.N_INIT, "runs") as bar:
        anchors, iou = A.kmeans_anchors(boxes, k, seed, n_init=F.N_INIT, progress=bar)
    print(f" avg IoU = {100 * iou:.2f} %")
    print(f"anchors = {A.format_anchors(anchors, digits=0 if yolo else 4)}")
    for i, mask in enumerate(A.yolo_masks(k, yolo) if yolo else []):
        print(f"[yolo] {i + 1} of {yolo}: mask = {','.join(map(str, mask))}")
    if show:
        if len(boxes) < max(F.FIGURE_KS):
            raise DarknetError(f"calc_anchors -show: Table 1 and Figure 2 need at least 9 boxes, got {len(boxes)}")
        print(F.format_table1(F.table1(boxes, width, height, seed)))
        curves = F.figure2(boxes, seed)
        F.plot_figure2(plot, curves, A.avg_iou(boxes, A.hand_picked_anchors(width, height)))
        for (kk, a), (_, b) in zip(curves["iou"], curves["sse"]):
            print(f"K={kk}  avg IoU {100 * a:.1f} (IoU clusters)  {100 * b:.1f} (SSE clusters)")
        print(f"Figure 2 written to {plot}")


def train(args):
    """detector train <data> <cfg> [weights] [-clear] [-max_batches N] [-seed N] (Darknet's train_detector; on
    a GPU when CuPy sees one, unless -nogpu; data-parallel under mpirun or with -gpus 0,1,..: training_team)."""
    from ..train.train_detector import train_detector
    clear = args.flag("-clear")
    max_batches = args.value("-max_batches", None, int, 1)
    seed = args.value("-seed", None, int)
    flags = common_flags(args)
    team = training_team(args, flags, ["detector", "train"])
    if team is None:  # the ranks it started have trained
        return
    device = flag_device(flags)
    (data, cfg), rest = args.positional(2, "detector train <data> <cfg> [weights] [-clear] [-max_batches N]")
    with team.running(), Progress("detector train", unit="batches") as bar:
        final = train_detector(data, cfg, rest[0] if rest else None, clear, max_batches, seed=seed,
                               device=device, team=team, progress=bar)
        print(f"Saved {final}")
