"""Agreement statistics against examples worked out by hand (numbers in the comments)."""

from __future__ import annotations

import math

import numpy as np
import pytest

from nvcview.batch.agreement import (
    bland_altman,
    category_counts,
    cohen_kappa,
    fleiss_kappa,
    icc,
    weighted_kappa,
)


def test_cohen_kappa_two_by_two_by_hand():
    # 50 units: both "yes" 20, A yes / B no 5, A no / B yes 10, both "no" 15.
    # p_o = (20 + 15) / 50 = 0.70
    # A says yes 25/50 = 0.5, B says yes 30/50 = 0.6
    # p_e = 0.5 * 0.6 + 0.5 * 0.4 = 0.50
    # kappa = (0.70 - 0.50) / (1 - 0.50) = 0.40
    a = ["yes"] * 20 + ["yes"] * 5 + ["no"] * 10 + ["no"] * 15
    b = ["yes"] * 20 + ["no"] * 5 + ["yes"] * 10 + ["no"] * 15
    res = cohen_kappa(a, b)
    assert res.observed == pytest.approx(0.70)
    assert res.expected == pytest.approx(0.50)
    assert res.kappa == pytest.approx(0.40)
    assert (res.n_units, res.n_raters, res.method) == (50, 2, "cohen")


def test_cohen_kappa_three_grades_by_hand():
    # grades of 6 vessels by two readers
    # A: contact contact indentation indentation none deviation
    # B: contact indentation indentation indentation none contact
    # agree on units 1, 3, 4, 5 -> p_o = 4/6 = 2/3
    # A marginals: none 1/6, contact 2/6, indentation 2/6, deviation 1/6
    # B marginals: none 1/6, contact 2/6, indentation 3/6, deviation 0
    # p_e = (1*1 + 2*2 + 2*3 + 1*0) / 36 = 11/36
    # kappa = (2/3 - 11/36) / (1 - 11/36) = (24/36 - 11/36) / (25/36) = 13/25 = 0.52
    a = ["contact", "contact", "indentation", "indentation", "none", "deviation"]
    b = ["contact", "indentation", "indentation", "indentation", "none", "contact"]
    res = cohen_kappa(a, b, categories=["none", "contact", "indentation", "deviation"])
    assert res.observed == pytest.approx(2 / 3)
    assert res.expected == pytest.approx(11 / 36)
    assert res.kappa == pytest.approx(0.52)


def test_cohen_kappa_perfect_and_undefined():
    assert cohen_kappa(["a", "b", "a"], ["a", "b", "a"]).kappa == pytest.approx(1.0)
    # everybody says "a": p_e = 1, kappa undefined
    assert math.isnan(cohen_kappa(["a", "a"], ["a", "a"]).kappa)
    with pytest.raises(ValueError, match="3 ratings from A but 2 from B"):
        cohen_kappa(["a", "b", "a"], ["a", "b"])


def test_weighted_kappa_by_hand():
    # ordered categories 0 < 1 < 2, linear disagreement weights |i - j| / 2
    # A: 0 1 2 2 ; B: 0 2 2 1 -> weights 0, 0.5, 0, 0.5 -> D_o = 1/4
    # marginals of A and B alike: (1/4, 1/4, 1/2)
    # D_e = 1/4 (1/4*0 + 1/4*.5 + 1/2*1) + 1/4 (1/4*.5 + 0 + 1/2*.5) + 1/2 (1/4*1 + 1/4*.5 + 0)
    #     = 0.15625 + 0.09375 + 0.1875 = 0.4375
    # kappa_w = 1 - 0.25 / 0.4375 = 3/7
    cats = ["none", "contact", "indentation"]
    a = ["none", "contact", "indentation", "indentation"]
    b = ["none", "indentation", "indentation", "contact"]
    res = weighted_kappa(a, b, cats, "linear")
    assert res.kappa == pytest.approx(3 / 7)
    assert (res.observed, res.expected) == pytest.approx((0.75, 0.5625))
    # quadratic weights (|i-j|/2)^2: 0, 0.25, 0, 0.25 -> D_o = 1/8
    # D_e = 1/4 (1/4*.25 + 1/2*1) + 1/4 (1/4*.25 + 1/2*.25) + 1/2 (1/4*1 + 1/4*.25)
    #     = 0.140625 + 0.046875 + 0.15625 = 0.34375 -> kappa = 1 - 0.125/0.34375 = 7/11
    assert weighted_kappa(a, b, cats, "quadratic").kappa == pytest.approx(7 / 11)
    with pytest.raises(ValueError, match=r"ratings \['severe'\] are not among"):
        weighted_kappa(["severe"], ["none"], cats)


def test_fleiss_kappa_by_hand():
    # 4 units, 3 raters, 2 categories; counts per unit (cat1, cat2):
    # (3,0) (0,3) (2,1) (1,2)
    # P_i = (sum n_ij^2 - 3) / (3 * 2): 1, 1, (4+1-3)/6 = 1/3, 1/3 -> P_bar = (8/3)/4 = 2/3
    # p_1 = (3+0+2+1)/12 = 0.5, p_2 = 0.5 -> P_e = 0.25 + 0.25 = 0.5
    # kappa = (2/3 - 1/2) / (1 - 1/2) = 1/3
    ratings = [["x", "x", "x"], ["y", "y", "y"], ["x", "x", "y"], ["x", "y", "y"]]
    table = category_counts(ratings)
    assert table.tolist() == [[3, 0], [0, 3], [2, 1], [1, 2]]
    res = fleiss_kappa(table)
    assert res.observed == pytest.approx(2 / 3)
    assert res.expected == pytest.approx(0.5)
    assert res.kappa == pytest.approx(1 / 3)
    assert (res.n_units, res.n_raters, res.method) == (4, 3, "fleiss")


def test_fleiss_kappa_rejects_uneven_rater_counts():
    with pytest.raises(ValueError, match="same number"):
        fleiss_kappa([[2, 0], [1, 2]])


def test_icc_small_table_by_hand():
    # 3 vessels x 2 readers: (1, 2), (3, 3), (5, 7)
    # grand mean 21/6 = 3.5; row means 1.5, 3, 6; column means 3, 4
    # SS_rows = 2 * (2^2 + 0.5^2 + 2.5^2) = 21      -> MSR = 21 / 2 = 10.5
    # SS_cols = 3 * (0.5^2 + 0.5^2) = 1.5           -> MSC = 1.5 / 1 = 1.5
    # SS_total = 6.25+2.25+0.25+0.25+2.25+12.25 = 23.5
    # SS_err = 23.5 - 21 - 1.5 = 1                  -> MSE = 1 / 2 = 0.5
    # ICC(3,1) = (10.5 - 0.5) / (10.5 + 0.5) = 10/11
    # ICC(2,1) = (10.5 - 0.5) / (10.5 + 0.5 + 2 * (1.5 - 0.5) / 3) = 10 / (35/3) = 6/7
    res = icc(np.array([[1.0, 2.0], [3.0, 3.0], [5.0, 7.0]]))
    assert (res.ms_rows, res.ms_cols, res.ms_error) == pytest.approx((10.5, 1.5, 0.5))
    assert res.icc3_1 == pytest.approx(10 / 11)
    assert res.icc2_1 == pytest.approx(6 / 7)
    for est, (lo, hi) in ((res.icc2_1, res.icc2_1_ci), (res.icc3_1, res.icc3_1_ci)):
        assert lo < est < hi


def test_icc_shrout_fleiss_1979_table():
    # Shrout & Fleiss (1979), Table 2: 6 targets x 4 judges.
    # Published: ICC(2,1) = .29, ICC(3,1) = .71.
    x = np.array(
        [[9, 2, 5, 8], [6, 1, 3, 2], [8, 4, 6, 8], [7, 1, 2, 6], [10, 5, 6, 9], [6, 2, 4, 7]]
    )
    res = icc(x)
    assert round(res.icc2_1, 2) == 0.29
    assert round(res.icc3_1, 2) == 0.71


def test_icc_rejects_gaps():
    with pytest.raises(ValueError, match="non-finite"):
        icc(np.array([[1.0, np.nan], [2.0, 3.0]]))


def test_bland_altman_by_hand():
    # differences B - A: 1, 0, 2 -> bias 1; deviations 0, -1, 1 -> SD = sqrt(2/2) = 1
    # limits of agreement 1 -/+ 1.96 = -0.96, 2.96
    res = bland_altman([1.0, 3.0, 5.0], [2.0, 3.0, 7.0])
    assert res.bias == pytest.approx(1.0)
    assert res.sd == pytest.approx(1.0)
    assert (res.loa_low, res.loa_high) == pytest.approx((-0.96, 2.96))
    assert res.mean.tolist() == [1.5, 3.0, 6.0]
    assert res.diff.tolist() == [1.0, 0.0, 2.0]
