"""Helpers of the convolution kernels (conv.py): the parallel packing of an NCHW array
into flat planes, and the dynamic hand-out of a parallel kernel's tasks."""

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
