// [maxpool] forward (Darknet's forward_maxpool_layer): each window starts at -pad/2 (C integer
// division) and taps outside the image are -FLT_MAX, so a 2x2/1 pool extends right and down.
//
// Works on planes (one channel of one image), so it is the same for any layout of the planes.
// The backward pass needs the argmax of each window; it belongs beside this kernel.
#include "common.cuh"

extern "C" __global__ void maxpool_forward(const float* x, float* y, int planes, int height, int width,
                                           int size, int stride, int pad, int out_h, int out_w)
{
    const int i = thread_index(planes * out_h * out_w);
    if (i < 0) return;
    const int ox = i % out_w;
    const int oy = i / out_w % out_h;
    const int p = i / (out_w * out_h);
    const int offset = -pad / 2;
    float best = -FLT_MAX_F;
    for (int ky = 0; ky < size; ++ky) {
        for (int kx = 0; kx < size; ++kx) {
            const int iy = offset + oy * stride + ky;
            const int ix = offset + ox * stride + kx;
            const bool valid = iy >= 0 && iy < height && ix >= 0 && ix < width;
            const float v = valid ? x[(p * height + iy) * width + ix] : -FLT_MAX_F;
            best = v > best ? v : best;
        }
    }
    y[i] = best;
}
