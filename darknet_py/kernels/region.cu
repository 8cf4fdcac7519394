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
