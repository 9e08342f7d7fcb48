"""SEG and SR from an enhanced (multi-frame) T2 source, as modern scanners write."""

from __future__ import annotations

import dataclasses
import subprocess
from pathlib import Path

import highdicom as hd
import numpy as np
import pydicom
from pydicom.uid import generate_uid

from nvcview.report import write_reports
from nvcview.report.seg import find_series_files, label_frames
from nvcview.review.model import SeriesRef
from nvcview.review.store import load_labels


def test_seg_and_sr_on_an_enhanced_mr_source(synth_case, tmp_path):
    review = synth_case["review"]
    legacy = [pydicom.dcmread(f) for f in sorted(Path(review.series[0].path).glob("*.dcm"))]
    series_uid = generate_uid()
    enhanced = hd.legacy.LegacyConvertedEnhancedMRImage(
        legacy,
        series_instance_uid=series_uid,
        series_number=30,
        sop_instance_uid=generate_uid(),
        instance_number=1,
    )
    src_dir = tmp_path / "t2mf"
    src_dir.mkdir()
    enhanced.save_as(src_dir / "t2.dcm")
    review = dataclasses.replace(
        review,
        series=[SeriesRef(series_uid, "T2", str(src_dir), "3D CISS enhanced", "CISS")],
        reference_series_uid=series_uid,
    )
    written = write_reports(review, synth_case["folder"], tmp_path / "out", formats=("sr",))
    assert set(written) == {"seg", "sr"}  # the SR's SEG comes with it
    for p in written.values():
        res = subprocess.run(["dciodvfy", str(p)], capture_output=True, text=True)
        assert not [x for x in (res.stdout + res.stderr).splitlines() if x.startswith("Error")]
    assert subprocess.run(["dsrdump", str(written["sr"])], capture_output=True).returncode == 0
    seg = hd.seg.segread(written["seg"])
    sources = find_series_files(src_dir, series_uid)
    assert len(sources) == 1 and int(sources[0].NumberOfFrames) == len(legacy)
    expected = label_frames(load_labels(review, synth_case["folder"]), sources)
    got = seg.get_pixels_by_source_frame(
        source_sop_instance_uid=sources[0].SOPInstanceUID,
        source_frame_numbers=list(range(1, len(legacy) + 1)),
        combine_segments=True,
        skip_overlap_checks=True,
    )
    assert np.array_equal(got, expected) and (expected == 3).any()
    sr = hd.sr.srread(written["sr"])
    group = sr.content.get_volumetric_roi_measurement_groups()[0]
    gap = group.get_measurements(name=hd.sr.CodedConcept("121206", "DCM", "Distance"))[0]
    ref = gap.referenced_images[0]
    assert ref.referenced_sop_instance_uid == sources[0].SOPInstanceUID
    assert ref.referenced_frame_numbers  # the frame nearest the contact
