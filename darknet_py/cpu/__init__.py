"""The fast CPU inference path: the same layers as `layers/`, computed for speed on numpy + OpenBLAS.

`layers/` stays the readable reference (plain im2col + GEMM, the code the oracle tests pin down); this
package runs a network's inference forward faster and must agree with it to float32 rounding:
  - batch-norm folded into each convolution's weights and bias once per set of weights,
  - 3x3 stride-1 convolutions by Winograd F(2x2,3x3) or F(4x4,3x3) (winograd.py),
  - the large early layers by im2col + GEMM a few output rows at a time, with the following 2x2
    maxpool done on those rows while they are in cache (conv.py),
  - 1x1 convolutions as a plain matmul,
  - every step split over a pool of Python threads with OpenBLAS kept at one thread (threads.py, blas.py).
Network.forward takes this path for numpy inputs unless DARKNET_PY_REFERENCE=1 (engine.py: use_fast_path).

This package's __init__ and blas_env.py import no numpy, so blas_env can run before numpy loads.
"""
