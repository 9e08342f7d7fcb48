"""Measure every vessel of a case against the facial nerve.

:class:`CaseMeasurer` keeps per-label bounding boxes (one ``find_objects`` scan,
then updated from the edited region only), gap results and the nerve
centreline between calls, so a live viewer can re-measure after each edit
without scanning the whole volume. :func:`measure_case` is the one-shot form.
All positions are patient LPS mm, lengths mm, angles degrees.
"""

from __future__ import annotations

import dataclasses
import hashlib
import logging
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, cast

import numpy as np
from scipy.spatial import cKDTree

from nvcview.errors import InputError
from nvcview.io.grids import grid_mismatch
from nvcview.io.image import Image
from nvcview.measure import geometry
from nvcview.measure.centreline import Centreline, derive_centreline
from nvcview.measure.coverage import nerve_coverage, uncovered_segments
from nvcview.measure.labelmap import LabelGrid, as_label_grid, label_boxes
from nvcview.measure.records import GRADES, SURFACE_METHODS, MeasureSettings, VesselMeasurement
from nvcview.measure.segments import classify_segment
from nvcview.measure.surface import (
    GAUSSIAN_MIN_SIGMA_VOX,
    GAUSSIAN_SIGMA_MM,
    GapResult,
    SurfaceCache,
    boundary_tree,
    gap_between_labels,
    image_on_grid,
    resolution_along,
    smoothing_sigma_vox,
)
from nvcview.measure.uncertainty import gap_interval, indentation_threshold_mm, resolution_limit_mm
from nvcview.structures import Structure, find_cn8, find_facial_nerve, vessels
from nvcview.types import Box

if TYPE_CHECKING:  # highdicom costs ~0.5 s to import: only type hints use it here
    import highdicom as hd

log = logging.getLogger(__name__)


def contact_threshold_mm(gap: GapResult, settings: MeasureSettings) -> float:
    """Gap (mm) up to which a pair is called contact: absolute, or voxels along the gap."""
    return resolution_limit_mm(gap.resolution_mm, settings)


def is_contact(gap: GapResult, settings: MeasureSettings) -> bool:
    """True when the gap's uncertainty interval under ``settings`` includes 0."""
    return (
        gap.touching or gap_interval(gap.gap_mm, gap.resolution_mm, False, settings).includes_zero
    )


class CaseMeasurer:
    """Cached measurement of all vessels of one case against the facial nerve.

    Parameters
    ----------
    labels : Image, highdicom.Volume or LabelGrid
        Integer label map, affine index -> LPS mm.
    structures : sequence of Structure
        Structure table; exactly one nerve with ``nerve == "VII"`` is required.
    landmarks : mapping, optional
        Name -> (3,) LPS mm; "RExP", "RDP" and optionally "IAC" are used.
    centreline : array-like, optional
        (N, 3) LPS mm facial nerve centreline from the RExP to the IAC. When
        omitted it is derived from the nerve label (and re-derived after edits).
    settings : MeasureSettings, optional
        Thresholds and the surface smoothing (``surface_sigma_mm``).
    surface_method : str, optional
        Overrides ``settings.surface_method``: "corrected" (default), "image-edge"
        (needs ``image``) or "gaussian" (the estimator before issue 18, which
        reads curved surfaces about 0.1 mm too far apart; kept for benchmarks).
    image : Image, highdicom.Volume or numpy.ndarray, optional
        The image the labels came from, on the label grid: the "image-edge" method
        places each surface from its intensities.

    Examples
    --------
    >>> m = CaseMeasurer(labels, structures, landmarks)        # doctest: +SKIP
    >>> records = m.measure()                                  # doctest: +SKIP
    >>> labels.array[edit_region] = new_values                 # doctest: +SKIP
    >>> m.update(region=edit_region); records = m.measure()    # doctest: +SKIP
    """

    def __init__(
        self,
        labels: Image | hd.Volume | LabelGrid,
        structures: Sequence[Structure],
        landmarks: Mapping[str, Sequence[float]] | None = None,
        centreline: np.ndarray | None = None,
        settings: MeasureSettings | None = None,
        *,
        surface_method: str | None = None,
        image: Image | hd.Volume | np.ndarray | None = None,
    ) -> None:
        self.grid = as_label_grid(labels)
        self.structures = list(structures)
        self.settings = settings or MeasureSettings()
        explicit = surface_method is not None
        if surface_method is None:
            surface_method = self.settings.surface_method
        if surface_method not in SURFACE_METHODS:
            raise InputError(f"surface method must be one of {SURFACE_METHODS}")
        if surface_method == "image-edge" and image is None:
            if explicit:
                raise InputError(
                    f"{self.grid.source}: surface method 'image-edge' needs the image the "
                    "labels came from (on the label grid); give it, or use 'corrected'"
                )
            # a review's setting, measured where no image is at hand: the labels alone,
            # and every gap's interval text says so (it names the estimator used)
            log.warning(
                "%s: surface method 'image-edge' needs the image the labels came from; "
                "measured from the labels alone ('corrected')",
                self.grid.source,
            )
            surface_method = "corrected"
        self.surface_method = surface_method
        self._interval_settings = dataclasses.replace(self.settings, surface_method=surface_method)
        self.image = None if image is None else image_on_grid(image, self.grid)
        if surface_method == "gaussian":  # the earlier estimator, as it was
            sig, minv = GAUSSIAN_SIGMA_MM, GAUSSIAN_MIN_SIGMA_VOX
        else:
            sig, minv = self.settings.surface_sigma_mm, self.settings.surface_min_sigma_vox
        self.sigma_vox = smoothing_sigma_vox(self.grid.spacing_mm, sig, minv)
        nerve = find_facial_nerve(self.structures)
        if nerve is None:
            raise InputError(
                f"{self.grid.source}: the structure table has no facial nerve "
                "(a structure with kind 'nerve' and nerve 'VII')"
            )
        self.nerve = nerve
        self.cn8 = find_cn8(self.structures)
        self.landmarks = _parse_landmarks(landmarks)
        self._given_centreline = _parse_centreline(centreline)
        self.boxes: dict[int, Box] = label_boxes(self.grid.array)
        #: label -> digest of its mask in its box: an edit region overlapping a box
        #: changes that label only when the digest changes
        self._prints: dict[int, bytes] = {lab: self._print(lab) for lab in self.boxes}
        #: vessel label -> its record before the case-level fields (multiplicity,
        #: coverage), kept until the vessel, the nerve, CN VIII or the landmarks change
        self._records: dict[int, VesselMeasurement] = {}
        self._gaps: dict[tuple[int, ...], GapResult] = {}
        #: boundary voxels, fields and meshes of unchanged structures, by digest
        self._surfaces = SurfaceCache(self._prints)
        self._derived: Centreline | None = None
        self._nerve_geometry: geometry.NerveGeometry | None = None
        self._coverage: dict[str, float] | None = None

    # ------------------------------------------------------------------ edits
    def update(
        self,
        labels: Image | hd.Volume | LabelGrid | None = None,
        region: Box | None = None,
    ) -> None:
        """Tell the measurer the label map changed.

        Parameters
        ----------
        labels : optional
            A new label map (same grid) replacing the array; when omitted the
            array passed at construction was edited in place.
        region : tuple of slice, optional
            Index-space box that holds every changed voxel. Only the labels seen
            in it (before or after) are re-boxed, scanning their old box and the
            region. Without a region, everything is recomputed (full scan).
        """
        if labels is not None:
            new = as_label_grid(labels)
            why = grid_mismatch(
                new.affine, new.array.shape, self.grid.affine, self.grid.array.shape
            )
            if why is not None:
                raise InputError(
                    f"{new.source}: label map grid differs from the measured one: {why}"
                )
            self.grid = new
        if region is None:
            self.boxes = label_boxes(self.grid.array)
            self._invalidate(None)
            self._prints.update({lab: self._print(lab) for lab in self.boxes})
            return
        region = cast(
            Box,
            tuple(
                slice(max(0, s.start or 0), min(n, n if s.stop is None else s.stop))
                for s, n in zip(region, self.grid.array.shape, strict=True)
            ),
        )
        seen = {int(v) for v in np.unique(self.grid.array[region]) if v != 0}
        for lab, box in self.boxes.items():
            if all(b.start < r.stop and r.start < b.stop for b, r in zip(box, region, strict=True)):
                seen.add(lab)
        changed = set()
        for lab in seen:
            scan = [region] + ([self.boxes[lab]] if lab in self.boxes else [])
            lo = np.min([[s.start for s in b] for b in scan], axis=0)
            hi = np.max([[s.stop for s in b] for b in scan], axis=0)
            win = tuple(slice(int(a), int(b)) for a, b in zip(lo, hi, strict=True))
            where = np.argwhere(self.grid.array[win] == lab)
            if len(where) == 0:
                if self.boxes.pop(lab, None) is not None:
                    changed.add(lab)
                self._prints.pop(lab, None)
                continue
            a = where.min(axis=0) + lo
            b = where.max(axis=0) + lo + 1
            box = cast(Box, tuple(slice(int(x), int(y)) for x, y in zip(a, b, strict=True)))
            old = self._prints.get(lab) if self.boxes.get(lab) == box else None
            self.boxes[lab] = box
            self._prints[lab] = digest = self._print(lab)
            if old is None or old != digest:
                changed.add(lab)
        self._invalidate(changed, region)

    def set_landmarks(self, landmarks: Mapping[str, Sequence[float]]) -> None:
        """Replace the landmarks (LPS mm)."""
        self.landmarks = _parse_landmarks(landmarks)
        self._derived = None
        self._nerve_geometry = None
        self._coverage = None
        self._records.clear()

    def set_centreline(self, centreline: np.ndarray | None) -> None:
        """Replace (or drop, with None) the reader's centreline (N, 3) LPS mm."""
        self._given_centreline = _parse_centreline(centreline)
        self._nerve_geometry = None
        self._coverage = None
        self._records.clear()

    def _print(self, label: int) -> bytes:
        """Digest of ``label``'s mask inside its current box."""
        mask = np.ascontiguousarray(self.grid.array[self.boxes[label]] == label)
        return hashlib.blake2b(np.packbits(mask).tobytes(), digest_size=16).digest()

    def _invalidate(self, changed: set[int] | None, region: Box | None = None) -> None:
        if changed is None:
            self._gaps.clear()
            self._surfaces.drop(None)
            self._prints.clear()
            self._records.clear()
            self._derived = None
            self._nerve_geometry = None
            self._coverage = None
            return
        self._surfaces.drop(changed)
        for lab in changed:
            self._records.pop(lab, None)
        for key in [k for k in self._gaps if k[0] in changed or k[1] in changed]:
            if region is None or not self._still_valid(key, changed, region):
                del self._gaps[key]
        cn8 = self.cn8.label if self.cn8 is not None else None
        if self.nerve.label in changed or cn8 in changed:
            self._records.clear()
        if self.nerve.label in changed:
            self._derived = None
            self._nerve_geometry = None
            self._coverage = None

    def _still_valid(self, key: tuple[int, ...], changed: set[int], region: Box) -> bool:
        """Whether an edit confined to ``region`` leaves a cached gap unchanged.

        True when the region misses the pair's fine-pass window and every voxel the
        edit left in it, of either label, is farther from the other label than the
        coarse reach: such voxels cannot come closer than the cached minimum.
        """
        g = self._gaps[key]
        if g.window is None or g.reach_mm is None or any(k not in self.boxes for k in key[:2]):
            return False
        if all(
            w.start < r.stop and r.start < w.stop for w, r in zip(g.window, region, strict=True)
        ):
            return False
        sub = self.grid.array[region]
        lo = np.array([r.start for r in region])
        for lab, other in ((key[0], key[1]), (key[1], key[0])):
            if lab not in changed:
                continue
            ijk = np.argwhere(sub == lab)
            if len(ijk) == 0:
                continue
            d, _ = self._boundary_tree(other).query(self.grid.to_lps(ijk + lo))
            if d.min() <= g.reach_mm:
                return False
        return True

    def _boundary_tree(self, label: int) -> cKDTree:
        return boundary_tree(self.grid, label, self.boxes[label], self._surfaces)[2]

    # ------------------------------------------------------------- measuring
    def gap(self, a: int, b: int, *, locate: bool = True) -> GapResult:
        """Cached :func:`~nvcview.measure.surface.surface_gap` between two labels.

        ``locate=False`` when only the value is needed (not where on the surfaces the
        contact lies): touching labels then cost no surface reconstruction.
        """
        key: tuple[int, ...] = (int(a), int(b)) if locate else (int(a), int(b), 0)
        if key not in self._gaps:
            self._gaps[key] = gap_between_labels(
                self.grid,
                key[0],
                key[1],
                self.boxes[key[0]],
                self.boxes[key[1]],
                self.sigma_vox,
                method=self.surface_method,
                locate=locate,
                cache=self._surfaces,
                image=self.image,
            ).with_interval(self._interval_settings)
        return self._gaps[key]

    def centreline(self) -> Centreline:
        """The reader's centreline, or one derived from the nerve label (cached)."""
        if self._given_centreline is not None:
            self._given_centreline = _oriented(self._given_centreline, self.landmarks)
            return self._given_centreline
        if self._derived is None:
            self._derived = derive_centreline(
                self.grid,
                self.nerve.label,
                self._nerve_box(),
                start_lps=self.landmarks.get("RExP"),
                end_lps=self.landmarks.get("IAC"),
            )
        return self._derived

    def nerve_geometry(self) -> geometry.NerveGeometry:
        """Cached surface and radius profile of the nerve around its centreline."""
        if self._nerve_geometry is None:
            # thickness profiles keep the least smoothing (half a voxel): a dent is a
            # concave detail that more smoothing would fill in
            sigma = smoothing_sigma_vox(
                self.grid.spacing_mm, 0.0, self.settings.surface_min_sigma_vox
            )
            self._nerve_geometry = geometry.NerveGeometry.build(
                self.grid, self.nerve.label, self._nerve_box(), self.centreline(), sigma
            )
        return self._nerve_geometry

    def nerve_coverage(self) -> dict[str, float]:
        """Fraction (0-1) of each nerve segment covered by the nerve label (cached).

        Measured along the reader's centreline when given; otherwise along the
        centreline derived from the label, extended by straight lines to the RExP
        and IAC landmarks when it stops short of them and with the RDP threaded in
        where it projects when the line misses it (the label cannot vouch for
        itself). Empty when there is no RExP
        landmark or no centreline (the check is not made).
        """
        if self._coverage is None:
            self._coverage = {}
            if "RExP" in self.landmarks and self.nerve.label in self.boxes:
                try:
                    line = self._coverage_line()
                except InputError as exc:
                    log.warning("nerve coverage not checked: %s", exc)
                else:
                    self._coverage = nerve_coverage(
                        self.grid,
                        self.nerve.label,
                        self.landmarks,
                        line,
                        self.settings,
                        box=self.boxes[self.nerve.label],
                    )
        return dict(self._coverage)

    def not_assessable_segments(self) -> list[str]:
        """Segments the nerve label covers too little to assess (``uncovered_segments``)."""
        return uncovered_segments(self.nerve_coverage())

    def _coverage_line(self) -> np.ndarray:
        cl = self.centreline()
        if self._given_centreline is not None:
            return cl.points
        reach = float(self.grid.spacing_mm.max() + 0.5)
        pts = cl.points
        lm = self.landmarks
        if np.linalg.norm(pts[0] - lm["RExP"]) > reach:
            pts = np.vstack([lm["RExP"], pts])
        if "IAC" in lm and np.linalg.norm(pts[-1] - lm["IAC"]) > reach:
            pts = np.vstack([pts, lm["IAC"]])
        if "RDP" in lm:  # off the line: thread it in where it projects
            line = Centreline(pts)
            s_rdp, _, dist = line.project(lm["RDP"][None])
            if float(dist[0]) > reach:
                i = int(np.searchsorted(line.cumulative, float(s_rdp[0])))
                pts = np.vstack([pts[:i], lm["RDP"], pts[i:]])
        return pts

    def _nerve_box(self) -> Box:
        if self.nerve.label not in self.boxes:
            raise InputError(
                f"{self.grid.source}: facial nerve label {self.nerve.label} "
                f"({self.nerve.name}) has no voxels (empty mask)"
            )
        return self.boxes[self.nerve.label]

    def measure(self, reader_grades: Mapping[int, str] | None = None) -> list[VesselMeasurement]:
        """Measure every vessel that has voxels; see :func:`measure_case`."""
        reader_grades = dict(reader_grades or {})
        for lab, g in reader_grades.items():
            if g is not None and g not in GRADES:
                raise InputError(f"reader grade {g!r} for vessel {lab} is not one of {GRADES}")
        self._nerve_box()
        records = []
        for v in vessels(self.structures):
            if v.label == self.nerve.label:
                raise InputError(
                    f"{self.grid.source}: vessel {v.name!r} and the facial nerve share "
                    f"label {v.label} (labels overlap)"
                )
            if v.label not in self.boxes:
                log.warning("vessel label %s (%s) has no voxels: not measured", v.label, v.name)
                continue
            if v.label not in self._records:
                self._records[v.label] = self._measure_vessel(v, None)
            rec = _copy_record(self._records[v.label])
            rec.reader_grade = reader_grades.get(v.label)
            records.append(rec)
        self._set_multiplicity(records)
        coverage = self.nerve_coverage()
        missing = uncovered_segments(coverage)
        for r in records:
            r.nerve_coverage = {k: round(v, 3) for k, v in coverage.items()}
            r.not_assessable_segments = list(missing)
            if r.segment is not None and r.segment in missing:
                r.notes.append(
                    f"the nerve label does not cover the {r.segment} segment: "
                    "the gap there is not assessable"
                )
        return records

    def _measure_vessel(self, v: Structure, reader_grade: str | None) -> VesselMeasurement:
        s = self.settings
        g = self.gap(self.nerve.label, v.label)
        contact = is_contact(g, s)
        rec = VesselMeasurement(
            vessel_label=v.label,
            vessel_name=v.name,
            vessel_type=v.vessel_type or "unknown",
            nerve_label=self.nerve.label,
            gap_mm=round(float(g.gap_mm), 3),
            nerve_point_lps=_xyz(g.point_a_lps),
            vessel_point_lps=_xyz(g.point_b_lps),
            resolution_mm=round(float(g.resolution_mm), 3),
            contact=bool(contact),
            near=bool(g.gap_mm <= s.near_mm),
            gap_low_mm=g.gap_low_mm,
            gap_high_mm=g.gap_high_mm,
            uncertainty_method=g.uncertainty_method,
            reader_grade=reader_grade,
        )
        self._locate(rec, g)
        self._shape(rec, v, g)
        rec.suggested_grade = suggest_grade(rec, s)
        if self.cn8 is not None and self.cn8.label in self.boxes:
            self._relate_cn8(rec, v, g)
        return rec

    def _locate(self, rec: VesselMeasurement, g: GapResult) -> None:
        try:
            cl = self.centreline()
        except InputError as exc:
            rec.notes.append(f"no centreline: {exc}")
            return
        s_contact = float(cl.project(np.asarray(g.patch_a_lps))[0][0])
        s_rexp = (
            float(cl.project(self.landmarks["RExP"])[0][0]) if "RExP" in self.landmarks else None
        )
        s_rdp = float(cl.project(self.landmarks["RDP"])[0][0]) if "RDP" in self.landmarks else None
        if s_rexp is not None:
            rec.arc_length_from_rexp_mm = round(s_contact - s_rexp, 3)
        else:
            rec.notes.append("no RExP landmark: arc length not measured")
        if s_rdp is not None:
            rec.dist_from_rdp_mm = round(s_contact - s_rdp, 3)
        else:
            rec.notes.append("no RDP landmark: distance from the RDP not measured")
        rec.segment = classify_segment(
            rec.arc_length_from_rexp_mm, rec.dist_from_rdp_mm, self.settings
        )

    def _shape(self, rec: VesselMeasurement, v: Structure, g: GapResult) -> None:
        """Angle, diameter and side for every vessel; indentation and deviation when near."""
        try:
            ng = self.nerve_geometry()
        except InputError as exc:
            rec.notes.append(f"nerve geometry not measured: {exc}")
            return
        vg = self._vessel_local(v.label, np.asarray(g.patch_b_lps, dtype=np.float64))
        s_contact = float(ng.centreline.project(np.asarray(g.patch_a_lps))[0][0])
        t_nerve = ng.centreline.tangent_at(s_contact)
        if vg.axis is not None:
            rec.crossing_angle_deg = round(geometry.crossing_angle_deg(t_nerve, vg.axis), 1)
        if vg.diameter_mm is not None:
            rec.vessel_diameter_mm = round(vg.diameter_mm, 2)
        toward = vg.centre - ng.centreline.point_at(s_contact)
        rec.side_of_nerve = geometry.side_of_nerve(t_nerve, toward)
        if not rec.near:  # the nerve's shape there says nothing about a distant vessel
            return
        st = self.settings
        course = ng.course(
            s_contact,
            toward,
            exclusion_mm=st.course_exclusion_mm,
            window_mm=st.course_window_mm,
        )
        if course is None:
            rec.notes.append("nerve course not measurable here: no indentation or deviation")
            return
        res_d = resolution_along(self.grid.linear, course.direction)
        rec.indentation_depth_mm = round(course.indentation_mm, 2)
        rec.deviation_mm = round(course.deviation_mm, 2)
        rec.indentation_threshold_mm = round(indentation_threshold_mm(res_d, st), 2)
        rec.deviation_threshold_mm = round(
            max(st.deviation_min_mm, st.deviation_min_vox * res_d), 2
        )

    def _relate_cn8(self, rec: VesselMeasurement, v: Structure, g7: GapResult) -> None:
        """Gap and relation of a vessel to CN VIII.

        Only vessels that may touch CN VIII get the sub-voxel surface gap: a lower
        bound from the two bounding boxes (mm) and then the voxel-level gap (nearest
        boundary voxel centres less one voxel along that direction) prefilter the
        rest, which keep that voxel-level estimate (good to about half a voxel),
        enough for "N mm from CN VIII".
        """
        assert self.cn8 is not None
        lb = box_gap_lower_bound_mm(self.grid, self.boxes[self.cn8.label], self.boxes[v.label])
        far = lb > self.settings.near_mm
        d: float | None = None
        if not far:  # boxes overlap or are close: the voxel-level gap decides
            d, p8, pv = self._coarse_gap(self.cn8.label, v.label)
            limit = resolution_limit_mm(resolution_along(self.grid.linear, pv - p8), self.settings)
            far = d > limit + 2 * float(self.grid.spacing_mm.max())
        if far:  # clearly apart: no contact call to make, a voxel-level distance is enough
            if d is None:  # (computed once: the same call gives the same value)
                d, _, _ = self._coarse_gap(self.cn8.label, v.label)
            rec.gap_to_cn8_mm = round(d, 1)
            rec.relation_to_cn8 = f"{d:.1f} mm from CN VIII"
            return
        g8 = self.gap(self.cn8.label, v.label, locate=False)
        rec.gap_to_cn8_mm = round(float(g8.gap_mm), 3)
        c8 = is_contact(g8, self.settings)
        if rec.contact and c8:
            between = geometry.segment_crosses_label(
                self.grid, g7.point_a_lps, g8.point_a_lps, v.label
            )
            rec.relation_to_cn8 = (
                "between CN VII and CN VIII" if between else "touches CN VII and CN VIII"
            )
        elif c8:
            rec.relation_to_cn8 = "touches CN VIII"
        else:
            rec.relation_to_cn8 = f"{g8.gap_mm:.1f} mm from CN VIII"

    def _vessel_local(self, label: int, point_lps: np.ndarray) -> geometry.VesselLocal:
        """:func:`geometry.vessel_local` of ``label`` at ``point_lps`` (LPS mm), kept while
        the vessel's voxels are unchanged (after a nerve edit an unchanged vessel's
        contact point usually is too: the same answer without rescanning its voxels)."""
        box = self.boxes[label]
        where = ("vessel_local", tuple((s.start, s.stop) for s in box), point_lps.tobytes())
        return cast(
            geometry.VesselLocal,
            self._surfaces.get(
                label, where, lambda: geometry.vessel_local(self.grid, label, box, point_lps)
            ),
        )

    def _boxes_apart(self, a: int, b: int) -> bool:
        """True when the bounding boxes alone prove labels ``a`` and ``b`` are not in
        contact: their lower-bound gap (mm) exceeds the contact limit for the coarsest
        voxel direction plus two voxels (room for the sub-voxel surface estimate)."""
        lb = box_gap_lower_bound_mm(self.grid, self.boxes[a], self.boxes[b])
        smax = float(np.linalg.svd(self.grid.linear, compute_uv=False).max())
        return lb > resolution_limit_mm(smax, self.settings) + 2 * smax

    def _coarse_gap(self, a: int, b: int) -> tuple[float, np.ndarray, np.ndarray]:
        """Voxel-level gap (mm) and the nearest boundary voxel centres (LPS mm)."""
        ta, tb = self._boundary_tree(a), self._boundary_tree(b)
        d, j = tb.query(ta.data)
        i = int(np.argmin(d))
        pa, pb = np.asarray(ta.data[i]), np.asarray(tb.data[int(j[i])])
        if d[i] <= 1e-9:
            return 0.0, pa, pb
        res = resolution_along(self.grid.linear, pb - pa)
        return max(0.0, float(d[i]) - res), pa, pb

    def _set_multiplicity(self, records: list[VesselMeasurement]) -> None:
        touching = [r for r in records if r.contact]
        if not touching:
            return
        value = "multiple" if len(touching) > 1 else "single"
        by_label = {v.label: v for v in vessels(self.structures)}
        for va in (r for r in records if r.vessel_type == "VA"):
            for other in touching:
                if other.vessel_label == va.vessel_label:
                    continue
                if self._boxes_apart(va.vessel_label, other.vessel_label):
                    continue  # cannot be in contact: no surface gap needed
                # contact or not is all the tandem call needs: the value, not where
                # on the surfaces it lies (the same gap; touching pairs cost no mesh)
                pair = self.gap(va.vessel_label, other.vessel_label, locate=False)
                if is_contact(pair, self.settings):
                    value = "tandem"
                    other.notes.append(f"tandem: pushed by {by_label[va.vessel_label].name} (VA)")
        for r in records:
            r.multiplicity = value


def _copy_record(rec: VesselMeasurement) -> VesselMeasurement:
    """An independent copy of a cached record (its lists and dict copied; the rest of
    its fields are immutable): a fraction of ``copy.deepcopy``'s cost."""
    return dataclasses.replace(
        rec,
        nerve_coverage=dict(rec.nerve_coverage),
        not_assessable_segments=list(rec.not_assessable_segments),
        notes=list(rec.notes),
    )


def _xyz(p: np.ndarray) -> tuple[float, float, float]:
    x, y, z = (float(v) for v in np.asarray(p).ravel()[:3])
    return x, y, z


def box_gap_lower_bound_mm(grid: LabelGrid, box_a: Box, box_b: Box) -> float:
    """A lower bound (mm) on the surface gap between two labels from their boxes.

    Per array axis, the number of voxel steps between the boxes (their voxel
    surfaces reach half a voxel beyond the centres); the index-space separation
    is mapped to mm with the smallest singular value of the index -> LPS matrix,
    so it holds on oblique and anisotropic grids.
    """
    steps = np.array(
        [
            max(0, max(a.start, b.start) - min(a.stop, b.stop))
            for a, b in zip(box_a, box_b, strict=True)
        ],
        dtype=np.float64,
    )
    smin = float(np.linalg.svd(grid.linear, compute_uv=False).min())
    return float(np.linalg.norm(steps)) * smin


def _parse_landmarks(landmarks: Mapping[str, Sequence[float]] | None) -> dict[str, np.ndarray]:
    """Landmarks as (3,) LPS mm arrays; unset ones (None or empty) are left out."""
    out = {}
    for name, value in (landmarks or {}).items():
        if value is None or len(value) == 0:
            continue
        arr = np.asarray(value, dtype=np.float64).ravel()
        if arr.shape != (3,) or not np.all(np.isfinite(arr)):
            raise InputError(
                f"landmark {name!r} must be 3 finite LPS coordinates (mm), got {value!r}"
            )
        out[name] = arr
    return out


def _parse_centreline(centreline: np.ndarray | None) -> Centreline | None:
    """A :class:`Centreline` from (N, 3) LPS mm, None when not given (None or empty)."""
    if centreline is None or len(centreline) == 0:
        return None
    return Centreline(np.asarray(centreline, dtype=np.float64))


def _oriented(cl: Centreline, landmarks: Mapping[str, np.ndarray]) -> Centreline:
    """The reader's centreline run RExP -> IAC: a curve drawn from the IAC is reversed.

    The end nearer the RExP landmark (or farther from the IAC one) is the start;
    without either landmark the curve is kept as given.
    """
    first, last = cl.points[0], cl.points[-1]
    if "RExP" in landmarks:
        ref = landmarks["RExP"]
        flip = np.linalg.norm(last - ref) < np.linalg.norm(first - ref)
    elif "IAC" in landmarks:
        ref = landmarks["IAC"]
        flip = np.linalg.norm(first - ref) < np.linalg.norm(last - ref)
    else:
        flip = False
    return Centreline(cl.points[::-1].copy()) if flip else cl


def suggest_grade(rec: VesselMeasurement, settings: MeasureSettings) -> str:
    """Suggested grade from the measurements (DOMAIN.md grading table).

    none: the gap's uncertainty interval excludes 0 (``rec.contact`` false);
    deviation: contact and the nerve displaced from its own fitted course by at
    least ``rec.deviation_threshold_mm`` (``deviation_min_mm``, at least
    ``deviation_min_vox`` voxels); indentation: contact and a loss of calibre
    against the fitted calibre of at least ``rec.indentation_threshold_mm``
    (``indentation_min_mm``, at least ``indentation_min_vox`` voxels along the
    vessel direction); else contact.
    """
    if not rec.contact:
        return "none"
    dev_min = rec.deviation_threshold_mm
    dev_min = settings.deviation_min_mm if dev_min is None else dev_min
    ind_min = rec.indentation_threshold_mm
    ind_min = settings.indentation_min_mm if ind_min is None else ind_min
    if rec.deviation_mm is not None and rec.deviation_mm >= dev_min:
        return "deviation"
    if rec.indentation_depth_mm is not None and rec.indentation_depth_mm >= ind_min:
        return "indentation"
    return "contact"


def measure_case(
    labels: Image | hd.Volume | LabelGrid,
    structures: Sequence[Structure],
    landmarks: Mapping[str, Sequence[float]] | None = None,
    centreline: np.ndarray | None = None,
    settings: MeasureSettings | None = None,
    reader_grades: Mapping[int, str] | None = None,
    *,
    image: Image | hd.Volume | np.ndarray | None = None,
) -> list[VesselMeasurement]:
    """Measure every vessel of a case against the facial nerve.

    Parameters
    ----------
    labels : Image or highdicom.Volume
        Integer label map; affine index -> LPS mm.
    structures : sequence of Structure
        Structure table (the facial nerve, optional CN VIII and brainstem, vessels).
    landmarks : mapping, optional
        "RExP", "RDP" (and "IAC") -> (3,) LPS mm.
    centreline : array-like, optional
        (N, 3) LPS mm, RExP -> IAC; derived from the nerve label when omitted.
    settings : MeasureSettings, optional
        Thresholds (contact, near, indentation, deviation, segment lengths).
    reader_grades : mapping, optional
        Vessel label -> the reader's grade; kept beside the suggested grade.
    image : Image, highdicom.Volume or numpy.ndarray, optional
        The series the labels lie on, for ``settings.surface_method`` "image-edge"
        (see :class:`CaseMeasurer`); the other methods ignore it.

    Returns
    -------
    list of VesselMeasurement
        One per vessel with voxels, in label order.
    """
    m = CaseMeasurer(labels, structures, landmarks, centreline, settings, image=image)
    return m.measure(reader_grades)
