"""Role guesses from vendor series descriptions and sequence names."""

from __future__ import annotations

import pytest

from nvcview.io.discovery import FrameRecord
from nvcview.io.roles import guess_role


@pytest.mark.parametrize(
    "description, sequence, extra, role",
    [
        ("T2 CISS 3D CPA", "*ci3d1", {}, "T2"),
        ("t2_space_cor_iso", "*spc_314ns", {}, "T2"),
        ("FIESTA-C AX IAC", "", {}, "T2"),
        ("sT2W_3D_DRIVE", "", {}, "T2"),
        ("3D bFFE", "", {}, "T2"),
        ("CUBE T2 IAC", "", {}, "T2"),
        ("TOF_3D_multi-slab", "*fl3d1r_t70", {}, "TOF"),
        ("Ax 3D TOF", "", {}, "TOF"),
        ("MRA COW", "", {}, "TOF"),
        ("some series", "", {"angio_flag": "Y"}, "TOF"),
        ("t1_mprage_sag_p2_iso", "*tfl3d1_16ns", {}, "T1"),
        ("AX T1 +C", "", {}, "T1"),
        ("T1W_3D_TFE post", "", {}, "T1"),
        ("BRAVO", "", {}, "T1"),
        ("vibe", "*fl3d1", {}, "T1"),
        ("anything", "", {"contrast_agent": "Gadovist"}, "T1"),
        ("t2_tse_tra", "*tse2-9", {}, "other"),
        ("localizer", "*fl2d1", {}, "other"),
        ("ep2d_diff", "*ep_b1000t", {}, "other"),
        ("T2 CISS 3D CPA", "*ci3d1", {"modality": "CT"}, "other"),
    ],
)
def test_guess_role(description, sequence, extra, role):
    extra = dict(extra)
    rec = FrameRecord(
        path="x.dcm",
        modality=extra.pop("modality", "MR"),
        series_description=description,
        sequence_name=sequence,
        **extra,
    )
    assert guess_role(rec) == role


@pytest.mark.parametrize(
    "name, role",
    [
        ("t2.nii.gz", "T2"),
        ("sub-01_T2w.nii.gz", "T2"),
        ("ciss_cpa.nii", "T2"),
        ("tof.nii.gz", "TOF"),
        ("sub-01_angio.nii.gz", "TOF"),
        ("T1_post_gd.nii.gz", "T1"),
        ("dwi.nii.gz", "other"),
    ],
)
def test_guess_role_from_file_name(name, role):
    from nvcview.io.roles import guess_role_from_name

    assert guess_role_from_name(name) == role
