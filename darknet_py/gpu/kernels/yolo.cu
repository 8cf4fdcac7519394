// [yolo] forward (yolo_layer.c forward_yolo_layer, the activations): a copy of the input with the logistic on
// tx, ty, the objectness and every class; tw, th stay raw. x and y are (num*entries, B, H, W), entries =
// 4 + 1 + classes. The loss runs on the host (layers/yolo_loss.py), as forward_yolo_layer_gpu pulls the
// output to the CPU for it; yolo_backward adds its delta into the input's as it is (backward_yolo_layer's
// axpy: the deltas are already with respect to the logits).
#include "common.cuh"
#include "activations.cuh"

extern "C" __global__ void yolo_forward(const float* x, float* y, int num, int entries, int batch, int plane)
{
    const int i = thread_index(num * entries * batch * plane);
    if (i < 0) return;
    const int entry = i / (batch * plane) % entries;
    y[i] = (entry < 2 || entry >= 4) ? logistic_activate(x[i]) : x[i];
}

extern "C" __global__ void yolo_backward(const float* delta, float* input_delta, int count)
{
    const int i = thread_index(count);
    if (i < 0) return;
    input_delta[i] += delta[i];
}
