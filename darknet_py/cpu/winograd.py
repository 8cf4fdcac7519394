"""Winograd's minimal filtering F(m x m, 3 x 3) for 3x3 stride-1 convolutions (Lavin & Gray, 2015).

Each (m+2)x(m+2) input tile d and 3x3 filter g give an m x m output tile Y = A^T [(G g G^T) * (B^T d B)] A
(a cross-correlation, as Darknet's convolution). Summed over input channels, the elementwise product
becomes (m+2)^2 independent GEMMs (filters x channels) @ (channels x tiles), doing 9 m^2 / (m+2)^2 of
the direct multiplications: 2.25x fewer for F(2x2), 4x for F(4x4).

The tile transforms are applied as one GEMM each with the Kronecker product of the 1-D matrices
(B^T (x) B^T on a flattened tile), which keeps them inside BLAS instead of dozens of small numpy ops.
"""
import numpy as np

# 1-D transforms (B^T, G, A^T) for F(2,3) and F(4,3), points 0, +-1 (, +-2, inf).
_TRANSFORMS = {
    2: ([[1, 0, -1, 0],
         [0, 1, 1, 0],
         [0, -1, 1, 0],
         [0, 1, 0, -1]],
        [[1, 0, 0],
         [1 / 2, 1 / 2, 1 / 2],
         [1 / 2, -1 / 2, 1 / 2],
         [0, 0, 1]],
        [[1, 1, 1, 0],
         [0, 1, -1, -1]]),
    4: ([[4, 0, -5, 0, 1, 0],
         [0, -4, -4, 1, 1, 0],
         [0, 4, -4, -1, 1, 0],
         [0, -2, -1, 2, 1, 0],
         [0, 2, -1, -2, 1, 0],
         [0, 4, 0, -5, 0, 1]],
        [[1 / 4, 0, 0],
         [-1 / 6, -1 / 6, -1 / 6],
         [-1 / 6, 1 / 6, -1 / 6],
         [1 / 24, 1 / 12, 1 / 6],
         [1 / 24, -1 / 12, 1 / 6],
         [0, 0, 1]],
        [[1, 1, 1, 1, 1, 0],
         [0, 1, -1, 2, -2, 0],
         [0, 1, 1, 4, 4, 0],
         [0, 1, -1, 8, -8, 1]]),
}
TILE_SIZES = tuple(_TRANSFORMS)  # the output tile sizes m supported


def matrices(m):
    """(B^T, G, A^T) of F(m, 3) as float64 arrays."""
    return tuple(np.array(t, np.float64) for t in _TRANSFORMS[m])


def input_transform(m):
    """(a*a, a*a) float32: flattened tile d -> flattened B^T d B (a = m + 2)."""
    bt = matrices(m)[0]
    return np.kron(bt, bt).astype(np.float32)


def output_transform(m):
    """(m*m, a*a) float32: flattened Winograd-domain tile -> flattened A^T M A."""
    at = matrices(m)[2]
    return np.kron(at, at).astype(np.float32)


def filter_transform(weights, m):
    """(K, C, 3, 3) filters -> (a*a, K, C) float32 G g G^T: one GEMM with the Kronecker product G (x) G,
    as the tile transforms (float32 like the rest; the transformed filters differ from float64 ones
    by a few ulps)."""
    g = matrices(m)[1]
    gg = np.kron(g, g).astype(np.float32)  # (a*a, 9)
    k, c = weights.shape[:2]
    u = np.empty((len(gg), k, c), np.float32)
    np.matmul(gg, weights.reshape(k * c, 9).T, out=u.reshape(len(gg), k * c))
    return u
