// Darknet's activations (activations.h), forward and gradient, for the GPU kernels.
//
// The codes follow Darknet's ACTIVATION enum order; darknet_py/gpu.py ACTIVATION_CODES lists the same
// names in the same order (tests/test_kernels_compile.py checks it). Darknet computes the exp-based
// ones in double (exp() of a float promotes) and scales by double constants; we do the same so the
// GPU rounds as the C code does.
#pragma once

#define ACT_LOGISTIC 0
#define ACT_RELU 1
#define ACT_RELIE 2
#define ACT_LINEAR 3
#define ACT_RAMP 4
#define ACT_TANH 5
#define ACT_PLSE 6
#define ACT_LEAKY 7
#define ACT_ELU 8
#define ACT_LOGGY 9
#define ACT_STAIR 10
#define ACT_HARDTAN 11
#define ACT_LHTAN 12
#define ACT_SELU 13

__device__ __forceinline__ float logistic_activate(float x)
{
    return (float)(1. / (1. + exp(-(double)x)));
}

__device__ __forceinline__ float stair_activate(float x)
{
    const int n = (int)floorf(x);
    if (n % 2 == 0) return (float)floor(x / 2.);
    return (float)((double)(x - n) + floor(x / 2.));
}

__device__ __forceinline__ float activate(float x, int a)
{
    switch (a) {
    case ACT_LOGISTIC: return logistic_activate(x);
    case ACT_RELU: return x * (x > 0);
    case ACT_RELIE: return x > 0 ? x : (float)(.01 * x);
    case ACT_LINEAR: return x;
    case ACT_RAMP: return (float)(x * (x > 0) + .1 * x);
    case ACT_TANH: return (float)((exp(2. * x) - 1) / (exp(2. * x) + 1));
    case ACT_PLSE:
        if (x < -4) return (float)(.01 * (x + 4));
        if (x > 4) return (float)(.01 * (x - 4) + 1);
        return (float)(.125 * x + .5);
    case ACT_LEAKY: return x > 0 ? x : (float)(.1 * x);
    case ACT_ELU: return (float)((x >= 0) * x + (x < 0) * (exp((double)x) - 1));
    case ACT_LOGGY: return (float)(2. / (1. + exp(-(double)x)) - 1);
    case ACT_STAIR: return stair_activate(x);
    case ACT_HARDTAN: return x < -1 ? -1.f : (x > 1 ? 1.f : x);
    case ACT_LHTAN:
        if (x < 0) return (float)(.001 * x);
        if (x > 1) return (float)(.001 * (x - 1) + 1);
        return x;
    case ACT_SELU: return (float)((x >= 0) * 1.0507 * x + (x < 0) * 1.0507 * 1.6732 * (exp((double)x) - 1));
    }
    return x;
}

// The gradient from the activated output y, as Darknet's *_gradient functions (and
// darknet_py/activations.py GRADIENT, which computes them in float).
__device__ __forceinline__ float gradient(float y, int a)
{
    switch (a) {
    case ACT_LOGISTIC: return (1 - y) * y;
    case ACT_RELU: return (float)(y > 0);
    case ACT_RELIE: return y > 0 ? 1.f : .01f;
    case ACT_LINEAR: return 1;
    case ACT_RAMP: return (float)(y > 0) + .1f;
    case ACT_TANH: return 1 - y * y;
    case ACT_PLSE: return (y < 0 || y > 1) ? .01f : .125f;
    case ACT_LEAKY: return y > 0 ? 1.f : .1f;
    case ACT_ELU: return (float)(y >= 0) + (float)(y < 0) * (y + 1);
    case ACT_LOGGY: {
        const float half = (y + 1) / 2;
        return 2 * (1 - half) * half;
    }
    case ACT_STAIR: return floorf(y) != y ? 1.f : 0.f;
    case ACT_HARDTAN: return (y > -1 && y < 1) ? 1.f : 0.f;
    case ACT_LHTAN: return (y > 0 && y < 1) ? 1.f : .001f;
    case ACT_SELU: return y >= 0 ? 1.0507f : y + (float)(1.0507 * 1.6732);
    }
    return 1;
}
