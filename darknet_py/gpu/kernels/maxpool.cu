// [maxpool] (Darknet's forward/backward_maxpool_layer): each window starts at -pad/2 (C integer
// division) and taps outside the image are -FLT_MAX, so a 2x2/1 pool extends right and down.
//
// Works on planes (one channel of one image), so it is the same for any layout of the planes.
// Training keeps each window's argmax (the first tap holding the maximum, as the C's strict '>' scan)
// as an index into x; the backward gives each input the deltas of the windows whose argmax it is.
#include "common.cuh"

// The maximum of output element i's window; *arg = its index in x (-1 if every tap is outside).
__device__ float window_max(const float* x, int i, int height, int width, int size, int stride, int pad,
                            int out_h, int out_w, int* arg)
{
    const int ox = i % out_w;
    const int oy = i / out_w % out_h;
    const int p = i / (out_w * out_h);
    const int offset = -pad / 2;
    float best = -FLT_MAX_F;
    *arg = -1;
    for (int ky = 0; ky < size; ++ky) {
        for (int kx = 0; kx < size; ++kx) {
            const int iy = offset + oy * stride + ky;
            const int ix = offset + ox * stride + kx;
            const int at = (p * height + iy) * width + ix;
            const bool valid = iy >= 0 && iy < height && ix >= 0 && ix < width;
            const float v = valid ? x[at] : -FLT_MAX_F;
            if (v > best) *arg = at;
            best = v > best ? v : best;
        }
    }
    return best;
}

extern "C" __global__ void maxpool_forward(const float* x, float* y, int planes, int height, int width,
                                           int size, int stride, int pad, int out_h, int out_w)
{
    const int i = thread_index(planes * out_h * out_w);
    if (i < 0) return;
    int arg;
    y[i] = window_max(x, i, height, width, size, stride, pad, out_h, out_w, &arg);
}

extern "C" __global__ void maxpool_forward_train(const float* x, float* y, int* indexes, int planes, int height,
                                                 int width, int size, int stride, int pad, int out_h, int out_w)
{
    const int i = thread_index(planes * out_h * out_w);
    if (i < 0) return;
    y[i] = window_max(x, i, height, width, size, stride, pad, out_h, out_w, &indexes[i]);
}

// One thread per input element (Darknet's backward_maxpool_layer_kernel): the windows that may hold
// it are those within (size - 1) / stride outputs of (index - offset) / stride on each axis.
extern "C" __global__ void maxpool_backward(const float* delta, const int* indexes, float* dx, int planes,
                                            int height, int width, int size, int stride, int pad, int out_h,
                                            int out_w)
{
    const int i = thread_index(planes * height * width);
    if (i < 0) return;
    const int x = i % width;
    const int y = i / width % height;
    const int p = i / (width * height);
    const int offset = -pad / 2;
    const int area = (size - 1) / stride;
    float sum = 0;
    for (int l = -area; l <= area; ++l) {
        for (int m = -area; m <= area; ++m) {
            const int oy = (y - offset) / stride + l;
            const int ox = (x - offset) / stride + m;
            if (oy < 0 || oy >= out_h || ox < 0 || ox >= out_w) continue;
            const int o = (p * out_h + oy) * out_w + ox;
            if (indexes[o] == i) sum += delta[o];
        }
    }
    dx[i] += sum;
}
