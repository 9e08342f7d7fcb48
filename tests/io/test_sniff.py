"""File sniffing: which paths open, and every loadable volume of a folder with its role."""

from __future__ import annotations

import pytest

from nvcview.io.sniff import is_dicom_file, is_image_path, load_images


def _dicom_factory():
    import importlib.util
    import sys
    from pathlib import Path

    path = Path(__file__).parent / "dicom_factory.py"
    spec = importlib.util.spec_from_file_location("nvc_dicom_factory", path)
    mod = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = mod  # dataclasses look their module up there
    spec.loader.exec_module(mod)
    return mod


def test_load_images_skips_2d_images_beside_a_volume(tmp_path):

    factory = _dicom_factory()
    t2 = factory.write_series(tmp_path / "t2", description="T2 CISS 3D", prefix="T2_")
    factory.write_series(
        tmp_path / "sc", description="key image", shape=(1, 10, 10), series_number=9, seed=2
    )
    loaded = load_images(tmp_path)
    assert len(loaded) == 1
    role, img = loaded[0]
    assert img.meta.series_uid == t2.series_uid
    assert img.array.shape[0] == 12


def test_load_images_with_only_2d_images_says_why(tmp_path):
    from nvcview.errors import InputError

    factory = _dicom_factory()
    factory.write_series(tmp_path / "sc", description="key image", shape=(1, 10, 10))
    with pytest.raises(InputError, match="no loadable 3D volume"):
        load_images(tmp_path)


def test_sniffing_names_what_nvcview_opens(tmp_path):
    factory = _dicom_factory()
    factory.write_series(tmp_path / "t2", description="T2 CISS 3D", prefix="T2_")
    first = sorted((tmp_path / "t2").iterdir())[0]
    assert is_dicom_file(first)
    assert is_image_path(tmp_path) and is_image_path(first)
    (tmp_path / "notes.txt").write_text("not an image")
    assert not is_dicom_file(tmp_path / "notes.txt")
    assert not is_image_path(tmp_path / "notes.txt")
    empty = tmp_path / "empty"
    empty.mkdir()
    assert not is_image_path(empty)
