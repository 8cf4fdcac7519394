// [reorg] forward, Darknet's reorg_cpu index order (not the standard space_to_depth).
//
// One thread per element of the w x h x c grid of each image: in = i + w*(j + h*k),
// out = w2 + w*stride*(h2 + h*stride*c2) with c2 = k % (c/stride^2), offset = k / (c/stride^2),
// w2 = i*stride + offset % stride, h2 = j*stride + offset / stride. forward != 0 copies x[in] to
// y[out], else x[out] to y[in] ([reorg] without reverse calls it with forward = 0 and the input's
// dims). Those flat per-image indices are mapped into the (C, B, H, W) buffers of x and y, whose
// planes hold x_plane and y_plane elements. The backward pass is this kernel with forward flipped.
#include "common.cuh"

extern "C" __global__ void reorg_forward(const float* x, float* y, int w, int h, int c, int batch, int stride,
                                         int forward, int x_plane, int y_plane)
{
    const int inputs = w * h * c;
    const int n = thread_index(inputs * batch);
    if (n < 0) return;
    const int i = n % w;
    const int j = n / w % h;
    const int k = n / (w * h) % c;
    const int b = n / inputs;
    const int out_c = c / (stride * stride);
    const int c2 = k % out_c;
    const int offset = k / out_c;
    const int w2 = i * stride + offset % stride;
    const int h2 = j * stride + offset / stride;
    const int in_index = b * inputs + i + w * (j + h * k);
    const int out_index = b * inputs + w2 + w * stride * (h2 + h * stride * c2);
    if (forward)
        y[plane_index(out_index, inputs, batch, y_plane)] = x[plane_index(in_index, inputs, batch, x_plane)];
    else
        y[plane_index(in_index, inputs, batch, y_plane)] = x[plane_index(out_index, inputs, batch, x_plane)];
}
