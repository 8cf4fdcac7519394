// [upsample] (upsample_layer.c, blas.c upsample_cpu) on the plan's (C, B, H, W) buffers: each (channel, image)
// plane is independent, so `planes` = C*B planes of h x w (the small side) and h*stride x w*stride.
//
// Forward: y = scale * x repeated into stride x stride blocks. With a negative stride (`reverse`, a
// downsample) each output is the sum of scale * its block's inputs, added in upsample_cpu's order (row by
// row, left to right) from 0. Backward: an upsample adds each block's scaled deltas into its source
// pixel, in that order; a downsample writes (not adds) the scaled delta into every pixel of its block,
// as upsample_cpu's forward direction does into net.delta.
#include "common.cuh"

// small: planes x h x w; large: planes x (h*stride) x (w*stride).
extern "C" __global__ void upsample_forward(const float* x, float* y, int planes, int h, int w, int stride,
                                            float scale, int reverse)
{
    const int W = w * stride, H = h * stride;
    if (!reverse) {  // one thread per large element
        const int i = thread_index(planes * H * W);
        if (i < 0) return;
        const int col = i % W, row = i / W % H, p = i / (H * W);
        y[i] = scale * x[(p * h + row / stride) * w + col / stride];
        return;
    }
    const int i = thread_index(planes * h * w);  // one thread per small element
    if (i < 0) return;
    const int col = i % w, row = i / w % h, p = i / (h * w);
    float sum = 0;
    for (int dy = 0; dy < stride; ++dy)
        for (int dx = 0; dx < stride; ++dx)
            sum += scale * x[(p * H + row * stride + dy) * W + col * stride + dx];
    y[i] = sum;
}

// delta: the layer's (its output's shape); input_delta: net.delta (its input's).
extern "C" __global__ void upsample_backward(const float* delta, float* input_delta, int planes, int h, int w,
                                             int stride, float scale, int reverse)
{
    const int W = w * stride, H = h * stride;
    if (reverse) {  // one thread per large (input) element
        const int i = thread_index(planes * H * W);
        if (i < 0) return;
        const int col = i % W, row = i / W % H, p = i / (H * W);
        input_delta[i] = scale * delta[(p * h + row / stride) * w + col / stride];
        return;
    }
    const int i = thread_index(planes * h * w);  // one thread per small (input) element
    if (i < 0) return;
    const int col = i % w, row = i / w % h, p = i / (h * w);
    float d = input_delta[i];
    for (int dy = 0; dy < stride; ++dy)
        for (int dx = 0; dx < stride; ++dx)
            d += scale * delta[(p * H + row * stride + dy) * W + col * stride + dx];
    input_delta[i] = d;
}
