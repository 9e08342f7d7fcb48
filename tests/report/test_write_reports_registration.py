"""write_reports: the fused key images read the TOF through the review's registration."""

from __future__ import annotations

import dataclasses

import numpy as np

from nvcview.register import Registration
from nvcview.report import write_reports


def _tof_given_to_key_images(monkeypatch, review, folder, out):
    import nvcview.report.keyimages as keyimages

    seen = []
    real = keyimages.render_key_images

    def spy(base, measurements, **kw):
        seen.append(kw.get("tof"))
        return real(base, measurements, **kw)

    monkeypatch.setattr(keyimages, "render_key_images", spy)
    write_reports(review, folder, out, formats=("json",))
    assert seen and seen[0] is not None
    return seen[0]


def test_key_images_sample_the_tof_through_the_stored_registration(
    synth_case, monkeypatch, tmp_path
):
    review = synth_case["review"]
    plain = _tof_given_to_key_images(monkeypatch, review, synth_case["folder"], tmp_path / "a")
    m = np.eye(4)
    m[:3, 3] = (0.8, -0.5, 0.3)  # the patient moved between T2 and TOF
    registered = dataclasses.replace(
        review,
        registrations=[
            Registration(moving_to_fixed_lps=m, moving_series_uid=synth_case["tof_uid"])
        ],
    )
    shown = _tof_given_to_key_images(monkeypatch, registered, synth_case["folder"], tmp_path / "b")
    np.testing.assert_allclose(shown.affine, m @ plain.affine)
    np.testing.assert_array_equal(shown.array, plain.array)  # placed, not resampled
