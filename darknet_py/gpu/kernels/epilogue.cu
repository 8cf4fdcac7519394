// What follows a GEMM in [convolutional] and [connected] (and all of [batchnorm]): batch normalization
// with the rolling statistics, or the bias, then the activation - one pass over the output, in place.
//
// y is (C, B, ...) with `spatial` = B*H*W elements per channel. Batch normalization follows Darknet's
// CPU formula in its order of float operations: ((x - mean) / denom) * scale + bias, where
// denom = sqrt(var) + 1e-6 comes from the host (darknet_py/layers/batchnorm.py computes it), so GPU and
// CPU round alike. Kernels are built without fused multiply-add (backend.KERNEL_OPTIONS) for the same
// reason. Training adds the activation's gradient and batch-norm's backward (gpu_train.py): its
// forward is batchnorm_activate_forward with the batch's mean and denominator.
#include "common.cuh"
#include "activations.cuh"

extern "C" __global__ void bias_activate_forward(float* y, const float* biases, int channels, int spatial,
                                                 int activation)
{
    const int i = thread_index(channels * spatial);
    if (i < 0) return;
    y[i] = activate(y[i] + biases[i / spatial], activation);
}

extern "C" __global__ void batchnorm_activate_forward(float* y, const float* mean, const float* denom,
                                                      const float* scales, const float* biases, int channels,
                                                      int spatial, int activation)
{
    const int i = thread_index(channels * spatial);
    if (i < 0) return;
    const int c = i / spatial;
    float v = y[i] - mean[c];
    v = v / denom[c];
    v = v * scales[c];
    v = v + biases[c];
    y[i] = activate(v, activation);
}

// delta *= activation'(y), y the activated output (gradient_array).
extern "C" __global__ void activate_backward(const float* y, float* delta, int count, int activation)
{
    const int i = thread_index(count);
    if (i < 0) return;
    delta[i] *= gradient(y[i], activation);
}

// backward_batchnorm_layer's normalize_delta, after the delta was multiplied by the scales: per channel,
// delta = delta * inverse_std + variance_term * (x - mean) + mean_term, where x is the layer's input
// to batch-norm; the per-channel factors come from the host formulas of layers/batchnorm.py.
extern "C" __global__ void batchnorm_backward(float* delta, const float* x, const float* mean,
                                              const float* inverse_std, const float* variance_term,
                                              const float* mean_term, int channels, int spatial)
{
    const int i = thread_index(channels * spatial);
    if (i < 0) return;
    const int c = i / spatial;
    float d = delta[i] * inverse_std[c];
    d = d + variance_term[c] * (x[i] - mean[c]);
    delta[i] = d + mean_term[c];
}
