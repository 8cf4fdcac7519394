/* darknet_dump: drive pjreddie's libdarknet (the oracle) and dump its numbers as raw float32 files.
 *
 * Built and run by tests/oracle/__init__.py. Every output is little-endian float32, so the Python side reads it
 * with np.fromfile. Images travel as "CHW files": three int32 (c, h, w) then c*h*w float32.
 * An image source argument is either "img:PATH" (decoded by darknet) or "raw:PATH" (a CHW file), so
 * darknet's resize/letterbox can be fed exactly the pixels our own decoder produced.
 *
 *   layers   CFG WEIGHTS BATCH W H INPUT OUTDIR
 *       W,H = 0 keeps the cfg size; INPUT holds BATCH*net->inputs floats.
 *       OUTDIR/layers.txt: one line "type outputs out_c out_h out_w" per layer; OUTDIR/NNN.bin: l.batch*l.outputs.
 *   detect   CFG WEIGHTS W H SRC IM_W IM_H THRESH[,THRESH...] HIER NMS NMS_KIND OUT
 *       SRC is "tensor:PATH" (a network input; IM_W,IM_H = 0 means the network size) or an image source,
 *       letterboxed as `detector test` does (then IM_W/IM_H are ignored: the image's own size is used). NMS_KIND: sort | obj | none.
 *       OUT.k (the k-th threshold): int32 n, int32 classes, then n rows of float32 [x y w h objectness
 *       sort_class prob[classes]].
 *   image    load|stb|resize|letterbox SRC [W H] OUT      (load = load_image_color, stb = load_image_stb)
 *   save     CFG WEIGHTS OUT
 *   classify CFG WEIGHTS SRC OUT      (letterbox to the net size as `classifier predict`; net->outputs floats)
 *   augment  place SRC W H DX DY CW CH OUT   (place_image onto a CWxCH canvas filled with .5)
 *   augment  distort SRC HUE SAT VAL OUT     (distort_image)
 *   augment  detection SEED LIST N W H BOXES CLASSES JITTER HUE SAT EXP OUT
 *       srand(SEED), then load_data_detection over LIST's paths; OUT: N*3*H*W floats then N*5*BOXES.
 *   augment  region SEED LIST N W H SIDE CLASSES JITTER HUE SAT EXP OUT
 *       srand(SEED), then load_data_region (YOLOv1's); OUT: N*3*H*W floats then N*SIDE*SIDE*(5+CLASSES).
 *   augment  classification SEED LIST LABELS N CLASSES MIN MAX SIZE ANGLE ASPECT HUE SAT EXP CENTER TREE OUT
 *       srand(SEED), then load_data_augment (TREE "-": no hierarchy); OUT: N*3*SIZE*SIZE floats then N*CLASSES.
 *   augment  validcrop SRC SIZE OUT          (resize_min + crop_image as validate_classifier_single)
 *   tree     TREE IN STRIDE THRESH OUT
 *       read_tree, then for each row of IN (n*STRIDE floats): hierarchy_top_prediction(row, THRESH),
 *       get_hierarchy_probability of every node, hierarchy_predictions(only_leaves=0) and (only_leaves=1).
 *       OUT: int32 n, groups, parent[n], child[n], group[n], leaf[n], group_offset[groups], group_size[groups],
 *       top[rows]; then float32 probability[rows][n], hier[rows][n*STRIDE], leaves[rows][n*STRIDE].
 *   train    CFG WEIGHTS X TRUTH SEEN STEPS OUTDIR
 *       load the cfg as is (its batch and subdivisions), *net->seen = SEEN, copy X (batch*inputs floats) and
 *       TRUTH (batch*truths floats) in, then STEPS times train_network_datum (STEPS = 0: one forward_network with
 *       net->train = 1 only). OUTDIR/cost.bin: float32 cost per step; NNN.delta.bin / NNN.out.bin: every layer's
 *       delta and output after the last step; final.weights: save_weights.
 *   trace    CFG WEIGHTS X TRUTH SEEN STEPS OUTDIR
 *       as train, but the last train_network_datum call (STEPS = 0: the forward alone) is done stage by stage, with
 *       dumps: before.weights (the weights it starts from), NNN.out.bin and NNN.fwd.bin (every output and delta
 *       after forward_network); III.III.before.bin (layer III's delta when its backward starts) and, for each layer
 *       JJJ it adds into (the one below, a route's inputs, a shortcut's source), III.JJJ.before.bin and
 *       III.JJJ.after.bin; NNN.{weight,bias,scale}_updates.{before,after}.bin around backward_network; then
 *       update_network if due, cost.bin, NNN.delta.bin and final.weights.
 */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "darknet.h"

/* Exported by libdarknet but only declared in its private headers. */
image load_image_stb(char *filename, int channels);
char *get_layer_string(LAYER_TYPE a);
void place_image(image im, int w, int h, int dx, int dy, image canvas);
void distort_image(image im, float hue, float sat, float val);
void **list_to_array(list *l);
data load_data_detection(int n, char **paths, int m, int w, int h, int boxes, int classes, float jitter,
                         float hue, float saturation, float exposure);
data load_data_region(int n, char **paths, int m, int w, int h, int size, int classes, float jitter, float hue,
                      float saturation, float exposure);
int hierarchy_top_prediction(float *predictions, tree *hier, float thresh, int stride);
data load_data_augment(char **paths, int n, int m, char **labels, int k, tree *hierarchy, int min, int max,
                       int size, float angle, float aspect, float hue, float saturation, float exposure, int center);
float get_hierarchy_probability(float *x, tree *hier, int c, int stride);

static void die(const char *msg, const char *arg)
{
    fprintf(stderr, "darknet_dump: %s %s\n", msg, arg ? arg : "");
    exit(2);
}

static FILE *open_or_die(const char *path, const char *mode)
{
    FILE *f = fopen(path, mode);
    if (!f) die("cannot open", path);
    return f;
}

static void write_floats(FILE *f, const float *x, size_t n)
{
    if (fwrite(x, sizeof(float), n, f) != n) die("short write", 0);
}

static float *read_floats(const char *path, size_t n)
{
    FILE *f = open_or_die(path, "rb");
    float *x = malloc(n * sizeof(float));
    if (fread(x, sizeof(float), n, f) != n) die("input tensor too small:", path);
    if (fgetc(f) != EOF) die("input tensor too large:", path);
    fclose(f);
    return x;
}

static image read_chw(const char *path)
{
    FILE *f = open_or_die(path, "rb");
    int s[3];
    if (fread(s, sizeof(int), 3, f) != 3) die("bad CHW header:", path);
    image im = make_image(s[2], s[1], s[0]);
    size_t n = (size_t)s[0] * s[1] * s[2];
    if (fread(im.data, sizeof(float), n, f) != n) die("short CHW file:", path);
    fclose(f);
    return im;
}

static void write_chw(const char *path, image im)
{
    FILE *f = open_or_die(path, "wb");
    int s[3] = {im.c, im.h, im.w};
    fwrite(s, sizeof(int), 3, f);
    write_floats(f, im.data, (size_t)im.c * im.h * im.w);
    fclose(f);
}

/* load_image_cv (this build has OPENCV) answers an unreadable file with a 10x10 image and appends to
 * ./bad.list, so check readability first and fail loudly instead. */
static image load_source(const char *src)
{
    if (!strncmp(src, "raw:", 4)) return read_chw(src + 4);
    if (strncmp(src, "img:", 4)) die("image source must be img:PATH or raw:PATH, got", src);
    fclose(open_or_die(src + 4, "rb"));
    return load_image_color((char *)src + 4, 0, 0);
}

/* make_convolutional_layer draws every weight with rand_normal, and a weights file then overwrites them all
 * (rand_normal has no other use in libdarknet). While a file is given, this definition (libdarknet calls it
 * through its PLT) skips those draws - the same network, loaded 1-2 s faster for a YOLOv3; without one it
 * is libdarknet's own. */
static int weights_given = 0;

float rand_normal(void)
{
    static float (*darknet_rand_normal)(void) = 0;
    if (weights_given) return 0;
    if (!darknet_rand_normal) darknet_rand_normal = (float (*)(void))dlsym(RTLD_NEXT, "rand_normal");
    return darknet_rand_normal();
}

static network *load_given(char *cfg, char *weights)
{
    weights_given = weights[0] && strcmp(weights, "-");
    network *net = load_network(cfg, weights_given ? weights : 0, 0);
    weights_given = 0;
    return net;
}

static network *load_net(char *cfg, char *weights, int batch)
{
    network *net = load_given(cfg, weights);
    /* load_network keeps the cfg's batch and set_batch_network does not reallocate, so oracle.py also
     * writes batch=BATCH, subdivisions=1 into the cfg copy it passes; this makes the batch certain. */
    set_batch_network(net, batch);
    return net;
}

static int cmd_layers(char **a)
{
    int batch = atoi(a[2]), w = atoi(a[3]), h = atoi(a[4]);
    network *net = load_net(a[0], a[1], batch);
    if (w > 0 && h > 0) resize_network(net, w, h);
    float *x = read_floats(a[5], (size_t)batch * net->inputs);
    network_predict(net, x);

    char path[4096];
    snprintf(path, sizeof path, "%s/layers.txt", a[6]);
    FILE *meta = open_or_die(path, "w");
    for (int i = 0; i < net->n; ++i) {
        layer l = net->layers[i];
        /* resize_region_layer and resize_yolo_layer update w,h but leave out_w,out_h stale; the output is the input. */
        int c = l.out_c, h = l.out_h, w = l.out_w;
        if (l.type == REGION || l.type == YOLO) c = l.c, h = l.h, w = l.w;
        /* get_layer_string has no case for UPSAMPLE ("none") */
        const char *name = l.type == UPSAMPLE ? "upsample" : get_layer_string(l.type);
        fprintf(meta, "%s %d %d %d %d\n", name, l.outputs, c, h, w);
        snprintf(path, sizeof path, "%s/%03d.bin", a[6], i);
        FILE *f = open_or_die(path, "wb");
        write_floats(f, l.output, (size_t)l.batch * l.outputs);
        fclose(f);
    }
    fclose(meta);
    return 0;
}

static int cmd_detect(char **a)
{
    int w = atoi(a[2]), h = atoi(a[3]);
    char *src = a[4];
    int im_w = atoi(a[5]), im_h = atoi(a[6]);
    float hier = atof(a[8]), nms = atof(a[9]);
    char *kind = a[10];

    network *net = load_net(a[0], a[1], 1);
    if (w > 0 && h > 0) resize_network(net, w, h);
    if (!strncmp(src, "tensor:", 7)) {
        /* No image size given: the image is the input itself, so correct_region_boxes is a no-op. */
        if (im_w <= 0 || im_h <= 0) im_w = net->w, im_h = net->h;
        network_predict(net, read_floats(src + 7, net->inputs));
    } else {
        image im = load_source(src);
        im_w = im.w;
        im_h = im.h;
        /* examples/detector.c test_detector: letterbox to the network size, then predict. */
        image sized = letterbox_image(im, net->w, net->h);
        network_predict(net, sized.data);
    }
    /* THRESH may list several thresholds ("0.5,0.25"): one decoding of the same forward each, to OUT.0, OUT.1, ... */
    char *thresh = a[7];
    for (int t = 0; thresh; ++t) {
        int n = 0;
        detection *dets = get_network_boxes(net, im_w, im_h, atof(thresh), hier, 0, 1, &n);
        int classes = net->layers[net->n - 1].classes;
        if (!strcmp(kind, "sort")) do_nms_sort(dets, n, classes, nms);
        else if (!strcmp(kind, "obj")) do_nms_obj(dets, n, classes, nms);
        else if (strcmp(kind, "none")) die("NMS kind must be sort|obj|none, got", kind);

        char path[4096];
        snprintf(path, sizeof path, "%s.%d", a[11], t);
        FILE *f = open_or_die(path, "wb");
        int head[2] = {n, classes};
        fwrite(head, sizeof(int), 2, f);
        for (int i = 0; i < n; ++i) {
            box b = dets[i].bbox;
            float row[6] = {b.x, b.y, b.w, b.h, dets[i].objectness, (float)dets[i].sort_class};
            write_floats(f, row, 6);
            write_floats(f, dets[i].prob, classes);
        }
        fclose(f);
        free_detections(dets, n);
        thresh = strchr(thresh, ',');
        if (thresh) ++thresh;
    }
    return 0;
}

static int cmd_image(int argc, char **a)
{
    char *op = a[0];
    image out;
    if (!strcmp(op, "load") && argc == 3) {
        out = load_source(a[1]);
    } else if (!strcmp(op, "stb") && argc == 3) {
        fclose(open_or_die(a[1], "rb"));
        out = load_image_stb(a[1], 3);
    } else if (!strcmp(op, "resize") && argc == 5) {
        out = resize_image(load_source(a[1]), atoi(a[2]), atoi(a[3]));
    } else if (!strcmp(op, "letterbox") && argc == 5) {
        out = letterbox_image(load_source(a[1]), atoi(a[2]), atoi(a[3]));
    } else {
        die("usage: image load|stb SRC OUT | image resize|letterbox SRC W H OUT", 0);
    }
    write_chw(a[argc - 1], out);
    return 0;
}

static int cmd_classify(char **a)
{
    network *net = load_net(a[0], a[1], 1);
    /* examples/classifier.c predict_classifier letterboxes (not resizes) to the network size. */
    image r = letterbox_image(load_source(a[2]), net->w, net->h);
    float *p = network_predict(net, r.data);
    if (net->hierarchy) hierarchy_predictions(p, net->outputs, net->hierarchy, 1, 1);
    FILE *f = open_or_die(a[3], "wb");
    write_floats(f, p, net->outputs);
    fclose(f);
    return 0;
}

/* Training-data augmentation of data.c/image.c, for darknet_py/data.py. */
static int cmd_augment(int argc, char **a)
{
    char *op = a[0];
    if (!strcmp(op, "place") && argc == 9) {
        image canvas = make_image(atoi(a[6]), atoi(a[7]), 3);
        fill_image(canvas, .5);
        place_image(load_source(a[1]), atoi(a[2]), atoi(a[3]), atoi(a[4]), atoi(a[5]), canvas);
        write_chw(a[8], canvas);
    } else if (!strcmp(op, "distort") && argc == 6) {
        image im = load_source(a[1]);
        distort_image(im, atof(a[2]), atof(a[3]), atof(a[4]));
        write_chw(a[5], im);
    } else if (!strcmp(op, "detection") && argc == 13) {
        list *plist = get_paths(a[2]);
        char **paths = (char **)list_to_array(plist);
        int n = atoi(a[3]);
        srand(atoi(a[1]));
        data d = load_data_detection(n, paths, plist->size, atoi(a[4]), atoi(a[5]), atoi(a[6]), atoi(a[7]),
                                     atof(a[8]), atof(a[9]), atof(a[10]), atof(a[11]));
        FILE *f = open_or_die(a[12], "wb");
        for (int i = 0; i < n; ++i) write_floats(f, d.X.vals[i], d.X.cols);
        for (int i = 0; i < n; ++i) write_floats(f, d.y.vals[i], d.y.cols);
        fclose(f);
    } else if (!strcmp(op, "region") && argc == 13) {
        list *plist = get_paths(a[2]);
        char **paths = (char **)list_to_array(plist);
        int n = atoi(a[3]);
        srand(atoi(a[1]));
        data d = load_data_region(n, paths, plist->size, atoi(a[4]), atoi(a[5]), atoi(a[6]), atoi(a[7]),
                                  atof(a[8]), atof(a[9]), atof(a[10]), atof(a[11]));
        FILE *f = open_or_die(a[12], "wb");
        for (int i = 0; i < n; ++i) write_floats(f, d.X.vals[i], d.X.cols);
        for (int i = 0; i < n; ++i) write_floats(f, d.y.vals[i], d.y.cols);
        fclose(f);
    } else if (!strcmp(op, "classification") && argc == 17) {
        list *plist = get_paths(a[2]);
        char **paths = (char **)list_to_array(plist);
        int n = atoi(a[4]), size = atoi(a[8]);
        tree *hier = strcmp(a[15], "-") ? read_tree(a[15]) : 0;
        srand(atoi(a[1]));
        data d = load_data_augment(paths, n, plist->size, get_labels(a[3]), atoi(a[5]), hier, atoi(a[6]),
                                   atoi(a[7]), size, atof(a[9]), atof(a[10]), atof(a[11]), atof(a[12]),
                                   atof(a[13]), atoi(a[14]));
        FILE *f = open_or_die(a[16], "wb");
        for (int i = 0; i < n; ++i) write_floats(f, d.X.vals[i], d.X.cols);
        for (int i = 0; i < n; ++i) write_floats(f, d.y.vals[i], d.y.cols);
        fclose(f);
    } else if (!strcmp(op, "validcrop") && argc == 4) {
        image im = load_source(a[1]);
        int size = atoi(a[2]);
        image resized = resize_min(im, size);
        write_chw(a[3], crop_image(resized, (resized.w - size)/2, (resized.h - size)/2, size, size));
    } else {
        die("usage: augment place SRC W H DX DY CW CH OUT | distort SRC HUE SAT VAL OUT | detection ... | "
            "classification ... | validcrop SRC SIZE OUT", 0);
    }
    return 0;
}

/* tree.c on a .tree file and probability rows, for darknet_py/tree.py. */
static int cmd_tree(char **a)
{
    fclose(open_or_die(a[0], "r"));  /* read_tree does not check its fopen */
    tree *t = read_tree(a[0]);
    int n = t->n, stride = atoi(a[2]);
    size_t row = (size_t)n * stride;
    FILE *in = open_or_die(a[1], "rb");
    fseek(in, 0, SEEK_END);
    int rows = ftell(in) / (row * sizeof(float));
    fclose(in);
    float *x = read_floats(a[1], rows * row);
    float *hier = malloc(rows * row * sizeof(float)), *leaves = malloc(rows * row * sizeof(float));
    float *prob = malloc((size_t)rows * n * sizeof(float));
    int *top = malloc(rows * sizeof(int));
    for (int r = 0; r < rows; ++r) {
        float *xr = x + r * row;
        top[r] = hierarchy_top_prediction(xr, t, atof(a[3]), stride);
        for (int c = 0; c < n; ++c) prob[(size_t)r * n + c] = get_hierarchy_probability(xr, t, c, stride);
        memcpy(hier + r * row, xr, row * sizeof(float));
        hierarchy_predictions(hier + r * row, n, t, 0, stride);
        memcpy(leaves + r * row, xr, row * sizeof(float));
        hierarchy_predictions(leaves + r * row, n, t, 1, stride);
    }
    FILE *f = open_or_die(a[4], "wb");
    int head[2] = {n, t->groups};
    fwrite(head, sizeof(int), 2, f);
    int *arrays[] = {t->parent, t->child, t->group, t->leaf};
    for (int i = 0; i < 4; ++i) fwrite(arrays[i], sizeof(int), n, f);
    fwrite(t->group_offset, sizeof(int), t->groups, f);
    fwrite(t->group_size, sizeof(int), t->groups, f);
    fwrite(top, sizeof(int), rows, f);
    write_floats(f, prob, (size_t)rows * n);
    write_floats(f, hier, rows * row);
    write_floats(f, leaves, rows * row);
    fclose(f);
    return 0;
}

static void dump_layer_arrays(network *net, const char *dir)
{
    char path[4096];
    for (int i = 0; i < net->n; ++i) {
        layer l = net->layers[i];
        snprintf(path, sizeof path, "%s/%03d.out.bin", dir, i);
        FILE *f = open_or_die(path, "wb");
        write_floats(f, l.output, (size_t)l.batch * l.outputs);
        fclose(f);
        if (!l.delta) continue;
        snprintf(path, sizeof path, "%s/%03d.delta.bin", dir, i);
        f = open_or_die(path, "wb");
        write_floats(f, l.delta, (size_t)l.batch * l.outputs);
        fclose(f);
    }
}

static void dump(const char *dir, const char *name, int i, int j, const float *x, size_t n)
{
    char path[4096];
    if (j < 0) snprintf(path, sizeof path, "%s/%03d.%s.bin", dir, i, name);
    else snprintf(path, sizeof path, "%s/%03d.%03d.%s.bin", dir, i, j, name);
    FILE *f = open_or_die(path, "wb");
    write_floats(f, x, n);
    fclose(f);
}

/* The gradient buffers update_network steps: weights, biases, scales (batch-normalised layers only). */
static void dump_updates(network *net, const char *dir, const char *when)
{
    char name[64];
    for (int i = 0; i < net->n; ++i) {
        layer l = net->layers[i];
        size_t weights = 0, n = 0;
        if (l.type == CONVOLUTIONAL) weights = l.nweights, n = l.n;
        else if (l.type == CONNECTED) weights = (size_t)l.inputs * l.outputs, n = l.outputs;
        else if (l.type == BATCHNORM) n = l.c;
        if (weights) {
            snprintf(name, sizeof name, "weight_updates.%s", when);
            dump(dir, name, i, -1, l.weight_updates, weights);
            snprintf(name, sizeof name, "bias_updates.%s", when);
            dump(dir, name, i, -1, l.bias_updates, n);
        }
        if (l.scale_updates && (l.batch_normalize || l.type == BATCHNORM)) {
            snprintf(name, sizeof name, "scale_updates.%s", when);
            dump(dir, name, i, -1, l.scale_updates, n);
        }
    }
}

/* The deltas layer l's backward adds into: the layer below it (net.delta), a route's inputs, a shortcut's source. */
static int backward_targets(network *net, int i, int *targets)
{
    layer l = net->layers[i];
    int n = 0;
    if (i > 0) targets[n++] = i - 1;
    if (l.type == ROUTE) for (int k = 0; k < l.n; ++k) targets[n++] = l.input_layers[k];
    if (l.type == SHORTCUT) targets[n++] = l.index;
    return n;
}

static void dump_deltas(network *net, const char *dir, int i, const int *targets, int n, const char *when)
{
    for (int k = 0; k < n; ++k) {
        layer d = net->layers[targets[k]];
        if (d.delta) dump(dir, when, i, targets[k], d.delta, (size_t)d.batch * d.outputs);
    }
}

/* train_network_datum and backward_network (network.c) written out, so that every stage can be dumped;
 * forward only (net->train = 1) when backward is 0. */
static float traced_datum(network *net, const char *dir, int backward)
{
    char path[4096];
    snprintf(path, sizeof path, "%s/before.weights", dir);
    save_weights(net, path);
    if (backward) *net->seen += net->batch;
    net->train = 1;
    forward_network(net);
    for (int i = 0; i < net->n; ++i) {
        layer l = net->layers[i];
        dump(dir, "out", i, -1, l.output, (size_t)l.batch * l.outputs);
        if (l.delta) dump(dir, "fwd", i, -1, l.delta, (size_t)l.batch * l.outputs);
    }
    if (!backward) return *net->cost;
    dump_updates(net, dir, "before");
    network orig = *net, step = *net;
    int targets[256];
    for (int i = net->n - 1; i >= 0; --i) {
        layer l = net->layers[i];
        if (l.stopbackward) break;
        int n = backward_targets(net, i, targets);
        dump_deltas(net, dir, i, &i, 1, "before");
        dump_deltas(net, dir, i, targets, n, "before");
        if (i == 0) {
            step = orig;
        } else {
            step.input = net->layers[i - 1].output;
            step.delta = net->layers[i - 1].delta;
        }
        step.index = i;
        l.backward(l, step);
        dump_deltas(net, dir, i, targets, n, "after");
    }
    dump_updates(net, dir, "after");
    float error = *net->cost;
    if (((*net->seen) / net->batch) % net->subdivisions == 0) update_network(net);
    return error;
}

static int cmd_train(char **a, int trace)
{
    network *net = load_given(a[0], a[1]);
    *net->seen = (size_t)atol(a[4]);
    int steps = atoi(a[5]);
    float *x = read_floats(a[2], (size_t)net->batch * net->inputs);
    float *truth = read_floats(a[3], (size_t)net->batch * net->truths);
    memcpy(net->input, x, (size_t)net->batch * net->inputs * sizeof(float));
    memcpy(net->truth, truth, (size_t)net->batch * net->truths * sizeof(float));
    char path[4096];
    snprintf(path, sizeof path, "%s/cost.bin", a[6]);
    FILE *costs = open_or_die(path, "wb");
    if (steps == 0) {
        if (trace) {
            traced_datum(net, a[6], 0);
        } else {
            net->train = 1;
            forward_network(net);
        }
        write_floats(costs, net->cost, 1);
    }
    for (int i = 0; i < steps; ++i) {
        float cost = trace && i == steps - 1 ? traced_datum(net, a[6], 1) : train_network_datum(net);
        write_floats(costs, &cost, 1);
    }
    fclose(costs);
    dump_layer_arrays(net, a[6]);
    snprintf(path, sizeof path, "%s/final.weights", a[6]);
    save_weights(net, path);
    return 0;
}

int main(int argc, char **argv)
{
    if (argc < 2) die("usage: darknet_dump layers|detect|image|save|classify ...", 0);
    char *cmd = argv[1];
    char **a = argv + 2;
    int n = argc - 2;
    if (!strcmp(cmd, "layers") && n == 7) return cmd_layers(a);
    if (!strcmp(cmd, "detect") && n == 12) return cmd_detect(a);
    if (!strcmp(cmd, "image") && n >= 3) return cmd_image(n, a);
    if (!strcmp(cmd, "classify") && n == 4) return cmd_classify(a);
    if (!strcmp(cmd, "augment") && n >= 1) return cmd_augment(n, a);
    if (!strcmp(cmd, "tree") && n == 5) return cmd_tree(a);
    if (!strcmp(cmd, "train") && n == 7) return cmd_train(a, 0);
    if (!strcmp(cmd, "trace") && n == 7) return cmd_train(a, 1);
    if (!strcmp(cmd, "save") && n == 3) {
        save_weights(load_net(a[0], a[1], 1), a[2]);
        return 0;
    }
    die("bad command or argument count:", cmd);
    return 2;
}
