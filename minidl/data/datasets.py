"""Built-in data sets and MATLAB-style splitting helpers.

:func:`digits` synthesises minidl's counterpart of MATLAB's ``DigitDataset``:
10,000 grayscale 28x28 images of the digits 0-9 (white on black), drawn by
minidl itself from a handful of stroke "fonts" and random distortions, so no
download and no data file is needed.

:func:`splitEachLabel` splits arrays per label, like MATLAB's
``splitEachLabel(imds, p, 'randomized')``.
"""
import functools
import numbers

import numpy as np

from .glyphs import glyph_table
from .split import splitEachLabel

__all__ = ["digits", "splitEachLabel"]

# ----------------------------------------------------------------------------

_SIZE = 28
_NUM_CLASSES = 10
_PER_CLASS = 1000
_BUDGET = 1 << 17


def _render(verts, a, b, prm, pix, work):
    """Render one glyph for a batch of images; returns float32 intensities (B, 784).

    ``work`` holds three preallocated float32 buffers of at least B * S * P
    elements (S segments, P pixels), so the big temporaries are never reallocated.
    """
    u = (verts - 0.5).astype(np.float32)                       # (V, 2), centred glyph
    x, y = u[:, 0], u[:, 1]
    # smooth random bending: quadratic displacement field per image
    basis = np.stack([x * x, x * y, y * y], axis=0)            # (3, V)
    px = x[None, :] + prm["warp"][:, 0:3] @ basis              # (B, V)
    py = y[None, :] + prm["warp"][:, 3:6] @ basis
    # affine: scale (with aspect), shear, rotation, translation; in pixel units
    m = prm["mat"]                                             # (B, 2, 2)
    X = m[:, 0, 0, None] * px + m[:, 0, 1, None] * py + prm["cx"][:, None]
    Y = m[:, 1, 0, None] * px + m[:, 1, 1, None] * py + prm["cy"][:, None]
    ax, ay = X[:, a], Y[:, a]                                  # (B, S)
    ex, ey = X[:, b] - ax, Y[:, b] - ay
    B, S = ax.shape
    P = pix.shape[1]
    n = B * S
    e2 = np.maximum(ex * ex + ey * ey, 1e-6).reshape(n, 1)
    # Squared distance of every pixel centre p to every segment a + t e, t in [0, 1]:
    #   |p - a - t e|^2 = |p - a|^2 - 2 t (p - a).e + t^2 |e|^2,  t = clip((p - a).e / |e|^2).
    # (p - a).e and |p - a|^2 are linear in (px, py, 1) and |p|^2: one matrix product each.
    ce = np.stack([ex, ey, -(ax * ex + ay * ey)], axis=-1).reshape(n, 3)
    cq = np.stack([-2 * ax, -2 * ay, ax * ax + ay * ay], axis=-1).reshape(n, 3)
    qe = work[0][:n * P].reshape(n, P)
    q2 = work[1][:n * P].reshape(n, P)
    t = work[2][:n * P].reshape(n, P)
    np.matmul(ce, pix[1:], out=qe)
    np.matmul(cq, pix[1:], out=q2)
    q2 += pix[0]
    np.divide(qe, e2, out=t)
    np.clip(t, 0.0, 1.0, out=t)
    qe *= t
    q2 -= qe
    q2 -= qe
    t *= t
    t *= e2
    q2 += t
    d = q2.reshape(B, S, P).min(axis=1)
    np.maximum(d, 0.0, out=d)
    np.sqrt(d, out=d)                                          # (B, P) distance in pixels
    # anti-aliased stroke: linear ramp one pixel wide around the stroke edge
    d = prm["half"][:, None] + 0.5 - d
    np.clip(d, 0.0, 1.0, out=d)
    d *= prm["peak"][:, None]
    return d


@functools.lru_cache(maxsize=4)
def _digits_cached(seed):
    X, labels, _ = synthesize(seed)
    return X, labels


@functools.lru_cache(maxsize=4)
def synthesize(seed, per_class=_PER_CLASS, max_angle=15.0):
    """(X uint8 28×28×1×n, labels grouped by class, rotation angles in degrees, positive
    counterclockwise on screen): ``per_class`` images of each digit, rotated within
    ±``max_angle`` degrees. Read-only arrays, cached."""
    rng = np.random.default_rng(seed)
    glyphs = glyph_table()
    n = _NUM_CLASSES * per_class
    labels = np.repeat(np.arange(_NUM_CLASSES, dtype=np.int64), per_class)
    nfonts = np.array([len(glyphs[d]) for d in range(_NUM_CLASSES)])
    font = (rng.random(n) * nfonts[labels]).astype(np.int64)

    f32 = np.float32
    degrees = rng.uniform(-max_angle, max_angle, n)
    theta = np.deg2rad(degrees)
    scale = rng.uniform(0.75, 1.1, n)
    aspect = np.exp(rng.uniform(-0.15, 0.15, n))
    shear = rng.uniform(-0.2, 0.2, n)
    tx = rng.uniform(-2.0, 2.0, n)
    ty = rng.uniform(-2.0, 2.0, n)
    half = rng.uniform(0.55, 1.7, n)                # stroke width 1.1 .. 3.4 px
    peak = rng.uniform(200.0, 255.0, n)
    warp = rng.uniform(-0.35, 0.35, (n, 6))
    noise_sd = rng.uniform(0.0, 6.0, n)

    # linear part in pixel units: R(theta) @ Shear @ diag(sx, sy)
    px_per_unit = 19.0
    sx = scale * aspect * px_per_unit
    sy = scale / aspect * px_per_unit
    c, s = np.cos(theta), np.sin(theta)
    # Shear [[1, k], [0, 1]] (italic slant), then rotation [[c, -s], [s, c]]
    # (y points down, so a positive angle turns the glyph clockwise on screen).
    mat = np.empty((n, 2, 2))
    mat[:, 0, 0] = c * sx
    mat[:, 0, 1] = (c * shear - s) * sy
    mat[:, 1, 0] = s * sx
    mat[:, 1, 1] = (s * shear + c) * sy
    centre = (_SIZE - 1) / 2.0
    params = {
        "mat": mat.astype(f32),
        "cx": (centre + tx).astype(f32),
        "cy": (centre + ty).astype(f32),
        "half": half.astype(f32),
        "peak": peak.astype(f32),
        "warp": warp.astype(f32),
    }

    yy, xx = np.mgrid[0:_SIZE, 0:_SIZE].astype(f32)
    yy, xx = yy.ravel(), xx.ravel()
    pix = np.stack([xx * xx + yy * yy, xx, yy, np.ones_like(xx)])   # (4, P)
    img = np.empty((n, _SIZE * _SIZE), dtype=f32)
    budget = _BUDGET                                  # elements per (B, S, P) temporary
    max_seg = max(len(a) for fonts in glyphs.values() for (_, a, _) in fonts)
    work = [np.empty(max(budget, max_seg * pix.shape[1]), dtype=f32) for _ in range(3)]
    for d in range(_NUM_CLASSES):
        for f, (verts, a, b) in enumerate(glyphs[d]):
            idx = np.flatnonzero((labels == d) & (font == f))
            step = max(1, budget // (len(a) * _SIZE * _SIZE))
            for i in range(0, len(idx), step):
                j = idx[i:i + step]
                prm = {k: v[j] for k, v in params.items()}
                img[j] = _render(verts, a, b, prm, pix, work)

    img += rng.standard_normal(img.shape, dtype=f32) * noise_sd.astype(f32)[:, None]
    np.clip(img, 0.0, 255.0, out=img)
    X = np.rint(img).astype(np.uint8)
    X = np.ascontiguousarray(X.reshape(n, _SIZE, _SIZE, 1).transpose(1, 2, 3, 0))
    angles = -degrees          # the renderer's positive angle turns clockwise on screen
    for array in (X, labels, angles):
        array.flags.writeable = False
    return X, labels, angles


def digits(seed=0):
    """Synthetic handwritten-style digits, minidl's counterpart of MATLAB's ``DigitDataset``.

    Generates 10,000 grayscale 28x28 images of the digits 0-9, 1,000 of each,
    white glyph on black. Nothing is downloaded: every image is drawn from one
    of three or four stroke styles per digit, randomly bent, scaled, stretched,
    slanted, rotated (within +/-15 degrees) and shifted, rendered with
    anti-aliased strokes of random width and brightness, plus a little noise.
    The result depends only on ``seed`` (the global ``minidl.rng`` generator is
    not touched), and is cached in-process, so repeated calls are cheap.

    Parameters
    ----------
    seed : int, default 0
        Nonnegative seed of the generator that draws the images.

    Returns
    -------
    X : numpy.ndarray of uint8, shape (28, 28, 1, 10000)
        Images in MATLAB layout height x width x channels x observations,
        values 0..255.
    Y : numpy.ndarray of int64, shape (10000,)
        Labels 0..9, grouped by class in ascending order (1,000 zeros, then
        1,000 ones, ...), like an ``imageDatastore`` labelled by folder names.

    Both arrays are fresh, writeable copies.

    Example
    -------
    >>> from minidl.data import digits, splitEachLabel
    >>> X, Y = digits()
    >>> X.shape, X.dtype, Y.shape
    ((28, 28, 1, 10000), dtype('uint8'), (10000,))
    >>> (XTrain, YTrain), (XValidation, YValidation) = splitEachLabel(X, Y, 750, "randomize")
    >>> XTrain.shape[-1], XValidation.shape[-1]
    (7500, 2500)
    """
    if isinstance(seed, bool) or not isinstance(seed, numbers.Integral) or seed < 0:
        raise ValueError(f"digits: seed must be a nonnegative integer, received {seed!r}.")
    X, Y = _digits_cached(int(seed))
    return X.copy(), Y.copy()
