// im2col for a convolution of size > 1 or stride > 1 (Darknet's im2col_cpu), over the whole batch.
//
// x is (C, B, H, W); cols is (C*size*size, B, out_h*out_w) with rows in Darknet's (c, ky, kx) order,
// so the convolution is one GEMM: out (filters, B*out_h*out_w) = weights (filters, C*size*size) x cols.
// Taps outside the image read 0 (Darknet's im2col_get_pixel). The backward col2im belongs beside it.
#include "common.cuh"

extern "C" __global__ void im2col_forward(const float* x, float* cols, int channels, int batch, int height,
                                          int width, int size, int stride, int pad, int out_h, int out_w)
{
    const int i = thread_index(channels * size * size * batch * out_h * out_w);
    if (i < 0) return;
    const int ox = i % out_w;
    int t = i / out_w;
    const int oy = t % out_h;
    t /= out_h;
    const int b = t % batch;
    const int row = t / batch;
    const int kx = row % size;
    const int ky = row / size % size;
    const int c = row / (size * size);
    const int iy = oy * stride - pad + ky;
    const int ix = ox * stride - pad + kx;
    const bool inside = iy >= 0 && iy < height && ix >= 0 && ix < width;
    cols[i] = inside ? x[((c * batch + b) * height + iy) * width + ix] : 0.f;
}
