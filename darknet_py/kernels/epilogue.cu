// What follows a GEMM in [convolutional] and [connected] (and all of [batchnorm]): batch normalization
// with the rolling statistics, or the bias, then the activation - one pass over the output, in place.
//
// y is (C, B, ...) with `spatial` = B*H*W elements per channel. Batch normalization follows Darknet's
// CPU formula in its order of float operations: ((x - mean) / denom) * scale + bias, where
// denom = sqrt(var) + 1e-6 comes from the host (darknet_py/layers/batchnorm.py computes it), so GPU and
// CPU round alike. Kernels are built without fused multiply-add (backend.KERNEL_OPTIONS) for the same
// reason. The backward kernels (gradient of the activation, of the bias and of the scales) belong here.
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
