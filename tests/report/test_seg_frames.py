"""Label map -> SEG frames: direct gather on the source grid equals world resampling."""

from __future__ import annotations

import numpy as np

from nvcview.io.image import Image, make_volume
from nvcview.report.keyimages import sample_world
from nvcview.report.seg import find_series_files, frame_geometries, label_frames


def test_label_frames_on_grid_and_off_grid(synth_case):
    review = synth_case["review"]
    sources = find_series_files(review.series[0].path, review.series[0].series_uid)
    labels = synth_case["labels"]
    direct = label_frames(labels, sources)
    world = np.stack(
        [
            np.nan_to_num(sample_world(labels, g.pixel_centres(), order=0), nan=0)
            for ds in sources
            for g in frame_geometries(ds)
        ]
    ).astype(np.int64)
    assert direct.shape == (len(sources), int(sources[0].Rows), int(sources[0].Columns))
    assert np.array_equal(direct, world) and (direct == 3).sum() > 20
    # a label map on a grid shifted by 0.6 voxel takes the resampling path
    aff = labels.affine.copy()
    aff[:3, 3] += 0.6 * 0.5
    shifted = Image(make_volume(labels.array, aff))
    moved = label_frames(shifted, sources)
    assert not np.array_equal(moved, direct)
    assert abs(int((moved == 2).sum()) - int((direct == 2).sum())) < 0.2 * (direct == 2).sum()
