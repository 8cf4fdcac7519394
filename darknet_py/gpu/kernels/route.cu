// [route] forward: concatenation by channel. In the plan's (C, B, H, W) layout each source layer's
// output is one contiguous block of the route's output, so this is a copy to an offset (Darknet's
// forward_route_layer copies per image instead). The backward adds the block back into the source's delta.
#include "common.cuh"

extern "C" __global__ void route_forward(const float* x, float* y, int count, int offset)
{
    const int i = thread_index(count);
    if (i < 0) return;
    y[offset + i] = x[i];
}

extern "C" __global__ void route_backward(const float* delta, float* source_delta, int count, int offset)
{
    const int i = thread_index(count);
    if (i < 0) return;
    source_delta[i] += delta[offset + i];
}
