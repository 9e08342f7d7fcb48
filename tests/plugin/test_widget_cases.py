"""One case at a time: opening another study closes the first one's layers."""

from __future__ import annotations

import pytest
from napari.layers import Image as ImageLayer
from napari.layers import Labels, Points
from napari_nvcview._widget import ReviewWidget
from napari_nvcview.layers import LABELS_NAME, LANDMARKS_NAME


@pytest.fixture(scope="module")
def second_study(tmp_path_factory):
    """Another patient's study (seed 1: other UIDs, patient, frame of reference)."""
    from nvcview_sample import write_sample

    return write_sample(tmp_path_factory.mktemp("patient2"), seed=1, gap_mm=0.5)


def _images(viewer) -> list:
    return [lyr for lyr in viewer.layers if isinstance(lyr, ImageLayer)]


@pytest.mark.gui
def test_second_study_replaces_the_first(make_napari_viewer, qtbot, sample_study, second_study):
    paths, _ = sample_study
    viewer = make_napari_viewer()
    widget = ReviewWidget(viewer)
    viewer.window.add_dock_widget(widget)
    first = widget.open_path(paths.review_dir)
    assert first is not None and first.review.landmarks, widget.last_error
    assert widget.open_path(second_study.t2_dir.parent) is not None, widget.last_error
    second = widget.session
    assert second is not first
    images = [lyr.metadata["nvcview"]["image"] for lyr in _images(viewer)]
    # only the new patient's T2 and TOF are on screen
    assert len(images) == 2 and all(img in (second.t2, second.tof) for img in images)
    # the labels layer is the new case's, on top of its images; no old landmarks drawn
    labels = viewer.layers[LABELS_NAME]
    assert labels.metadata["nvcview"]["session"] is second and labels.visible
    assert viewer.layers.index(labels) > max(viewer.layers.index(lyr) for lyr in _images(viewer))
    assert not labels.data.any()
    assert len(viewer.layers[LANDMARKS_NAME].data) == 0
    assert [lyr for lyr in viewer.layers if isinstance(lyr, Labels)] == [labels]
    assert len([lyr for lyr in viewer.layers if isinstance(lyr, Points)]) == 2
    qtbot.waitUntil(lambda: widget.idle, timeout=120_000)


@pytest.mark.gui
def test_second_study_through_file_open_replaces_the_first(
    make_napari_viewer, qtbot, sample_study, second_study
):
    paths, _ = sample_study
    viewer = make_napari_viewer()
    widget = ReviewWidget(viewer)
    viewer.window.add_dock_widget(widget)
    viewer.open(str(paths.review_dir), plugin="nvcview")
    first = widget.session
    viewer.open(str(second_study.t2_dir.parent), plugin="nvcview")  # File > Open Folder
    assert widget.session is not first
    images = [lyr.metadata["nvcview"]["image"] for lyr in _images(viewer)]
    assert {img.meta.series_uid for img in images} == {
        img.meta.series_uid for img in (widget.session.t2, widget.session.tof)
    }
    assert not viewer.layers[LABELS_NAME].data.any()
    assert len(viewer.layers[LANDMARKS_NAME].data) == 0
    qtbot.waitUntil(lambda: widget.idle, timeout=120_000)


@pytest.mark.gui
def test_sample_opened_twice_shows_one_case(make_napari_viewer, qtbot):
    viewer = make_napari_viewer()
    widget = ReviewWidget(viewer)
    viewer.window.add_dock_widget(widget)
    viewer.open_sample("nvcview", "phantom")
    first = widget.session
    viewer.open_sample("nvcview", "phantom")  # File > Open Sample, again
    assert widget.session is not first
    assert len(_images(viewer)) == 2
    assert len([lyr for lyr in viewer.layers if isinstance(lyr, Labels)]) == 1
    assert viewer.layers[LABELS_NAME].metadata["nvcview"]["session"] is widget.session
    qtbot.waitUntil(lambda: widget.idle, timeout=120_000)


@pytest.mark.gui
def test_label_map_shifted_by_header_rounding_opens(make_napari_viewer, qtbot, sample_study):
    """A label map 0.003 mm off the T2 grid (what `nvcview measure` accepts) opens too."""
    import shutil

    import nibabel as nib
    import numpy as np

    paths, _ = sample_study
    folder = paths.review_dir.parent / "review_shift_viewer"
    shutil.rmtree(folder, ignore_errors=True)
    shutil.copytree(paths.review_dir, folder)
    img = nib.load(folder / "labels.nii.gz")
    aff = img.affine.copy()
    aff[0, 3] += 0.003
    nib.save(nib.Nifti1Image(np.asarray(img.dataobj), aff, img.header), folder / "labels.nii.gz")
    viewer = make_napari_viewer()
    widget = ReviewWidget(viewer)
    viewer.window.add_dock_widget(widget)
    session = widget.open_path(folder)
    assert session is not None, widget.last_error
    assert viewer.layers[LABELS_NAME].data.any() and widget.measurements
    qtbot.waitUntil(lambda: widget.idle, timeout=120_000)
