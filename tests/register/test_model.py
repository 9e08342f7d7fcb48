"""Registration record: JSON round trip, validation, points, report sentence."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest

from nvcview.errors import InputError
from nvcview.register import Registration, apply_to_points, describe_registration
from nvcview.register.model import rotation_angle_deg


def _rot_z(deg: float, shift=(0.0, 0.0, 0.0)) -> np.ndarray:
    a = math.radians(deg)
    m = np.eye(4)
    m[:2, :2] = [[math.cos(a), -math.sin(a)], [math.sin(a), math.cos(a)]]
    m[:3, 3] = shift
    return m


def test_registration_round_trips_through_strict_json():
    reg = Registration(
        moving_to_fixed_lps=_rot_z(2.0, (1.0, -0.5, 0.25)),
        residual_mm=0.123,
        metric_value=-0.81,
        iterations=57,
        region_lps=[[-5.0, -20.0, -10.0], [31.0, 17.0, 14.0]],
        moving_series_uid="1.2.3",
        fixed_series_uid="1.2.4",
        warnings=["different FrameOfReferenceUID"],
        who="reader A",
    )
    text = json.dumps(reg.to_dict(), allow_nan=False)
    back = Registration.from_dict(json.loads(text))
    assert np.allclose(back.moving_to_fixed_lps, reg.moving_to_fixed_lps)
    assert np.allclose(back.region_lps, reg.region_lps)
    assert back.to_dict() == reg.to_dict()
    assert back.warnings == ("different FrameOfReferenceUID",)
    # a NaN residual (not estimated) is stored as null and read back as NaN
    nan = Registration(moving_to_fixed_lps=np.eye(4))
    d = nan.to_dict()
    assert d["residual_mm"] is None
    assert math.isnan(Registration.from_dict(d).residual_mm)


def test_registration_is_frozen_and_validated():
    reg = Registration(moving_to_fixed_lps=np.eye(4))
    with pytest.raises(AttributeError):
        reg.residual_mm = 1.0  # type: ignore[misc]
    with pytest.raises(ValueError):
        reg.moving_to_fixed_lps[0, 0] = 2.0
    with pytest.raises(InputError, match="4x4"):
        Registration(moving_to_fixed_lps=np.eye(3))
    bad = np.eye(4)
    bad[3, 0] = 1.0
    with pytest.raises(InputError, match="last row"):
        Registration(moving_to_fixed_lps=bad)
    with pytest.raises(InputError, match="method"):
        Registration(moving_to_fixed_lps=np.eye(4), method="elastic")


def test_apply_to_points_and_rotation_angle():
    m = _rot_z(90.0, (1.0, 0.0, 0.0))
    assert np.allclose(apply_to_points([1.0, 0.0, 0.0], m), [1.0, 1.0, 0.0])
    pts = np.array([[0.0, 1.0, 2.0], [1.0, 0.0, 0.0]])
    assert np.allclose(apply_to_points(pts, m), [[0.0, 0.0, 2.0], [1.0, 1.0, 0.0]])
    assert rotation_angle_deg(_rot_z(3.0)) == pytest.approx(3.0)
    reg = Registration(
        moving_to_fixed_lps=_rot_z(0.0, (0.3, 0.4, 0.0)), region_lps=[[0] * 3, [2] * 3]
    )
    assert np.allclose(reg.translation_mm, [0.3, 0.4, 0.0])


def test_describe_registration_sentences():
    reg = Registration(moving_to_fixed_lps=np.eye(4), residual_mm=0.1234)
    assert describe_registration(reg) == "TOF registered to T2 (rigid, estimated residual 0.12 mm)"
    assert describe_registration(None) == "TOF not registered to T2"
    ident = Registration(moving_to_fixed_lps=np.eye(4), method="identity")
    assert describe_registration(ident, moving="T1") == "T1 not registered to T2"
    warned = Registration(
        moving_to_fixed_lps=np.eye(4), residual_mm=0.2, forced=True, warnings=("different frames",)
    )
    text = describe_registration(warned)
    assert text.startswith("TOF registered to T2 (rigid, estimated residual 0.20 mm)")
    assert "forced" in text and "different frames" in text


def test_review_stores_a_registration_per_series(tmp_path):
    from nvcview.review import Review, load_review, save_review

    reg = Registration(
        moving_to_fixed_lps=_rot_z(1.5, (0.8, -0.3, 0.2)),
        residual_mm=0.08,
        metric_value=-0.8,
        iterations=60,
        region_lps=[[-5.0, -20.0, -10.0], [31.0, 17.0, 14.0]],
        moving_series_uid="1.2.3.tof",
        fixed_series_uid="1.2.3.t2",
        warnings=("the series have different frames of reference",),
        who="dr reader",
    )
    review = Review(case_id="c1", reader="dr reader", registrations=[reg])
    save_review(review, tmp_path)
    doc = json.loads((tmp_path / "review.json").read_text())
    assert doc["registrations"][0]["moving_to_fixed_lps"][0][3] == pytest.approx(0.8)
    back = load_review(tmp_path)
    assert back.registrations == [reg]
    assert back.registration_for("1.2.3.tof") == reg
    assert back.registration_for("other") is None
    # older documents without the field load with no registration
    del doc["registrations"]
    (tmp_path / "review.json").write_text(json.dumps(doc))
    assert load_review(tmp_path).registrations == []
    # a broken stored transform is a clear schema error naming the field
    doc["registrations"] = [dict(reg.to_dict(), moving_to_fixed_lps=[[1, 0, 0, 0]] * 4)]
    (tmp_path / "review.json").write_text(json.dumps(doc))
    from nvcview.errors import SchemaError

    with pytest.raises(SchemaError, match="registrations"):
        load_review(tmp_path)
