// [region] forward, the elementwise part (Darknet's CPU forward_region_layer): a copy of the input with
// the logistic applied to tx, ty and the objectness (unless `background`), and to the classes when the
// layer has neither softmax nor a tree. The class softmax / WordTree softmax then runs in place with
// softmax.cu's kernels. x and y are (num*entries, B, H, W), entries = coords + 1 + classes.
// Training computes the loss and its delta on the host (train/region_loss.py), as Darknet's GPU build
// does (forward_region_layer_gpu copies the output to the CPU for it); region_backward then applies the
// logistic's gradient to the tx, ty and objectness deltas and adds the delta into the input's.
#include "common.cuh"
#include "activations.cuh"

extern "C" __global__ void region_forward(const float* x, float* y, int num, int entries, int batch, int plane,
                                          int coords, int background, int logistic_classes)
{
    const int i = thread_index(num * entries * batch * plane);
    if (i < 0) return;
    const int entry = i / (batch * plane) % entries;
    const int first_class = coords + (background ? 0 : 1);
    const bool logistic = entry < 2 || (entry == coords && !background)
                          || (logistic_classes && entry >= first_class);
    y[i] = logistic ? logistic_activate(x[i]) : x[i];
}

extern "C" __global__ void region_backward(const float* y, float* delta, float* input_delta, int num, int entries,
                                           int batch, int plane, int coords, int background)
{
    const int i = thread_index(num * entries * batch * plane);
    if (i < 0) return;
    const int entry = i / (batch * plane) % entries;
    if (entry < 2 || (entry == coords && !background)) delta[i] *= (1 - y[i]) * y[i];
    input_delta[i] += delta[i];
}

// get_region_detections + correct_region_boxes on the GPU, so that only the detections come back to
// the host (gpu.Plan.decode). One thread per anchor and cell of each image: row r = (b*num + n)*plane +
// cell of `rows` (B*num*plane, 5 + classes) gets x, y, w, h (letterbox undone, relative to the image or
// in its pixels), the objectness (0 at or below thresh) and the class probabilities, thresholded as
// darknet_py/boxes.py region_detections (float/double as Darknet's C). y is the region output, layout
// (num*entries, B, h, w). With a tree and a map (YOLO9000 + coco9k.map), class j is the absolute
// probability of tree node map[j] (hierarchy_predictions' product, root first), times the objectness.
// sizes holds each image's (width, height).
#define MAX_TREE_DEPTH 64  // gpu.Plan decodes deeper trees on the host

__device__ __forceinline__ float region_entry(const float* y, int n, int entry, int b, int cell, int entries,
                                              int batch, int plane)
{
    return y[((n * entries + entry) * batch + b) * plane + cell];
}

extern "C" __global__ void region_decode(const float* y, float* rows, const float* biases, const int* sizes,
                                         const int* parents, const int* map, int num, int entries, int batch,
                                         int w, int h, int coords, int background, int classes, int map_size,
                                         float thresh, int net_w, int net_h, int relative)
{
    const int plane = w * h;
    const int r = thread_index(batch * num * plane);
    if (r < 0) return;
    const int cell = r % plane;
    const int n = r / plane % num;
    const int b = r / (plane * num);
    const int first = coords + (background ? 0 : 1);
    // get_region_box: tx, ty through the logistic already; tw, th scaled in double
    float x = ((float)(cell % w) + region_entry(y, n, 0, b, cell, entries, batch, plane)) / (float)w;
    float yy = ((float)(cell / w) + region_entry(y, n, 1, b, cell, entries, batch, plane)) / (float)h;
    float bw = (float)(exp((double)region_entry(y, n, 2, b, cell, entries, batch, plane)) * biases[2 * n] / w);
    float bh = (float)(exp((double)region_entry(y, n, 3, b, cell, entries, batch, plane)) * biases[2 * n + 1] / h);
    // correct_region_boxes for this image's letterbox
    const int im_w = sizes[2 * b], im_h = sizes[2 * b + 1];
    int new_w, new_h;
    if ((float)net_w / (float)im_w < (float)net_h / (float)im_h) {
        new_w = net_w;
        new_h = (im_h * net_w) / im_w;
    } else {
        new_h = net_h;
        new_w = (im_w * net_h) / im_h;
    }
    const float sx = (float)new_w / (float)net_w, sy = (float)new_h / (float)net_h;
    x = (float)(((double)x - (net_w - new_w) / 2. / net_w) / (double)sx);
    yy = (float)(((double)yy - (net_h - new_h) / 2. / net_h) / (double)sy);
    bw = bw * ((float)net_w / (float)new_w);
    bh = bh * ((float)net_h / (float)new_h);
    if (!relative) {
        x = x * (float)im_w;
        bw = bw * (float)im_w;
        yy = yy * (float)im_h;
        bh = bh * (float)im_h;
    }
    float* row = rows + (long long)r * (5 + (map_size ? map_size : classes));
    row[0] = x;
    row[1] = yy;
    row[2] = bw;
    row[3] = bh;
    const float scale = background ? 1.f : region_entry(y, n, coords, b, cell, entries, batch, plane);
    row[4] = scale > thresh ? scale : 0.f;
    if (map_size) {
        for (int j = 0; j < map_size; ++j) {
            int path[MAX_TREE_DEPTH], depth = 0;  // the node and its ancestors, leaf first
            for (int node = map[j]; node >= 0 && depth < MAX_TREE_DEPTH; node = parents[node]) path[depth++] = node;
            float p = region_entry(y, n, first + path[depth - 1], b, cell, entries, batch, plane);
            for (int k = depth - 2; k >= 0; --k)
                p = region_entry(y, n, first + path[k], b, cell, entries, batch, plane) * p;
            const float mapped = scale * p;
            row[5 + j] = mapped > thresh ? mapped : 0.f;
        }
    } else {
        for (int j = 0; j < classes; ++j) {
            const float prob = scale * region_entry(y, n, first + j, b, cell, entries, batch, plane);
            row[5 + j] = (scale > thresh && prob > thresh) ? prob : 0.f;
        }
    }
}
