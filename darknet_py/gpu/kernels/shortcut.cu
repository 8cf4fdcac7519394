// [shortcut] (shortcut_layer.c, blas.c shortcut_cpu) on the plan's (C, B, H, W) buffers: out = the input, then
// over the channels both have, out = alpha*out + beta*from at the paired pixels - every `sample`-th
// pixel of out against every `stride`-th of from (sample = w_out/w_from, stride = w_from/w_out, at least
// 1) - then the activation over all of out.
//
// Backward (backward_shortcut_layer): delta *= activation' (epilogue.cu activate_backward), then
// net.delta += alpha*delta over the whole input, and from's delta += beta*delta through the same pairing
// (shortcut_backward_from, one thread per pair: no two pairs share a pixel of from).
#include "common.cuh"
#include "activations.cuh"

// x, out: c x batch x h x w; from: fc x batch x fh x fw.
extern "C" __global__ void shortcut_forward(const float* x, const float* from, float* out, int c, int batch,
                                            int h, int w, int fc, int fh, int fw, float alpha, float beta,
                                            int activation)
{
    const int i = thread_index(c * batch * h * w);
    if (i < 0) return;
    const int col = i % w, row = i / w % h, b = i / (w * h) % batch, k = i / (w * h * batch);
    const int stride = fw / w > 1 ? fw / w : 1, sample = w / fw > 1 ? w / fw : 1;
    const int mw = w < fw ? w : fw, mh = h < fh ? h : fh, mc = c < fc ? c : fc;
    float v = x[i];
    if (k < mc && col % sample == 0 && row % sample == 0 && col / sample < mw && row / sample < mh) {
        const float add = from[((k * batch + b) * fh + row / sample * stride) * fw + col / sample * stride];
        v = alpha * v + beta * add;
    }
    out[i] = activate(v, activation);
}

// One thread per paired pixel (k < min c, b, j < min h, i < min w): from_delta[k, b, j*stride, i*stride]
// += beta * delta[k, b, j*sample, i*sample].
extern "C" __global__ void shortcut_backward_from(const float* delta, float* from_delta, int c, int batch, int h,
                                                  int w, int fc, int fh, int fw, float beta)
{
    const int mw = w < fw ? w : fw, mh = h < fh ? h : fh, mc = c < fc ? c : fc;
    const int n = thread_index(mc * batch * mh * mw);
    if (n < 0) return;
    const int i = n % mw, j = n / mw % mh, b = n / (mw * mh) % batch, k = n / (mw * mh * batch);
    const int stride = fw / w > 1 ? fw / w : 1, sample = w / fw > 1 ? w / fw : 1;
    from_delta[((k * batch + b) * fh + j * stride) * fw + i * stride] +=
        beta * delta[((k * batch + b) * h + j * sample) * w + i * sample];
}

// net.delta += alpha * delta over the whole input.
extern "C" __global__ void shortcut_backward_input(const float* delta, float* input_delta, int count, float alpha)
{
    const int i = thread_index(count);
    if (i < 0) return;
    input_delta[i] += alpha * delta[i];
}
