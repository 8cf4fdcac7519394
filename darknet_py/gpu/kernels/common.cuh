// Shared by every kernel: the thread index and the buffer layout of the GPU plan (darknet_py/gpu.py).
//
// Layout: the plan stores each layer's output channel-major over the batch, (C, B, H, W), so that a
// convolution of the whole batch is one GEMM. With B == 1 this is Darknet's own (B, C, H, W) layout.
// Kernels that follow Darknet's flat per-batch indexing (b*inputs + c*H*W + y*W + x) translate those
// indices with `plane_index`.
#pragma once

#define FLT_MAX_F 3.402823466e+38f  // C's FLT_MAX (NVRTC has no <cfloat>)

// One thread per output element: the global index, or -1 past the end.
__device__ __forceinline__ int thread_index(int count)
{
    const long long i = (long long)blockIdx.x * blockDim.x + threadIdx.x;
    return i < count ? (int)i : -1;
}

// Darknet's flat index `flat` = b*inputs + f (f < inputs, f = c*plane + s) -> the (C, B, H, W) address.
__device__ __forceinline__ int plane_index(int flat, int inputs, int batch, int plane)
{
    const int b = flat / inputs;
    const int f = flat - b * inputs;
    const int c = f / plane;
    return (c * batch + b) * plane + (f - c * plane);
}
