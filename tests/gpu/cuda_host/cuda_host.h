// Lets the CUDA kernels of darknet_py/kernels compile as plain C++ for the CPU (tests/kernel_host.py):
// the CUDA qualifiers vanish and the built-in thread coordinates become globals that the generated
// launchers set before calling a kernel once per thread. Every kernel is one thread per output with
// no shared memory or synchronisation, so running the threads in turn computes what the GPU does.
#pragma once
#include <cmath>

struct HostDim3 { unsigned int x, y, z; };
static HostDim3 threadIdx, blockIdx, blockDim, gridDim;

#define __global__
#define __device__
#define __forceinline__ inline
