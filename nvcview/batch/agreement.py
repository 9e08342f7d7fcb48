"""Inter-reader agreement statistics: Cohen's and Fleiss' kappa, ICC, Bland-Altman.

Pure functions on arrays; :mod:`nvcview.batch.agreement_report` turns a batch
table into the inputs and writes the plots and the summary.

References
----------
- Cohen J. A coefficient of agreement for nominal scales. Educ Psychol Meas 1960.
- Fleiss JL. Measuring nominal scale agreement among many raters. Psychol Bull 1971.
- Shrout PE, Fleiss JL. Intraclass correlations: uses in assessing rater
  reliability. Psychol Bull 1979 (ICC(2,1), ICC(3,1) and their confidence intervals).
- Bland JM, Altman DG. Statistical methods for assessing agreement between two
  methods of clinical measurement. Lancet 1986.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import asdict, dataclass

import numpy as np
from scipy import stats


@dataclass
class KappaResult:
    """A kappa with the agreement it is built from.

    Attributes
    ----------
    kappa : float
        Chance-corrected agreement; NaN when expected agreement is 1
        (every rating in one category: kappa undefined).
    observed : float
        Observed agreement (proportion, 0-1).
    expected : float
        Agreement expected by chance (proportion, 0-1).
    n_units : int
        Number of rated units (vessels or cases).
    n_raters : int
        Raters per unit.
    method : str
        "cohen" or "fleiss".
    """

    kappa: float
    observed: float
    expected: float
    n_units: int
    n_raters: int
    method: str

    def to_dict(self) -> dict:
        return asdict(self)


def _kappa(po: float, pe: float) -> float:
    if math.isclose(pe, 1.0):
        return float("nan")
    return (po - pe) / (1.0 - pe)


def cohen_kappa(
    ratings_a: Sequence, ratings_b: Sequence, categories: Sequence | None = None
) -> KappaResult:
    """Cohen's (unweighted) kappa of two raters on the same units.

    Parameters
    ----------
    ratings_a, ratings_b : sequence
        Category of each unit by rater A and rater B (same length, same order).
    categories : sequence, optional
        All possible categories (defaults to those seen).

    Returns
    -------
    KappaResult
        ``kappa = (p_o - p_e) / (1 - p_e)`` with ``p_e = sum_c p_A(c) p_B(c)``.
    """
    a = list(ratings_a)
    b = list(ratings_b)
    if len(a) != len(b):
        raise ValueError(f"Cohen's kappa: {len(a)} ratings from A but {len(b)} from B")
    if not a:
        raise ValueError("Cohen's kappa: no units rated by both raters")
    cats = list(dict.fromkeys(list(categories or []) + a + b))
    n = len(a)
    po = sum(x == y for x, y in zip(a, b, strict=True)) / n
    pe = sum((a.count(c) / n) * (b.count(c) / n) for c in cats)
    return KappaResult(_kappa(po, pe), po, pe, n, 2, "cohen")


def weighted_kappa(
    ratings_a: Sequence, ratings_b: Sequence, categories: Sequence, weights: str = "linear"
) -> KappaResult:
    """Cohen's weighted kappa for ordered categories (e.g. grades).

    Parameters
    ----------
    ratings_a, ratings_b : sequence
        Category of each unit by rater A and rater B.
    categories : sequence
        The categories in their order (none < contact < indentation < deviation).
    weights : {"linear", "quadratic"}
        Disagreement weight of categories ``i`` and ``j`` out of ``k``:
        ``|i - j| / (k - 1)`` or its square.

    Returns
    -------
    KappaResult
        ``kappa = 1 - D_o / D_e`` with ``D_o`` the mean observed weighted
        disagreement and ``D_e = sum_ij p_A(i) p_B(j) w_ij`` the chance one;
        ``observed`` / ``expected`` are the agreements ``1 - D_o`` and ``1 - D_e``.
    """
    a = list(ratings_a)
    b = list(ratings_b)
    cats = list(categories)
    if len(a) != len(b):
        raise ValueError(f"weighted kappa: {len(a)} ratings from A but {len(b)} from B")
    if not a:
        raise ValueError("weighted kappa: no units rated by both raters")
    unknown = sorted({str(x) for x in a + b if x not in cats})
    if unknown:
        raise ValueError(f"weighted kappa: ratings {unknown} are not among {cats}")
    if weights not in ("linear", "quadratic"):
        raise ValueError(f"weighted kappa: weights must be linear or quadratic, not {weights!r}")
    k = len(cats)
    idx = np.arange(k)
    w = np.abs(idx[:, None] - idx[None, :]) / max(k - 1, 1)
    if weights == "quadratic":
        w = w**2
    ia = np.array([cats.index(x) for x in a])
    ib = np.array([cats.index(x) for x in b])
    n = len(a)
    d_obs = float(w[ia, ib].mean())
    pa = np.bincount(ia, minlength=k) / n
    pb = np.bincount(ib, minlength=k) / n
    d_exp = float(pa @ w @ pb)
    kappa = float("nan") if math.isclose(d_exp, 0.0) else 1.0 - d_obs / d_exp
    return KappaResult(kappa, 1.0 - d_obs, 1.0 - d_exp, n, 2, f"cohen_{weights}")


def fleiss_kappa(counts: np.ndarray) -> KappaResult:
    """Fleiss' kappa from a units x categories table of rating counts.

    Parameters
    ----------
    counts : (N, K) array of int
        ``counts[i, j]`` = number of raters who put unit ``i`` in category ``j``;
        every row must sum to the same number of raters ``n >= 2``.

    Returns
    -------
    KappaResult
        ``P_i = (sum_j n_ij^2 - n) / (n (n - 1))``, ``P_bar = mean P_i``,
        ``p_j = sum_i n_ij / (N n)``, ``P_e = sum_j p_j^2``,
        ``kappa = (P_bar - P_e) / (1 - P_e)``.
    """
    counts = np.asarray(counts, dtype=np.float64)
    if counts.ndim != 2 or counts.shape[0] == 0:
        raise ValueError("Fleiss' kappa: need a non-empty units x categories table")
    per_unit = counts.sum(axis=1)
    n = per_unit[0]
    if not np.allclose(per_unit, n) or n < 2:
        raise ValueError("Fleiss' kappa: every unit needs the same number (>= 2) of ratings")
    n_units = counts.shape[0]
    p_i = ((counts**2).sum(axis=1) - n) / (n * (n - 1))
    p_bar = float(p_i.mean())
    p_j = counts.sum(axis=0) / (n_units * n)
    pe = float((p_j**2).sum())
    return KappaResult(_kappa(p_bar, pe), p_bar, pe, n_units, int(n), "fleiss")


def category_counts(ratings: Sequence[Sequence], categories: Sequence | None = None) -> np.ndarray:
    """Turn per-unit lists of ratings into the (N, K) count table of :func:`fleiss_kappa`."""
    seen = [r for unit in ratings for r in unit]
    cats = list(dict.fromkeys(list(categories or []) + seen))
    index = {c: j for j, c in enumerate(cats)}
    table = np.zeros((len(ratings), len(cats)), dtype=np.int64)
    for i, unit in enumerate(ratings):
        for r in unit:
            table[i, index[r]] += 1
    return table


@dataclass
class ICCResult:
    """Intraclass correlation (Shrout & Fleiss), single rater, two-way models.

    Attributes
    ----------
    icc2_1 : float
        ICC(2,1): two-way random effects, absolute agreement, single rater
        (McGraw & Wong ICC(A,1)). Readers are a sample of possible readers and
        systematic offsets between them count as disagreement.
    icc3_1 : float
        ICC(3,1): two-way mixed effects, consistency, single rater
        (McGraw & Wong ICC(C,1)). Systematic offsets are ignored.
    icc2_1_ci, icc3_1_ci : (float, float)
        95 % confidence intervals (Shrout & Fleiss 1979).
    n_units, n_raters : int
        Targets (vessels) and raters (readers).
    ms_rows, ms_cols, ms_error : float
        Two-way ANOVA mean squares (units, raters, residual), in squared units
        of the measurement (mm^2 for gaps).
    """

    icc2_1: float
    icc3_1: float
    icc2_1_ci: tuple[float, float]
    icc3_1_ci: tuple[float, float]
    n_units: int
    n_raters: int
    ms_rows: float
    ms_cols: float
    ms_error: float

    def to_dict(self) -> dict:
        d = asdict(self)
        d["icc2_1_ci"] = list(self.icc2_1_ci)
        d["icc3_1_ci"] = list(self.icc3_1_ci)
        return d


def icc(values: np.ndarray, alpha: float = 0.05) -> ICCResult:
    """ICC(2,1) and ICC(3,1) of an n units x k raters table without gaps.

    Parameters
    ----------
    values : (n, k) array
        ``values[i, j]``: rater ``j``'s measurement of unit ``i`` (e.g. gap in mm).
    alpha : float
        1 - confidence level of the intervals.

    Returns
    -------
    ICCResult
        With ``MSR, MSC, MSE`` the mean squares for rows (units), columns
        (raters) and error of the two-way ANOVA:
        ``ICC(3,1) = (MSR - MSE) / (MSR + (k-1) MSE)`` and
        ``ICC(2,1) = (MSR - MSE) / (MSR + (k-1) MSE + k (MSC - MSE) / n)``.
    """
    x = np.asarray(values, dtype=np.float64)
    if x.ndim != 2 or x.shape[0] < 2 or x.shape[1] < 2:
        raise ValueError(f"ICC: need at least 2 units x 2 raters, got shape {x.shape}")
    if not np.all(np.isfinite(x)):
        raise ValueError("ICC: the table has missing or non-finite values")
    n, k = x.shape
    grand = x.mean()
    ss_rows = k * float(((x.mean(axis=1) - grand) ** 2).sum())
    ss_cols = n * float(((x.mean(axis=0) - grand) ** 2).sum())
    ss_total = float(((x - grand) ** 2).sum())
    ss_err = max(ss_total - ss_rows - ss_cols, 0.0)
    df_r, df_c, df_e = n - 1, k - 1, (n - 1) * (k - 1)
    msr, msc, mse = ss_rows / df_r, ss_cols / df_c, ss_err / df_e

    def ratio(num: float, den: float) -> float:
        return num / den if den > 0 else float("nan")

    icc3 = ratio(msr - mse, msr + (k - 1) * mse)
    icc2 = ratio(msr - mse, msr + (k - 1) * mse + k * (msc - mse) / n)

    # confidence intervals, Shrout & Fleiss (1979)
    nan2 = (float("nan"), float("nan"))
    ci3 = nan2
    if mse > 0:
        f_obs = msr / mse
        f_lo = f_obs / stats.f.ppf(1 - alpha / 2, df_r, df_e)
        f_hi = f_obs * stats.f.ppf(1 - alpha / 2, df_e, df_r)
        ci3 = ((f_lo - 1) / (f_lo + k - 1), (f_hi - 1) / (f_hi + k - 1))
    ci2 = nan2
    if mse > 0 and np.isfinite(icc2):
        fj = msc / mse
        c = n * (1 + (k - 1) * icc2) - k * icc2
        v_den = (n - 1) * k**2 * icc2**2 * fj**2 + c**2
        v = df_e * (k * icc2 * fj + c) ** 2 / v_den if v_den > 0 else float("nan")
        if np.isfinite(v) and v > 0:
            f_star = stats.f.ppf(1 - alpha / 2, df_r, v)
            f_star2 = stats.f.ppf(1 - alpha / 2, v, df_r)
            lo = n * (msr - f_star * mse) / (f_star * (k * msc + (k * n - k - n) * mse) + n * msr)
            hi = n * (f_star2 * msr - mse) / (k * msc + (k * n - k - n) * mse + n * f_star2 * msr)
            ci2 = (float(lo), float(hi))
    return ICCResult(
        float(icc2), float(icc3), ci2, (float(ci3[0]), float(ci3[1])), n, k, msr, msc, mse
    )


@dataclass
class BlandAltmanResult:
    """Bland-Altman agreement of two readers on one measurement (units of the input).

    Attributes
    ----------
    bias : float
        Mean difference (B - A).
    sd : float
        Standard deviation of the differences (n - 1 in the denominator).
    loa_low, loa_high : float
        95 % limits of agreement, ``bias -/+ 1.96 sd``.
    n : int
        Number of paired units.
    mean, diff : numpy arrays
        Per-unit mean of the two readings and difference B - A (for the plot).
    """

    bias: float
    sd: float
    loa_low: float
    loa_high: float
    n: int
    mean: np.ndarray
    diff: np.ndarray

    def to_dict(self) -> dict:
        return {
            "bias": self.bias,
            "sd": self.sd,
            "loa_low": self.loa_low,
            "loa_high": self.loa_high,
            "n": self.n,
        }


def bland_altman(a: Sequence[float], b: Sequence[float]) -> BlandAltmanResult:
    """Bias and 95 % limits of agreement of paired readings ``b - a``."""
    a_ = np.asarray(a, dtype=np.float64)
    b_ = np.asarray(b, dtype=np.float64)
    if a_.shape != b_.shape or a_.ndim != 1:
        raise ValueError("Bland-Altman: need two 1D sequences of the same length")
    if a_.size < 2:
        raise ValueError(f"Bland-Altman: need at least 2 paired readings, got {a_.size}")
    diff = b_ - a_
    bias = float(diff.mean())
    sd = float(diff.std(ddof=1))
    return BlandAltmanResult(
        bias, sd, bias - 1.96 * sd, bias + 1.96 * sd, int(a_.size), (a_ + b_) / 2, diff
    )
