// Image input on the GPU: an 8-bit BGR image as OpenCV decodes it (H, W, 3) -> one image of the
// network's (3, B, h, w) input, RGB in [0, 1], with Darknet's letterbox_image arithmetic
// (darknet_py/image.py): pixels byte/255. (a double division rounded to float), resize_image's
// separable bilinear - horizontal pass (last column copied), then vertical (the last row takes only
// (1 - dy) * row) - pasted at (dx, dy) on a canvas of 0.5. A plain resize is new = (w, h), dx = dy = 0.
// Each output pixel recomputes the two horizontal-pass values it needs with the same float operations,
// so results are bit-identical to the CPU path (no fused multiply-add: backend.KERNEL_OPTIONS).
#include "common.cuh"

#define LETTERBOX_FILL 0.5f  // letterbox_image: the canvas colour

__device__ __forceinline__ float byte_pixel(const unsigned char* bgr, int im_w, int c, int row, int col)
{
    return (float)(bgr[(row * im_w + col) * 3 + 2 - c] / 255.);
}

// resize_image's horizontal pass at (c, row, col) of the new width.
__device__ float horizontal(const unsigned char* bgr, int im_w, int new_w, float w_scale, int c, int row, int col)
{
    if (col == new_w - 1 || im_w == 1 || new_w == 1) return byte_pixel(bgr, im_w, c, row, im_w - 1);
    const float sx = col * w_scale;
    const int ix = (int)sx;
    const float dx = sx - ix;
    const int ix1 = ix + 1 < im_w ? ix + 1 : im_w - 1;
    return (1 - dx) * byte_pixel(bgr, im_w, c, row, ix) + dx * byte_pixel(bgr, im_w, c, row, ix1);
}

extern "C" __global__ void letterbox_forward(const unsigned char* bgr, float* y, int im_w, int im_h, int w, int h,
                                             int new_w, int new_h, int dx, int dy, float w_scale, float h_scale,
                                             int image, int batch)
{
    const int i = thread_index(3 * h * w);
    if (i < 0) return;
    const int x = i % w;
    const int r = i / w % h;
    const int c = i / (w * h);
    float v = LETTERBOX_FILL;
    const int rx = x - dx, ry = r - dy;
    if (rx >= 0 && rx < new_w && ry >= 0 && ry < new_h) {
        const float sy = ry * h_scale;
        const int iy = (int)sy;
        const float fy = sy - iy;
        v = (1 - fy) * horizontal(bgr, im_w, new_w, w_scale, c, iy, rx);
        if (im_h > 1 && ry < new_h - 1) {
            const int iy1 = iy + 1 < im_h ? iy + 1 : im_h - 1;
            v += fy * horizontal(bgr, im_w, new_w, w_scale, c, iy1, rx);
        }
    }
    y[((c * batch + image) * h + r) * w + x] = v;
}
