"""2-D convolution kernels (Numba): forward, input gradient, weight and bias gradients.

Layouts: x[n, c, h, w] C-contiguous NCHW; weights in MATLAB order w[u, v, c, f]
(kh, kw, C, F), so ``w.reshape(kh*kw*C, F)`` has row ``k = (u*kw + v)*C + c``; bias
(F,); z and dz[n, f, i, j]. Stride (sh, sw), dilation (dh, dw), explicit pads
(top, bottom, left, right), asymmetric allowed. Twins in reference_conv.py::

    z[n,f,i,j]  = bias[f] + sum_{u,v,c} w[u,v,c,f] * xpad[n, c, i*sh + u*dh, j*sw + v*dw]
    dx[n,c,y,x] = sum over (f,u,v,i,j) with i*sh + u*dh = top + y, j*sw + v*dw = left + x
                  of w[u,v,c,f] * dz[n,f,i,j]
    dw[u,v,c,f] = sum_{n,i,j} xpad[n, c, i*sh + u*dh, j*sw + v*dw] * dz[n,f,i,j]
    db[f]       = sum_{n,i,j} dz[n,f,i,j]
    Ho = (H + top + bottom - ((kh-1)*dh + 1)) // sh + 1, likewise Wo.

Method, without im2col: the images of a batch lie one below the other in one
zero-padded plane per channel (``work.xflat``). Rows have period
``Wr = W + max(left, right)`` (the right padding of a row is the left padding of the
next), images ``Hr = H + max(top, bottom)`` rows, ``P = Hr*Wr`` (both larger if a
padding exceeds the dilated filter, so that outputs never share a position); pixel
(n, y, x) of channel c is ``xflat[c, LEAD + n*P + (top + y)*Wr + left + x]``. Output
(n, i, j) has position ``g = n*P + i*sh*Wr + j*sw`` and tap (u, v) reads
``xflat[c, LEAD + g + base]``, ``base = u*dh*Wr + v*dw``: every tap is the plane
shifted, the convolution a product of shifted rows. All positions are computed (those
between rows and images are dropped when copied out; with a stride, sh*sw times too
many), so the loops are long, contiguous, and vectorized by LLVM:

- forward: ``acc[f, g] = bias[f] + sum_k w[k, f] * xflat[c_k, LEAD + g + base_k]``;
- input gradient: the same correlation on ``work.dzflat`` (dz at its positions g,
  zeros elsewhere) with the taps reversed, read out at the pixels p:
  ``dx(p) = sum_{u,v,f} w[u,v,c,f] * dzflat[f, LEAD + p - base(u, v)]``;
- weight gradient: ``dw[k, f] = sum_g xflat[c_k, LEAD + g + base_k] * dzflat[f, LEAD + g]``.

Inner loops: ``_taps4`` adds four shifted rows times their weights to two accumulator
rows, ``_dots`` adds the products of two rows of x and two of dz to four accumulator
rows; the accumulator rows lie in one small array at constant distances, which keeps
LLVM's run-time alias checks few enough for it to vectorize.

Arithmetic, in the data's dtype (float32 accumulation of products, as BLAS does):
an output of the forward or input gradient is its bias (or 0) plus, taps in order,
``(a0*x0 + a1*x1) + (a2*x2 + a3*x3)`` for each group of four taps, then the remaining
taps one at a time (forward with ``relu``: then ``0 if t <= 0 else t``, NaN kept; with
``pool``: the max of each 2×2 block of those outputs, NaN if any is NaN, or their mean
over the plane, summed in float64, is all that is written). The only fastmath flag is ``contract``: LLVM may compute a product and the
sum it enters as one fused multiply-add (one rounding instead of two), always the same
way in a given build, so results stay deterministic.
The weight and bias gradients split the positions into chunks; lane l of a chunk
adds ``(p0 + p1) + (p2 + p3)``, four products of positions that are l modulo LANES;
the lanes are summed by halving in float64, then the chunks in order in float64
(below), and the sum is rounded once. Non-finite x at pixels that no
output reads (possible with a stride) still reaches dw as NaN, through dzflat's zeros.

Parallel work and determinism: forward and input-gradient tasks are groups of
``work.images`` whole images (at least TASK positions, chosen to waste little of the
last BLOCK). The weight gradient cuts the positions
into chunks of ``work.chunk`` (a function of the shape and dtype: at most CHUNK, few
enough that a chunk's rows fit in CACHE bytes, a quarter of the batch if that is more
than CHUNK/4; whole BLOCKs); a task sums a run of ``work.run`` consecutive chunks, in
order, into one float64 partial (at most GROUPS tasks), and the partials are added in
task order. Tasks are handed to threads one at a time; which thread runs a task never
changes what it computes, so results are bit-identical under any
``NUMBA_NUM_THREADS``. No BLAS: on the example networks' layers, these loops on two
threads take about as long as im2col's single-threaded BLAS GEMMs alone, without
im2col's copies and memory.

Work (``conv2d_work``): ``xflat`` and ``dzflat`` are zero except where x and dz are
packed, which is all the kernels write there, so a work keeps that invariant. Forward
packs x and records the array (``work.x_source``) and forgets dz; the input gradient
packs dz and records it (``work.dz_source``). The weight gradient packs x and dz
again unless they are the very arrays recorded, then forgets both. So one iteration
(forward, input gradient, weight gradient on one work) packs each once: do not write
into x or dz between these calls.

``out=``/``dw=``/``db=``: C-contiguous arrays of the result's shape and dtype,
overwritten and returned; they must not overlap an input. Kernels trust their inputs.
"""

import numpy as np
from numba import prange

from ._conv_pack import POOLS, _dynamic, _pack, _write_plane
from ._conv_weights import CONTRACT, LANES, _backward_weights  # noqa: F401 (LANES: the tests read it here)
from ._jit import kernel

BLOCK = 256   # positions per accumulator block (forward, input gradient); a multiple of 4*LANES
CHUNK = 4096  # the most positions of a weight-gradient chunk; a multiple of BLOCK
TASK = 1024   # forward/input-gradient tasks take whole images, at least this many positions
CACHE = 384 * 1024  # bytes of x and dz rows a weight-gradient chunk may read (within L2)
GROUPS = 64   # the most weight-gradient tasks (runs of chunks); bounds the float64 partials


def conv_output_hw(x_shape, w_shape, stride, dilation, pads):
    """(Ho, Wo) = ((H + top + bottom - ((kh-1)*dh + 1)) // sh + 1, likewise for the width)."""
    (H, W), (kh, kw), (sh, sw), (dh, dw) = x_shape[2:], w_shape[:2], stride, dilation
    top, bottom, left, right = pads
    return ((H + top + bottom - (kh - 1) * dh - 1) // sh + 1,
            (W + left + right - (kw - 1) * dw - 1) // sw + 1)


class ConvWork:
    """Scratch of one convolution shape: the flat planes of x and dz, the tap offsets,
    the chunk partials of the weight gradient, and the integers the kernels take."""

    __slots__ = ("key", "P", "Wr", "images", "chunk", "lead", "bases", "xtaps", "dztaps",
                 "chunks", "run", "xflat", "dzflat", "partial", "bias_partial", "x_source", "dz_source")

    def __init__(self, x_shape, w_shape, stride, dilation, pads, dtype):
        N, C, H, W = x_shape
        kh, kw, _, F = w_shape
        (dh, dw), (top, bottom, left, right) = dilation, pads
        self.key = (tuple(x_shape), tuple(w_shape), tuple(stride), tuple(dilation), tuple(pads),
                    np.dtype(dtype))
        Ho, Wo = conv_output_hw(x_shape, w_shape, stride, dilation, pads)
        # Wider gaps than the padding needs when a padding exceeds the dilated filter:
        # distinct outputs must keep distinct positions.
        self.Wr = max(W + max(left, right), (Wo - 1) * stride[1] + 1)
        self.P = max(H + max(top, bottom), (Ho - 1) * stride[0] + 1) * self.Wr
        self.images = _task_images(N, self.P)
        self.bases = np.array([u * dh * self.Wr + v * dw for u in range(kh) for v in range(kw)], np.int64)
        self.lead = int(self.bases[-1])
        # Whole BLOCKs; a chunk's rows of x and dz stay within CACHE bytes, and small
        # batches still give a few chunks to share among threads.
        fit = CACHE // ((C + F) * np.dtype(dtype).itemsize) // BLOCK * BLOCK
        quarter = -(-max(-(-N * self.P // 4), CHUNK // 4) // BLOCK) * BLOCK
        self.chunk = max(BLOCK, min(CHUNK, fit, quarter))
        positions = -(-N * self.P // self.chunk) * self.chunk
        L = self.lead + positions + self.lead
        # Row k = (u*kw + v)*C + c of w.reshape(K, F) reads xflat.flat[xtaps[k] + g];
        # tap (u, v, f) of the input gradient reads dzflat.flat[dztaps[(u*kw + v)*F + f] + p].
        self.xtaps = (self.lead + self.bases[:, None] + np.arange(C) * L).reshape(-1)
        self.dztaps = (self.lead - self.bases[:, None] + np.arange(F) * L).reshape(-1)
        self.xflat = np.zeros((C, L), dtype)
        self.dzflat = np.zeros((F, L), dtype)
        self.chunks = positions // self.chunk
        self.run = -(-self.chunks // GROUPS)
        self.partial = np.zeros((-(-self.chunks // self.run), kh * kw * C, F))
        self.bias_partial = np.zeros((-(-self.chunks // self.run), F))
        self.x_source = self.dz_source = None


def _task_images(N, P):
    """Images per forward/input-gradient task: at least TASK positions, and of the counts up
    to twice that few, the one whose positions waste least of their last BLOCK (a task
    computes whole BLOCKs: 5 images of 15×15 fill 1,125 of 1,280 positions, 9 fill 2,025 of
    2,048)."""
    least = min(N, -(-TASK // P))
    counts = range(least, max(least, min(N, 2 * least)) + 1)
    return min(counts, key=lambda n: (-(-n * P // BLOCK) * BLOCK - n * P) / (n * P))


def conv2d_work(x_shape, w_shape, stride, dilation, pads, dtype):
    """Every scratch array the three convolution functions need for this shape and dtype."""
    return ConvWork(x_shape, w_shape, stride, dilation, pads, dtype)


def _checked_work(work, x_shape, w_shape, stride, dilation, pads, dtype):
    key = (tuple(x_shape), tuple(w_shape), tuple(stride), tuple(dilation), tuple(pads), np.dtype(dtype))
    if work is None:
        return ConvWork(*key)
    if work.key != key:
        raise ValueError(f"conv2d: the work was made for {work.key}, not for {key}; "
                         f"make one with conv2d_work for this shape.")
    return work


# ---------------------------------------------------------------- packing (_conv_pack.py)

def _pack_x(x, work, pads):
    _dynamic(_pack, x, work.xflat, work.lead + pads[0] * work.Wr + pads[2], work.P, work.Wr, 1)
    work.x_source = x


def _pack_dz(dz, work, stride):
    _dynamic(_pack, dz, work.dzflat, work.lead, work.P, stride[0] * work.Wr, stride[1])
    work.dz_source = dz


# ---------------------------------------------------------------- correlation

@kernel(inline='always')
def _taps4(acc, two, x0, x1, x2, x3, a0, a1, a2, a3, b0, b1, b2, b3):
    """acc[:BLOCK] += (a0*x0 + a1*x1) + (a2*x2 + a3*x3); acc[BLOCK:] likewise with b if two."""
    if two:
        for i in range(BLOCK):
            v0, v1, v2, v3 = x0[i], x1[i], x2[i], x3[i]
            acc[i] += (a0 * v0 + a1 * v1) + (a2 * v2 + a3 * v3)
            acc[BLOCK + i] += (b0 * v0 + b1 * v1) + (b2 * v2 + b3 * v3)
    else:
        for i in range(BLOCK):
            acc[i] += (a0 * x0[i] + a1 * x1[i]) + (a2 * x2[i] + a3 * x3[i])


@kernel(inline='always')
def _taps1(acc, two, x0, a0, b0):
    """acc[:BLOCK] += a0*x0; acc[BLOCK:] += b0*x0 if two."""
    if two:
        for i in range(BLOCK):
            v0 = x0[i]
            acc[i] += a0 * v0
            acc[BLOCK + i] += b0 * v0
    else:
        for i in range(BLOCK):
            acc[i] += a0 * x0[i]


@kernel(parallel=True, fastmath=CONTRACT)
def _correlate(src, taps, coef, bias, out, P, images, at, row_step, col_step, relu, pool, A, B):
    """acc[r, p] = bias[r] + sum_k coef[r, k] * src[taps[k] + p] over the positions p of
    each task's images, a BLOCK of positions and two rows r at a time (taps in order,
    four at a time); then the planes out[n, r] from z[y, x] = acc[r, n*P + at +
    y*row_step + x*col_step], y < A, x < B, by _write_plane (relu, pool)."""
    N, R = out.shape[:2]
    K = taps.size
    for t in prange(-(-N // images)):
        n0 = t * images
        n1 = min(N, n0 + images)
        p0 = n0 * P
        blocks = -(-(n1 - n0) * P // BLOCK)
        # acc[r // 2, p // BLOCK, r % 2, p % BLOCK]: a pair of rows of a BLOCK is contiguous.
        acc = np.empty(((R + 1) // 2, blocks, 2, BLOCK), src.dtype)
        zero = np.zeros(1, src.dtype)[0]
        for j in range(blocks):
            q = p0 + j * BLOCK
            for r in range(0, R, 2):
                two = r + 1 < R
                r1 = r + 1 if two else r
                a, b = coef[r], coef[r1]
                block = acc[r // 2, j].reshape(2 * BLOCK)
                block[:BLOCK] = bias[r]
                block[BLOCK:] = bias[r1]
                k = 0
                while k + 4 <= K:
                    s0, s1, s2, s3 = taps[k] + q, taps[k + 1] + q, taps[k + 2] + q, taps[k + 3] + q
                    _taps4(block, two, src[s0:s0 + BLOCK], src[s1:s1 + BLOCK], src[s2:s2 + BLOCK],
                           src[s3:s3 + BLOCK], a[k], a[k + 1], a[k + 2], a[k + 3],
                           b[k], b[k + 1], b[k + 2], b[k + 3])
                    k += 4
                while k < K:
                    s0 = taps[k] + q
                    _taps1(block, two, src[s0:s0 + BLOCK], a[k], b[k])
                    k += 1
        for n in range(n0, n1):
            for r in range(R):
                _write_plane(acc[r // 2, :, r % 2], out[n, r], (n - n0) * P + at, A, B, row_step, col_step,
                             relu, pool, zero)


def conv2d_forward(x, w, bias, stride, dilation, pads, out=None, work=None, relu=False, pool=None):
    """z (N, F, Ho, Wo), x's dtype; see the module docstring. Packs x into ``work``.
    relu: z = max(z, 0) instead (NaN stays NaN), fused into the kernel. pool: then
    "max 2x2" (stride 2; NaN wins; an odd last row or column is dropped): the result is
    (N, F, Ho // 2, Wo // 2); or "global average" (summed in float64, rounded once): the
    result is (N, F, 1, 1). z itself is then never stored."""
    work = _checked_work(work, x.shape, w.shape, stride, dilation, pads, x.dtype)
    F = w.shape[3]
    Ho, Wo = conv_output_hw(x.shape, w.shape, stride, dilation, pads)
    if out is None:
        out = np.empty((x.shape[0], F) + pooled_size(Ho, Wo, pool), x.dtype)
    _pack_x(x, work, pads)
    work.dz_source = None
    coef = np.ascontiguousarray(w.reshape(-1, F).T, x.dtype)
    _dynamic(_correlate, work.xflat.reshape(-1), work.xtaps, coef, np.asarray(bias, x.dtype).reshape(F), out,
             work.P, work.images, 0, stride[0] * work.Wr, stride[1], bool(relu), POOLS[pool], Ho, Wo)
    return out


def pooled_size(Ho, Wo, pool):
    """The (height, width) conv2d_forward writes for a convolution output of Ho×Wo."""
    return {None: (Ho, Wo), "max 2x2": (Ho // 2, Wo // 2), "global average": (1, 1)}[pool]


def conv2d_backward_input(dz, w, x_shape, stride, dilation, pads, out=None, work=None):
    """dx (N, C, H, W), dz's dtype; see the module docstring. Packs dz into ``work``."""
    work = _checked_work(work, x_shape, w.shape, stride, dilation, pads, dz.dtype)
    kh, kw, C, F = w.shape
    if out is None:
        out = np.empty(x_shape, dz.dtype)
    _pack_dz(dz, work, stride)
    # coef[c, (u*kw + v)*F + f] = w[u, v, c, f]
    coef = np.ascontiguousarray(w.reshape(kh * kw, C, F).transpose(1, 0, 2).reshape(C, -1), dz.dtype)
    _dynamic(_correlate, work.dzflat.reshape(-1), work.dztaps, coef, np.zeros(C, dz.dtype), out, work.P,
             work.images, pads[0] * work.Wr + pads[2], work.Wr, 1, False, 0, *x_shape[2:])
    return out


# ---------------------------------------------------------------- weight gradient

def conv2d_backward_weights(dz, x, stride, dilation, pads, dw=None, db=None, work=None):
    """(dw (kh, kw, C, F), db (F,)), dz's dtype. The filter size comes from ``work``, or
    from ``dw`` without one. Reuses x and dz packed in ``work`` (module docstring)."""
    if work is None and dw is None:
        raise ValueError("conv2d_backward_weights: pass work (from conv2d_work) or dw, "
                         "so that the filter size is known.")
    w_shape = dw.shape if work is None else work.key[1]
    work = _checked_work(work, x.shape, w_shape, stride, dilation, pads, dz.dtype)
    if dw is None:
        dw = np.empty(w_shape, dz.dtype)
    if db is None:
        db = np.empty(w_shape[3], dz.dtype)
    if work.x_source is not x:
        _pack_x(x, work, pads)
    if work.dz_source is not dz:
        _pack_dz(dz, work, stride)
    work.x_source = work.dz_source = None
    _dynamic(_backward_weights, work.xflat.reshape(-1), work.dzflat, work.xtaps, work.lead, work.chunk,
             work.run, work.chunks, work.partial, work.bias_partial)
    total, bias_total = work.partial[0].copy(), work.bias_partial[0].copy()
    for t in range(1, len(work.partial)):          # the partials in task order
        total += work.partial[t]
        bias_total += work.bias_partial[t]
    np.copyto(dw, total.reshape(w_shape))
    np.copyto(db, bias_total)
    return dw, db
