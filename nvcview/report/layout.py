"""The printed layout of a report: one list of blocks rendered by both HTML and PDF.

:func:`report_blocks` turns a :class:`~nvcview.report.content.ReportModel` into
headings, key-value tables, tables, paragraphs and figures whose every word is
decided here, so the HTML (:mod:`.html`) and the PDF (:mod:`.pdf`) cannot differ
in columns, wording or order: each renderer only styles the blocks.

To add a vessel table column (as the gap uncertainty interval from
``gap_low_mm`` / ``gap_high_mm``), add one :class:`Column` to :data:`COLUMNS`.
Key image slots are added in :mod:`.keyimages` (``IMAGE_SLOTS``); every image
of the model is placed here in its side's figure block.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

from nvcview.report import formatting as fmt
from nvcview.report.content import GRADE_SCALE_NAME, KeyImage, ReportModel, SideSection

TITLE = "Neurovascular conflict of the facial nerve: MRI report"

#: Landmark abbreviations spelled out wherever they are listed.
LANDMARK_NAMES = {
    "RExP": "root exit point (RExP)",
    "RDP": "root detachment point (RDP)",
    "IAC": "internal auditory canal (IAC)",
}


@dataclass(frozen=True)
class Column:
    """One column of the vessel table.

    Attributes
    ----------
    key : str
        Stable identifier (HTML class, tests).
    heading : str
        Column heading, identical in HTML and PDF.
    cell : callable
        Vessel row (dict of :mod:`.content`) -> cell text.
    width : float
        Relative width in the PDF (the HTML lets the browser size columns).
    """

    key: str
    heading: str
    cell: Callable[[dict], str]
    width: float


#: The vessel table, left to right (one place for HTML and PDF).
COLUMNS: tuple[Column, ...] = (
    Column("vessel", "Vessel", lambda r: r["vessel_label_text"], 26),
    Column("gap", "Gap", fmt.gap, 19),
    Column("gap_interval", "Gap interval", fmt.gap_interval, 15),
    Column("segment", "Segment", lambda r: fmt.text(r.get("segment_name")), 24),
    Column("rdp", "From RDP", lambda r: fmt.rdp(r.get("dist_from_rdp_mm")), 15),
    Column("grade", "Grade", fmt.grade, 19),
    Column("indentation", "Indentation", fmt.indentation, 14),
    Column("crossing", "Crossing angle", lambda r: fmt.deg(r.get("crossing_angle_deg")), 13),
    Column("side", "Side of nerve", lambda r: fmt.text(r.get("side_of_nerve")), 15),
    Column("diameter", "Diameter", lambda r: fmt.mm(r.get("vessel_diameter_mm")), 13),
    Column("cn8", "CN VIII", lambda r: fmt.text(r.get("relation_to_cn8")), 17),
    Column("multiplicity", "Single / multiple", lambda r: fmt.text(r.get("multiplicity")), 14),
    Column("confidence", "Confidence", lambda r: fmt.text(r.get("confidence")), 14),
)


@dataclass
class Block:
    """One block of the report.

    ``kind`` is one of "title", "alert", "keyvalue", "h2", "conclusion", "para",
    "note", "table", "bullets", "figures". ``text`` is the text of headings and
    paragraphs; ``rows`` the cells of tables (list of lists of str, first row
    the headings for "table"); ``items`` the bullet texts; ``images`` the key
    images of a "figures" block with ``captions``.
    """

    kind: str
    text: str = ""
    rows: list[list[str]] = field(default_factory=list)
    items: list[str] = field(default_factory=list)
    images: list[KeyImage] = field(default_factory=list)
    captions: list[str] = field(default_factory=list)
    #: table id (HTML) and, per body row, a swatch colour and HTML data attributes
    id: str = ""
    colors: list[str | None] = field(default_factory=list)
    attrs: list[dict[str, str]] = field(default_factory=list)
    widths: list[float] = field(default_factory=list)


def _header_rows(model: ReportModel) -> list[list[str]]:
    h = model.header
    case = h["case"] + (" (de-identified)" if h["deidentified"] else "")
    rows = [["Case", case]]
    p = h.get("patient")
    if p:
        parts = [fmt.person_name(p["name"]), f"ID {p['id']}", f"born {fmt.date(p['birth_date'])}"]
        if p.get("sex"):
            parts.append({"F": "female", "M": "male", "O": "other"}.get(p["sex"], p["sex"]))
        rows.append(["Patient", " · ".join(parts)])
        rows.append(
            [
                "Accession · study date",
                f"{fmt.text(p['accession_number'])} · {fmt.date(p['study_date'])}",
            ]
        )
    series = []
    for s in model.series:
        number = f"series {s['series_number']}, " if s.get("series_number") else ""
        series.append(
            f"{s['role']}: {number}{fmt.text(s['description'])} ({fmt.text(s['sequence'])}), "
            f"voxel {fmt.voxel(s['voxel_size_mm'])}"
        )
    rows += [
        ["Side of symptoms", fmt.text(h["side"])],
        ["Series", "\n".join(series) or fmt.DASH],
        ["T2 + TOF fusion", "yes" if h["fusion_used"] else "no"],
    ]
    regs = h.get("registrations") or []
    if regs:
        rows.append(["Registration", "\n".join(r["text"] for r in regs)])
        warnings = [f"{r['moving_role']}: {w}" for r in regs for w in r["warnings"]]
        if warnings:
            rows.append(["Registration warnings", "\n".join(warnings)])
    rows += [
        ["Vertebral artery dominance", fmt.text(h.get("va_dominance"))],
        ["Reader · status", f"{fmt.text(h['reader'])} · {h['status']}"],
        [
            "Review date · report generated",
            f"{fmt.datetime(h.get('review_modified'))} · {fmt.datetime(h['generated'])}",
        ],
        ["Software", f"nvcview {h['software_version']}"],
    ]
    return rows


def vessel_table(side: SideSection, table_id: str) -> Block:
    """The vessel table of one side (columns :data:`COLUMNS`)."""
    near = side.near_vessels()
    rows = [[c.heading for c in COLUMNS]]
    rows += [[c.cell(v) for c in COLUMNS] for v in near]
    return Block(
        "table",
        rows=rows,
        id=table_id,
        colors=[v["color"] for v in near],
        attrs=[
            {
                "label": str(v["vessel_label"]),
                "gap-mm": str(v["gap_mm"]),
                "dist-from-rdp-mm": str(v.get("dist_from_rdp_mm")),
                "grade": str(v["grade"]),
            }
            for v in near
        ],
        widths=[c.width for c in COLUMNS],
    )


def _landmark_text(landmarks: dict[str, list[float]]) -> str:
    items = [
        f"{LANDMARK_NAMES.get(k, k)} ({p[0]:.1f}, {p[1]:.1f}, {p[2]:.1f})"
        for k, p in landmarks.items()
    ]
    return "; ".join(items) or fmt.DASH


def _side_blocks(model: ReportModel, side: SideSection, index: int) -> list[Block]:
    out = [Block("h2", side.title)]
    if side.role == "control":
        out.append(Block("para", side.conclusion))
    if not side.reviewed:
        return out
    if side.near_vessels():
        out.append(vessel_table(side, "vessels" if index == 0 else f"vessels-{side.role}"))
    else:
        out.append(Block("para", "No vessel near the nerve was marked on this side."))
    far = side.far_vessels()
    if far:
        out.append(
            Block("para", fmt.far_line(far, model.settings.get("near_mm")), id=f"far-{side.role}")
        )
    comments = [
        f"{v['vessel_label_text']}: {v['comment']}" for v in side.vessels if v.get("comment")
    ]
    if comments:
        out.append(Block("para", "Reader's comments: " + "; ".join(comments) + "."))
    out.append(Block("note", f"Landmarks (patient LPS mm): {_landmark_text(side.landmarks)}."))
    return out


def _findings_rows(model: ReportModel) -> list[list[str]]:
    rows = [["Finding", "Reader's call", "Comment"]]
    f = model.findings
    for item in f.get("other_causes", []):
        rows.append(
            [f"Other cause: {item['name']}", item["status_text"], fmt.text(item["comment"])]
        )
    for item in f.get("approach_anatomy", []):
        rows.append(
            [f"Approach anatomy: {item['name']}", item["status_text"], fmt.text(item["comment"])]
        )
    return rows


def figure_caption(k: KeyImage) -> str:
    """The caption of a key image: title, caption and where to find it on PACS."""
    text = f"{k.title}. {k.caption}"
    if k.location:
        text += f" {k.location}."
    return text


def report_blocks(model: ReportModel) -> list[Block]:
    """The whole report as blocks, in reading order (see the module docstring)."""
    h = model.header
    blocks = [Block("title", TITLE)]
    if h["status"] != "final":
        blocks.append(Block("alert", "DRAFT: not signed off by the reader."))
    blocks.append(Block("keyvalue", rows=_header_rows(model), id="header"))
    blocks += [Block("h2", "Conclusion"), Block("conclusion", model.conclusion, id="conclusion")]
    f = model.findings
    overall = f.get("overall_impression_text")
    if overall:
        blocks.append(Block("para", f"Reader's overall impression: {overall}."))
    if model.impression:
        blocks.append(Block("para", f"Reader's impression: {model.impression}"))
    for i, side in enumerate(model.sides):
        blocks += _side_blocks(model, side, i)
    blocks.append(
        Block(
            "note",
            "Gap: minimum surface-to-surface distance between the nerve and vessel "
            "segmentations, with its resolution limit (res. = voxel size along the gap; a "
            "smaller gap cannot be told from contact). From RDP: arc length along the nerve "
            "from the root detachment point (RDP); medial = toward the brainstem, lateral = "
            "toward the internal auditory canal. Indentation: shown only where the gap is zero "
            "and the nerve is dented by more than the resolution limit. Grade: the reader's; "
            "'suggested' = nvcview's proposal from the measurements.",
        )
    )
    blocks += [
        Block("h2", "Grade scale"),
        Block("para", f"Grades follow the {GRADE_SCALE_NAME}."),
        Block(
            "table",
            rows=[["Grade", "Definition"], *[[g, d] for g, d in model.grade_scale]],
            id="grade-scale",
            widths=[25, 155],
        ),
        Block("h2", "Other causes and approach anatomy"),
        Block("table", rows=_findings_rows(model), id="findings", widths=[70, 35, 75]),
        Block("h2", "Limits"),
        Block("bullets", items=list(model.limits)),
    ]
    if model.key_images:
        blocks.append(Block("h2", "Key images"))
        for role in ("symptomatic", "control"):
            imgs = [k for k in model.key_images if k.side_role == role]
            if not imgs:
                continue
            section = next((s for s in model.sides if s.role == role), None)
            if role == "control" and section is not None:
                blocks.append(Block("para", section.title))
            blocks.append(Block("figures", images=imgs, captions=[figure_caption(k) for k in imgs]))
    blocks.append(
        Block(
            "note",
            f"Generated by nvcview {h['software_version']} on {fmt.datetime(h['generated'])}. "
            "Positions are patient LPS millimetres; axial and coronal images are in "
            "radiological convention (patient's right on screen left).",
        )
    )
    return blocks
