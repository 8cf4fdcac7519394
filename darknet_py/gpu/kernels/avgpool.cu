// [avgpool] forward (Darknet's forward_avgpool_layer): the mean of each plane, summed in order in
// float as the C loop does. One thread per plane; planes are in any layout, the output keeps it.
// The backward gives every element of a plane delta / spatial (backward_avgpool_layer).
#include "common.cuh"

extern "C" __global__ void avgpool_forward(const float* x, float* y, int planes, int spatial)
{
    const int p = thread_index(planes);
    if (p < 0) return;
    float sum = 0;
    for (int s = 0; s < spatial; ++s) sum += x[p * spatial + s];
    y[p] = sum / spatial;
}

extern "C" __global__ void avgpool_backward(const float* delta, float* dx, int planes, int spatial)
{
    const int i = thread_index(planes * spatial);
    if (i < 0) return;
    dx[i] += delta[i / spatial] / spatial;
}
