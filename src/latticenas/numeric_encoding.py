"""How numeric columns are encoded for the networks (framework-free; numpy only).

Three encodings, chosen with the ``numeric_encoding`` parameter and fitted on the training split:

- ``standard``: ``(x - mean) / std``, clipped to +-10 (missing -> the mean). Extrapolates
  linearly, so a value far outside the training range reaches the network unbounded.
- ``robust``: ``(x - median) / (IQR / 1.349)`` with ``x`` first clipped to the training range
  (missing -> the median). The 1.349 makes the scale match a standard deviation on normal data.
- ``quantile``: the quantile-normal transform used by TabM and RealMLP: each value goes to the
  normal score of its training quantile (piecewise-linear between up to :data:`QUANTILE_KNOTS`
  training quantiles, constant beyond them; missing -> the median's score).

``robust`` and ``quantile`` are both a monotone piecewise-linear map that is constant outside
the training range, so :func:`fit_knots` returns them as knots ``(xs, ys)`` and one Keras layer
(:class:`~latticenas.arch.keras_layers.PiecewiseLinear`) evaluates either, in training and in
serving alike. :func:`apply_knots` is the same map in numpy (the reference the parity tests
compare the saved model against).
"""

from __future__ import annotations

from statistics import NormalDist

import numpy as np

from latticenas.params import NUMERIC_ENCODINGS  # noqa: F401  (one list of the choices)

QUANTILE_KNOTS = 128  # at most this many training quantiles per column
NORMAL_BOUND = 5.0  # normal scores are clipped to +-5 (about 1 in 3.5 million)


def fit_knots(values: np.ndarray, encoding: str) -> tuple[float, tuple[float, ...], tuple[float, ...]]:
    """``(fill, xs, ys)`` of a piecewise-linear ``encoding`` fitted on one column's values.

    ``values`` may hold NaN (ignored); ``fill`` is the encoded value of a missing entry. A
    column with no finite value (or one distinct value) maps everything to 0.
    """
    x = np.asarray(values, dtype="float64")
    x = np.sort(x[np.isfinite(x)])
    if x.size == 0 or x[0] == x[-1]:
        return 0.0, (0.0, 1.0), (0.0, 0.0)
    median = float(np.median(x))
    if encoding == "robust":
        q1, q3 = np.quantile(x, [0.25, 0.75])
        scale = (q3 - q1) / 1.349 or float(x.std()) or 1.0
        xs = (float(x[0]), float(x[-1]))
        ys = tuple((v - median) / scale for v in xs)
        return 0.0, xs, ys
    if encoding == "quantile":
        xs, ys = _quantile_knots(x)
        return float(np.interp(median, xs, ys)), xs, ys
    raise ValueError(f"no knots for numeric encoding {encoding!r}")


def _quantile_knots(x: np.ndarray) -> tuple[tuple[float, ...], tuple[float, ...]]:
    """Distinct training quantiles and the normal score of each one's mid-rank.

    A value shared by many rows (a discrete column, a spike at 0) gets the score of the middle
    of its rank range, so ties do not all land on one end of the distribution.
    """
    n = x.size
    probabilities = np.linspace(0.0, 1.0, min(QUANTILE_KNOTS, n))
    knots = np.unique(np.quantile(x, probabilities))
    low = np.searchsorted(x, knots, side="left")
    high = np.searchsorted(x, knots, side="right")
    mid = (low + high) / 2.0 / n  # mid-rank of each knot value, in (0, 1)
    normal = NormalDist()
    bound = normal.cdf(-NORMAL_BOUND)
    scores = [normal.inv_cdf(min(max(p, bound), 1 - bound)) for p in mid]
    return tuple(float(v) for v in knots), tuple(float(s) for s in scores)


def apply_knots(values: np.ndarray, fill: float, xs, ys) -> np.ndarray:
    """The piecewise-linear map of :func:`fit_knots` in numpy (constant beyond the ends)."""
    x = np.asarray(values, dtype="float64")
    out = np.interp(x, np.asarray(xs), np.asarray(ys))
    return np.where(np.isnan(x), fill, out)


def segment_table(knots: list[tuple[tuple[float, ...], tuple[float, ...]]]) -> dict[str, list[list[float]]]:
    """Per-column knots as padded ``(segments, columns)`` arrays for a vectorized layer.

    ``f(x) = start + sum_k slope_k * (clip(x, low_k, high_k) - low_k)``: each segment adds its
    slope times the part of ``[low_k, high_k]`` below ``x``. Padding segments have slope 0.
    """
    width = max(len(xs) - 1 for xs, _ in knots)
    lows, highs, slopes, starts = [], [], [], []
    for xs, ys in knots:
        seg_low, seg_high, seg_slope = [], [], []
        for k in range(len(xs) - 1):
            span = xs[k + 1] - xs[k]
            seg_low.append(xs[k])
            seg_high.append(xs[k + 1])
            seg_slope.append((ys[k + 1] - ys[k]) / span if span > 0 else 0.0)
        pad = width - len(seg_low)
        seg_low += [xs[-1]] * pad
        seg_high += [xs[-1]] * pad
        seg_slope += [0.0] * pad
        lows.append(seg_low)
        highs.append(seg_high)
        slopes.append(seg_slope)
        starts.append(ys[0])
    transpose = lambda rows: [list(col) for col in zip(*rows)]  # noqa: E731
    return {"lows": transpose(lows), "highs": transpose(highs), "slopes": transpose(slopes), "starts": starts}
