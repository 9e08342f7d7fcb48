"""Opening a study folder or a review reads each DICOM header once, and loads what
``nvcview.load`` of each series would load."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from nvcview.case import open_study
from nvcview.io import load


def _dicom_files(paths) -> set[str]:
    return {str(Path(f).resolve()) for f in [*paths.t2_files, *paths.tof_files]}


def test_open_study_folder_reads_each_header_once(sample_study, header_reads):
    paths, _ = sample_study
    session = open_study(paths.out_dir)  # the study folder: T2/, TOF/, NIfTI, review
    assert session.t2 is not None and session.tof is not None
    files = _dicom_files(paths)
    assert len(files) == session.t2.array.shape[0] + session.tof.array.shape[0]
    assert files <= set(header_reads)  # the NIfTI and JSON files are looked at too
    assert max(header_reads.values()) == 1, header_reads.most_common(3)


def test_open_review_folder_reads_each_header_once(sample_study, header_reads):
    paths, _ = sample_study
    session = open_study(paths.review_dir)
    assert session.t2 is not None and session.tof is not None and session.labels is not None
    assert set(header_reads) == _dicom_files(paths)
    assert max(header_reads.values()) == 1, header_reads.most_common(3)


def _dicom_factory():
    import importlib.util
    import sys

    path = Path(__file__).parents[1] / "io" / "dicom_factory.py"
    spec = importlib.util.spec_from_file_location("nvc_dicom_factory", path)
    mod = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = mod  # dataclasses look their module up there
    spec.loader.exec_module(mod)
    return mod


def test_open_study_loads_what_load_of_each_series_gives(tmp_path, header_reads):
    factory = _dicom_factory()
    study = tmp_path / "study"
    origin = np.array([-20.5, -30.25, 10.0])
    t2 = factory.write_series(study / "t2", description="T2 CISS 3D", origin=tuple(origin))
    for_uid = factory.read_dataset(t2.paths[0]).FrameOfReferenceUID
    step = t2.affine[:3, 0]  # one slice along the normal, mm
    # images on the T2's grid just past either end, with another matrix: the one in the
    # T2's folder is warned about (as load of that folder warns), the one in a sibling
    # folder is not (load of the T2 folder never sees it)
    factory.write_series(
        study / "t2", shape=(1, 10, 8), origin=tuple(origin + 12 * step), for_uid=for_uid,
        prefix="X", series_number=7, seed=3,
    )  # fmt: skip
    factory.write_series(
        study / "extra", shape=(1, 10, 8), origin=tuple(origin - step), for_uid=for_uid,
        prefix="Y", series_number=8, seed=4,
    )  # fmt: skip
    factory.write_series(
        study / "tof", shape=(14, 24, 20), spacing=(0.6, 0.3, 0.3), tilt_deg=(3, 0, 0),
        description="TOF fl3d", sequence_name="*fl3d1r", series_number=6, seed=1,
    )  # fmt: skip
    # a damaged file in the T2 folder and one in a sibling folder: each volume names only
    # those of its own folder, as load() of that folder does
    for folder, prefix in ((study / "t2", "Z"), (study / "extra", "W")):
        bad = factory.write_series(folder, shape=(1, 6, 6), prefix=prefix).paths[0]
        bad.write_bytes(bad.read_bytes().replace(b"\x08\x00\x18\x00UI", b"\x08\x00\x18\x00UY", 1))
    session = open_study(study)
    files = {str(f.resolve()) for f in study.rglob("*.dcm")}
    assert set(header_reads) == files and max(header_reads.values()) == 1
    for img, folder in ((session.t2, study / "t2"), (session.tof, study / "tof")):
        assert img is not None
        alone = load(folder, series_uid=img.meta.volume_id)
        assert np.array_equal(img.array, alone.array)
        assert np.allclose(img.affine, alone.affine)
        assert img.meta == alone.meta
        assert img.patient == alone.patient
    assert session.t2.meta.series_uid == t2.series_uid
    assert np.array_equal(session.t2.array, t2.stored)
    ends = [w for w in session.t2.meta.warnings if "missing an end slice" in w]
    assert len(ends) == 1 and "after the last" in ends[0]
    assert not any("missing an end slice" in w for w in session.tof.meta.warnings)
    unreadable = [w for w in session.t2.meta.warnings if "unreadable" in w]
    assert unreadable == ["unreadable file(s) skipped in this folder: Z0001.dcm"]
    assert not any("unreadable" in w for w in session.tof.meta.warnings)
