// [region] forward, the elementwise part (Darknet's CPU forward_region_layer): a copy of the input with
// the logistic applied to tx, ty and the objectness (unless `background`), and to the classes when the
// layer has neither softmax nor a tree. The class softmax / WordTree softmax then runs in place with
// softmax.cu's kernels. x and y are (num*entries, B, H, W), entries = coords + 1 + classes.
// The loss and its delta (train/) stay on the host; a GPU delta kernel would belong here.
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
