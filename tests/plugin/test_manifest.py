"""npe2 manifest, reader and writer contributions (no viewer needed)."""

from __future__ import annotations

import subprocess
import sys

import numpy as np
from napari_nvcview._reader import napari_get_reader
from napari_nvcview._writer import write_labels
from napari_nvcview.layers import image_layer, labels_layer

from nvcview.display import lps_to_world
from nvcview.io.image import index_to_lps
from nvcview.io.nifti import read_nifti


def test_npe2_validate():
    res = subprocess.run(
        [sys.executable, "-m", "npe2", "validate", "nvcview"], capture_output=True, text=True
    )
    assert res.returncode == 0, res.stdout + res.stderr
    assert "valid" in res.stdout.lower()


def test_manifest_declares_reader_writer_samples_widget():
    from npe2 import PluginManifest

    pm = PluginManifest.from_distribution("nvcview")
    c = pm.contributions
    assert {s.key for s in c.sample_data} == {"phantom", "phantom_blank"}
    assert [w.command for w in c.widgets] == ["nvcview.review_widget"]
    assert c.readers[0].accepts_directories
    assert [w.command for w in c.writers] == ["nvcview.write_labels", "nvcview.write_review"]
    assert all(w.layer_types == ["labels"] for w in c.writers)


def test_reader_claims_only_what_it_can_open(tmp_path, sample_study):
    paths, _ = sample_study
    assert napari_get_reader(str(paths.nifti_t2)) is not None
    assert napari_get_reader(str(paths.t2_files[0])) is not None
    assert napari_get_reader(str(paths.out_dir)) is not None
    (tmp_path / "notes.txt").write_text("hello")
    assert napari_get_reader(str(tmp_path / "notes.txt")) is None
    assert napari_get_reader(str(tmp_path)) is None  # a folder without images


def test_reader_places_nifti_and_dicom_identically(sample_study):
    """The same series read from NIfTI (RAS) and DICOM lands at the same world position."""
    paths, _ = sample_study
    read = napari_get_reader(str(paths.nifti_t2))
    (d_nii, kw_nii, kind) = read(str(paths.nifti_t2))[0]
    assert kind == "image"
    (d_dcm, kw_dcm, _), _tof = napari_get_reader(str(paths.out_dir))(str(paths.out_dir))
    assert np.allclose(kw_nii["scale"], kw_dcm["scale"])
    assert np.allclose(kw_nii["translate"], kw_dcm["translate"], atol=1e-4)
    assert np.allclose(np.asarray(d_nii, float), np.asarray(d_dcm, float))


def test_reader_opens_metaimage_and_nrrd_where_dicom_lies(tmp_path, sample_study):
    """A researcher's .mha / .nrrd of the T2 opens through File > Open at the DICOM's place."""
    import SimpleITK as sitk

    paths, _ = sample_study
    (d_dcm, kw_dcm, _), _tof = napari_get_reader(str(paths.out_dir))(str(paths.out_dir))
    img = sitk.ReadImage(str(paths.nifti_t2))  # ITK converts the NIfTI's RAS to LPS
    for suffix in (".mha", ".nrrd"):
        f = tmp_path / f"t2{suffix}"
        sitk.WriteImage(img, str(f))
        read = napari_get_reader(str(f))
        assert read is not None, suffix
        (d, kw, kind) = read(str(f))[0]
        assert kind == "image"
        assert np.allclose(kw["scale"], kw_dcm["scale"])
        assert np.allclose(kw["translate"], kw_dcm["translate"], atol=1e-3)
        assert np.allclose(np.asarray(d, float), np.asarray(d_dcm, float))


def test_tof_overlays_t2_in_world(sample_study):
    """Truth AICA voxels (T2 grid) and bright TOF voxels near them coincide in world mm."""
    from nvcview.case import open_study

    paths, truth = sample_study
    s = open_study(paths.review_dir)
    aica = next(v for v in truth["vessels"] if v["vessel_type"] == "AICA")
    (lab, kw_lab, _) = labels_layer(s.labels, s.reference.affine, s.structures)
    (tof, kw_tof, _) = image_layer(s.tof, "TOF")
    world_lab = np.argwhere(lab == aica["label"]) * kw_lab["scale"] + kw_lab["translate"]
    centre = lps_to_world(np.asarray(aica["vessel_axis_point_lps"]))
    near = np.linalg.norm(world_lab - centre, axis=1) < 2.0
    # TOF voxels within 2 mm of the same point that are bright (vessel)
    idx = np.argwhere(tof > np.percentile(tof, 99.5))
    world_tof = idx * kw_tof["scale"] + kw_tof["translate"]
    near_tof = np.linalg.norm(world_tof - centre, axis=1) < 2.0
    c_lab = world_lab[near].mean(axis=0)
    c_tof = world_tof[near_tof].mean(axis=0)
    assert np.linalg.norm(c_lab - c_tof) < 0.3


def test_writer_round_trips_labels_to_their_grid(tmp_path, sample_study):
    from nvcview.case import open_study

    paths, _ = sample_study
    s = open_study(paths.review_dir)
    data, kw, _ = labels_layer(s.labels, s.reference.affine, s.structures)
    out = write_labels(str(tmp_path / "labels.nii.gz"), data, kw)
    back = read_nifti(out[0])
    assert np.array_equal(back.array, s.labels)
    assert np.allclose(back.affine, s.reference.affine, atol=1e-5)
    # a labels layer made elsewhere (plain scale/translate) is written on its display grid
    plain = {"scale": kw["scale"], "translate": kw["translate"], "metadata": {}}
    out2 = write_labels(str(tmp_path / "plain.nii.gz"), np.asarray(data), plain)
    back2 = read_nifti(out2[0])
    ijk = np.argwhere(back2.array == 2)[0]
    world = index_to_lps(back2.affine, ijk)[::-1]
    assert data[tuple(np.round((world - kw["translate"]) / kw["scale"]).astype(int))] == 2


def test_review_writer_saves_the_layers_review(tmp_path, sample_study):
    import pytest
    from napari_nvcview._writer import write_review

    from nvcview.case import open_study
    from nvcview.errors import InputError
    from nvcview.review.store import load_labels, load_review

    paths, _ = sample_study
    s = open_study(paths.review_dir)
    data, kw, _ = labels_layer(
        s.labels, s.reference.affine, s.structures, extra_meta={"session": s}
    )
    data = np.array(data)
    data[data == 6] = 0  # the reader erased the AICA in the viewer
    out = write_review(str(tmp_path / "rev"), data, kw)
    r = load_review(out[0])
    assert [x.label for x in r.structures] == [x.label for x in s.structures]
    saved = load_labels(r, out[0]).array
    assert not (saved == 6).any() and (saved == 2).any()
    with pytest.raises(InputError, match="no nvcview review"):
        write_review(str(tmp_path / "x"), data, {"metadata": {}})


def test_plugin_uses_no_private_napari_attribute():
    """`Window._qt_window` and friends go away in napari 0.10: public API only."""
    import re
    from pathlib import Path

    import napari_nvcview

    pattern = re.compile(r"\.(_qt_window|_qt_viewer|_canvas_overlay|_overlays)\b")
    for path in Path(napari_nvcview.__file__).parent.glob("*.py"):
        hits = [line for line in path.read_text().splitlines() if pattern.search(line)]
        assert not hits, (path.name, hits)
