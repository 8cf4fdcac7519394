// im2col for a convolution of size > 1 or stride > 1 (Darknet's im2col_cpu), over the whole batch.
//
// x is (C, B, H, W); cols is (C*size*size, B, out_h*out_w) with rows in Darknet's (c, ky, kx) order,
// so the convolution is one GEMM: out (filters, B*out_h*out_w) = weights (filters, C*size*size) x cols.
// Taps outside the image read 0 (Darknet's im2col_get_pixel). col2im_backward is its adjoint.
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

// col2im (Darknet's col2im_gpu_kernel): each input pixel adds up the column entries of every window
// tap that read it. dx (C, B, H, W) += ; cols as im2col_forward writes them.
extern "C" __global__ void col2im_backward(const float* cols, float* dx, int channels, int batch, int height,
                                           int width, int size, int stride, int pad, int out_h, int out_w)
{
    const int i = thread_index(channels * batch * height * width);
    if (i < 0) return;
    const int x = i % width;
    const int y = i / width % height;
    const int b = i / (width * height) % batch;
    const int c = i / (width * height * batch);
    float sum = 0;
    for (int ky = 0; ky < size; ++ky) {
        const int dy = y + pad - ky;  // oy * stride when the tap ky of output row oy reads row y
        if (dy < 0 || dy % stride) continue;
        const int oy = dy / stride;
        if (oy >= out_h) continue;
        for (int kx = 0; kx < size; ++kx) {
            const int dx_ = x + pad - kx;
            if (dx_ < 0 || dx_ % stride) continue;
            const int ox = dx_ / stride;
            if (ox >= out_w) continue;
            const int row = (c * size + ky) * size + kx;
            sum += cols[((row * batch + b) * out_h + oy) * out_w + ox];
        }
    }
    dx[i] += sum;
}
