"""The stroke "fonts" of minidl's built-in digits: each digit drawn in several styles,
as polylines in a unit box (x to the right, y down), spanning y in [0.05, 0.95] and x in
[0.2, 0.8]."""
import math

import numpy as np

# Glyphs: each digit is drawn in several stroke styles ("fonts"). A glyph is a
# list of polylines in a unit box, x to the right and y *down* (image rows),
# with the digit spanning roughly y in [0.05, 0.95] and x in [0.2, 0.8].
# ----------------------------------------------------------------------------


def _arc(cx, cy, rx, ry, a0, a1, n=None):
    """Elliptic arc from angle ``a0`` to ``a1`` (degrees, counter-clockwise, 0 = right)."""
    if n is None:
        n = max(3, int(math.ceil(abs(a1 - a0) / 22.5)))
    t = np.deg2rad(np.linspace(a0, a1, n + 1))
    return np.stack([cx + rx * np.cos(t), cy - ry * np.sin(t)], axis=1)


def _bez(*pts, n=8):
    """Bezier curve through control points ``pts`` (any degree), ``n`` segments."""
    p = np.asarray(pts, dtype=float)
    k = len(p) - 1
    t = np.linspace(0.0, 1.0, n + 1)[:, None]
    out = np.zeros((n + 1, 2))
    for i in range(k + 1):
        out += math.comb(k, i) * t**i * (1 - t) ** (k - i) * p[i]
    return out


def _line(*pts):
    return np.asarray(pts, dtype=float)


def _join(*parts):
    """Concatenate pieces of one stroke, dropping a piece's first point when it repeats."""
    out = [np.asarray(parts[0], dtype=float)]
    for q in parts[1:]:
        q = np.asarray(q, dtype=float)
        if np.allclose(out[-1][-1], q[0], atol=1e-3):
            q = q[1:]
        out.append(q)
    return np.concatenate(out, axis=0)


def _eight_curve(w, n=28):
    """A figure-eight drawn as one closed stroke."""
    t = np.linspace(0.0, 2.0 * np.pi, n + 1)
    return np.stack([0.5 + w * np.sin(2 * t), 0.5 - 0.44 * np.cos(t)], axis=1)


def _glyphs():
    g = {}
    g[0] = [
        [_arc(0.5, 0.5, 0.27, 0.45, 90, 450, 16)],                      # oval
        [_arc(0.5, 0.5, 0.32, 0.44, 90, 450, 16)],                      # round
        [_join(_arc(0.5, 0.3, 0.26, 0.25, 0, 180, 8),                   # stadium
               _line((0.24, 0.3), (0.24, 0.7)),
               _arc(0.5, 0.7, 0.26, 0.25, 180, 360, 8),
               _line((0.76, 0.7), (0.76, 0.3)))],
        [_arc(0.5, 0.5, 0.25, 0.45, 90, 450, 16),                       # slashed zero
         _line((0.36, 0.75), (0.64, 0.25))],
    ]
    g[1] = [
        [_line((0.5, 0.05), (0.5, 0.95))],                              # plain stick
        [_line((0.37, 0.2), (0.53, 0.05), (0.53, 0.95))],               # with flag
        [_line((0.36, 0.19), (0.52, 0.05), (0.52, 0.95)),                # flag and base
         _line((0.3, 0.95), (0.74, 0.95))],
        [_join(_bez((0.36, 0.22), (0.46, 0.15), (0.55, 0.05), n=3),     # curved flag
               _line((0.55, 0.05), (0.5, 0.95)))],
    ]
    g[2] = [
        [_join(_arc(0.5, 0.3, 0.27, 0.25, 155, -35, 9),                 # sans
               _line((0.72, 0.44), (0.22, 0.95), (0.8, 0.95)))],
        [_join(_arc(0.5, 0.3, 0.27, 0.25, 160, -20, 8),                 # curved neck
               _bez((0.75, 0.39), (0.7, 0.6), (0.22, 0.95), n=6),
               _line((0.22, 0.95), (0.8, 0.95)))],
        [_join(_arc(0.5, 0.28, 0.26, 0.23, 165, -10, 8),                # looped base
               _bez((0.755, 0.32), (0.7, 0.62), (0.25, 0.9), n=6),
               _bez((0.25, 0.9), (0.2, 0.82), (0.33, 0.85), (0.5, 0.93), (0.8, 0.9), n=6))],
        [_join(_arc(0.5, 0.3, 0.29, 0.25, 180, -30, 9),                 # wide
               _line((0.75, 0.42), (0.2, 0.95), (0.82, 0.93)))],
    ]
    g[3] = [
        [_join(_arc(0.5, 0.28, 0.25, 0.23, 150, -90, 10),               # two bowls
               _arc(0.5, 0.73, 0.28, 0.22, 90, -150, 10))],
        [_join(_line((0.24, 0.06), (0.76, 0.06), (0.45, 0.4)),          # flat top
               _arc(0.5, 0.68, 0.28, 0.27, 100, -150, 10))],
        [_join(_arc(0.5, 0.25, 0.22, 0.2, 160, -90, 10),                # small upper bowl
               _arc(0.48, 0.7, 0.3, 0.25, 90, -160, 11))],
        [_join(_arc(0.5, 0.28, 0.25, 0.23, 150, -90, 10),               # two bowls with a nose
               _arc(0.5, 0.73, 0.28, 0.22, 90, -150, 10)),
         _line((0.42, 0.5), (0.5, 0.5))],
    ]
    g[4] = [
        [_line((0.64, 0.95), (0.64, 0.05), (0.18, 0.68), (0.82, 0.68))],  # closed
        [_line((0.32, 0.05), (0.22, 0.6), (0.8, 0.6)),                  # open
         _line((0.64, 0.3), (0.64, 0.95))],
        [_line((0.62, 0.05), (0.18, 0.66), (0.82, 0.66)),               # closed, separate stem
         _line((0.62, 0.05), (0.62, 0.95)),
         _line((0.5, 0.95), (0.74, 0.95))],
        [_line((0.35, 0.05), (0.2, 0.62), (0.82, 0.6)),                 # open, tall stem
         _line((0.66, 0.12), (0.63, 0.95))],
    ]
    g[5] = [
        [_join(_line((0.76, 0.06), (0.31, 0.06), (0.28, 0.45)),         # sans
               _arc(0.5, 0.66, 0.28, 0.29, 130, -150, 11))],
        [_line((0.31, 0.07), (0.78, 0.07)),                             # separate top bar
         _join(_line((0.31, 0.07), (0.28, 0.45)),
               _arc(0.5, 0.66, 0.28, 0.29, 130, -150, 11))],
        [_join(_line((0.74, 0.06), (0.3, 0.06), (0.26, 0.42)),          # flat bowl
               _bez((0.26, 0.42), (0.45, 0.32), (0.9, 0.4), (0.85, 0.85), (0.45, 1.0), (0.22, 0.84), n=10))],
    ]
    g[6] = [
        [_join(_bez((0.72, 0.08), (0.45, 0.05), (0.24, 0.35), (0.24, 0.68), n=7),  # curved stem
               _arc(0.5, 0.68, 0.26, 0.26, 180, -180, 16))],
        [_join(_line((0.66, 0.05), (0.27, 0.6)),                        # straight stem
               _arc(0.5, 0.7, 0.25, 0.25, 155, -205, 16))],
        [_join(_bez((0.68, 0.06), (0.3, 0.15), (0.24, 0.5), (0.26, 0.78), n=7),  # small loop
               _arc(0.47, 0.75, 0.21, 0.2, 190, -160, 14))],
    ]
    g[7] = [
        [_line((0.2, 0.07), (0.8, 0.07), (0.4, 0.95))],                 # plain
        [_line((0.2, 0.07), (0.8, 0.07), (0.4, 0.95)),                  # with crossbar
         _line((0.44, 0.5), (0.78, 0.5))],
        [_join(_line((0.2, 0.18), (0.2, 0.07), (0.8, 0.07)),            # hooked, curved stem
               _bez((0.8, 0.07), (0.58, 0.4), (0.47, 0.95), n=6))],
        [_join(_line((0.22, 0.07), (0.78, 0.07)),                       # near-vertical stem
               _bez((0.78, 0.07), (0.6, 0.35), (0.55, 0.95), n=5))],
    ]
    g[8] = [
        [_arc(0.5, 0.27, 0.21, 0.21, -90, 270, 14),                     # two circles
         _arc(0.5, 0.71, 0.26, 0.23, 90, 450, 16)],
        [_eight_curve(0.25)],                                           # one stroke
        [_eight_curve(0.2)],                                            # narrow
        [_arc(0.5, 0.3, 0.24, 0.24, -90, 270, 14),                      # big top
         _arc(0.5, 0.74, 0.22, 0.2, 90, 450, 14)],
    ]
    g[9] = [
        [_join(_arc(0.5, 0.31, 0.25, 0.26, 0, 360, 16),                 # straight stem
               _line((0.75, 0.31), (0.72, 0.95)))],
        [_join(_arc(0.5, 0.31, 0.25, 0.26, 0, 360, 16),                 # curved tail
               _bez((0.75, 0.31), (0.77, 0.7), (0.6, 0.96), (0.3, 0.92), n=7))],
        [_join(_arc(0.52, 0.3, 0.23, 0.24, -10, 350, 16),               # diagonal stem
               _line((0.75, 0.34), (0.52, 0.95)))],
    ]
    out = {}
    for d, fonts in g.items():
        out[d] = []
        for strokes in fonts:
            verts, a_idx = [], []
            start = 0
            for s in strokes:
                s = np.asarray(s, dtype=np.float64)
                verts.append(s)
                a_idx.append(np.arange(start, start + len(s) - 1))
                start += len(s)
            a = np.concatenate(a_idx)
            out[d].append((np.concatenate(verts, axis=0), a, a + 1))
    return out


_GLYPHS = None


def glyph_table():
    global _GLYPHS
    if _GLYPHS is None:
        _GLYPHS = _glyphs()
    return _GLYPHS
