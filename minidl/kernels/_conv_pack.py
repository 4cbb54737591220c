"""Helpers of the convolution kernels (conv.py): the parallel packing of an NCHW array
into flat planes, the copy-out of accumulator rows (with a ReLU or a 2×2 max pooling),
and the dynamic hand-out of a parallel kernel's tasks."""

from numba import prange, set_parallel_chunksize

from ._jit import kernel


def _dynamic(parallel_kernel, *args):
    """Run ``parallel_kernel(*args)`` handing out its tasks one at a time (Numba's chunk
    size 1) instead of in equal shares per thread, so that a thread the OS preempts
    delays one task, not a share. Which thread runs a task never changes its result."""
    previous = set_parallel_chunksize(1)
    try:
        return parallel_kernel(*args)
    finally:
        set_parallel_chunksize(previous)


@kernel(parallel=True)
def _pack(a, flat, start, P, row_step, col_step):
    """flat[r, start + n*P + y*row_step + x*col_step] = a[n, r, y, x]."""
    N, R, A, B = a.shape
    for n in prange(N):
        for r in range(R):
            for y in range(A):
                at = start + n * P + y * row_step
                if col_step == 1:
                    flat[r, at:at + B] = a[n, r, y]
                else:
                    for x in range(B):
                        flat[r, at + x * col_step] = a[n, r, y, x]


@kernel(inline='always')
def _copy(dst, src, relu, zero):
    """dst = src, or max(src, 0) if relu, NaN kept (``t if t > 0 else 0`` would turn NaN
    into 0); zero, of src's dtype, keeps the select in that type."""
    if relu:
        for i in range(dst.size):
            t = src[i]
            dst[i] = zero if t <= zero else t
    else:
        dst[:] = src


@kernel(inline='always')
def _max2(a, b):
    """The larger of two; NaN if either is NaN (as NumPy's maximum). Bitwise, not
    short-circuit, logic: a select without branches, so loops of it vectorize."""
    return b if (b > a) | (b != b) else a


@kernel(inline='always')
def _max4(a, b, c, d):
    """The largest of four; NaN if any is NaN (as NumPy's max)."""
    return _max2(_max2(a, c), _max2(b, d))


@kernel(inline='always')
def _pool_lines(dst, above, below, relu, zero):
    """dst[x] = the max of above[2x], above[2x+1], below[2x], below[2x+1] (NaN if any is
    NaN), or its max with 0 if relu (NaN kept)."""
    for x in range(dst.size):
        m = _max4(above[2 * x], above[2 * x + 1], below[2 * x], below[2 * x + 1])
        dst[x] = zero if relu & (m <= zero) else m


POOLS = {None: 0, "max 2x2": 1, "global average": 2}   # conv2d_forward's pool -> _write_plane's


@kernel(inline='always')
def _write_plane(rows, dst, p, A, B, row_step, col_step, relu, pool, zero):
    """One output plane dst (an image's filter) from accumulator rows (blocks, L) holding
    z[y, x] at position g = p + y*row_step + x*col_step (rows[g // L, g % L]), y < A, x < B:
    pool 0: dst = z, or max(z, 0) if relu (NaN kept); then, from those values, pool 1:
    dst[i, j] = the max of the 2×2 block (2i, 2j) (NaN if any is NaN); pool 2: dst[0, 0] =
    their mean over the plane, summed in float64 and rounded once."""
    L = rows.shape[1]
    if pool == 2:
        total = 0.0
        for y in range(A):
            for x in range(B):
                g = p + y * row_step + x * col_step
                t = rows[g // L, g % L]
                total += zero if relu and t <= zero else t
        dst[0, 0] = total / (A * B)
    elif pool == 1:
        span = 2 * dst.shape[1] * col_step
        for y in range(dst.shape[0]):
            g = p + 2 * y * row_step
            h = g + row_step
            if col_step == 1 and g % L + span <= L and h % L + span <= L:
                _pool_lines(dst[y], rows[g // L, g % L:g % L + span], rows[h // L, h % L:h % L + span], relu, zero)
                continue
            for x in range(dst.shape[1]):
                a, c = g + 2 * x * col_step, h + 2 * x * col_step
                m = _max4(rows[a // L, a % L], rows[(a + col_step) // L, (a + col_step) % L],
                          rows[c // L, c % L], rows[(c + col_step) // L, (c + col_step) % L])
                dst[y, x] = zero if relu and m <= zero else m
    else:
        for y in range(A):
            g = p + y * row_step
            if col_step == 1:
                x = 0
                while x < B:
                    take = min(B - x, L - g % L)
                    _copy(dst[y, x:x + take], rows[g // L, g % L:g % L + take], relu, zero)
                    x += take
                    g += take
            else:
                for x in range(B):
                    t = rows[(g + x * col_step) // L, (g + x * col_step) % L]
                    dst[y, x] = zero if relu and t <= zero else t
