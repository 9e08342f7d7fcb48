"""``nvcview agreement``: inter-reader agreement from a batch vessel table.

Units of agreement
------------------
- A *vessel* is ``(case_id, vessel_label)``: readers of one case annotate the same
  label map (a second reader's folder starts as a copy of the first), so a label
  is the same vessel for every reader.
- *grade* (none / contact / indentation / deviation): every vessel both readers rated.
- *segment*: vessels that at least one of the two readers graded as a conflict
  (grade other than "none"), where both have a segment.
- *offending vessel*: per case, each reader's primary offender, the vessel type of
  the worst-graded vessel (ties: the smaller gap); "none" without a conflict.
- *gap_mm*, *dist_from_rdp_mm*: vessels that at least one reader graded as a
  conflict (``all_vessels=True``: every vessel), where both have a value.

For every pair of readers: Cohen's kappa (categories; for the ordinal grade also
the linearly weighted kappa), ICC(2,1) and ICC(3,1)
and a Bland-Altman plot (measurements). With three or more readers also Fleiss'
kappa over the units rated by the most common number of readers.
"""

from __future__ import annotations

import itertools
import math
import os
import re
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from nvcview.batch.agreement import (
    bland_altman,
    category_counts,
    cohen_kappa,
    fleiss_kappa,
    icc,
    weighted_kappa,
)
from nvcview.errors import InputError
from nvcview.fsutil import atomic_path, atomic_write_text
from nvcview.measure.records import GRADES, SEGMENTS

REQUIRED = ("case_id", "reader", "vessel_label", "vessel_type", "grade", "segment", "gap_mm")
CATEGORICAL = ("grade", "segment", "offending_vessel")
CONTINUOUS = {"gap_mm": "gap (mm)", "dist_from_rdp_mm": "distance from the RDP (mm)"}

STAT_COLUMNS = [
    "measure",
    "statistic",
    "readers",
    "n",
    "value",
    "ci_low",
    "ci_high",
    "observed_agreement",
    "expected_agreement",
    "bias",
    "sd",
    "loa_low",
    "loa_high",
    "note",
]


@dataclass
class AgreementResults:
    """All statistics of one table, one dict per row of :data:`STAT_COLUMNS`.

    Attributes
    ----------
    stats : list of dict
        Kappa, ICC and Bland-Altman rows.
    readers : list of str
        Readers seen.
    n_cases_multi : int
        Cases read by two or more readers.
    plots : dict
        ``(measure, reader_a, reader_b)`` -> (mean, difference, bias, loa_low, loa_high)
        for the Bland-Altman plots.
    """

    stats: list[dict] = field(default_factory=list)
    readers: list[str] = field(default_factory=list)
    n_cases_multi: int = 0
    plots: dict = field(default_factory=dict)


def _row(measure: str, statistic: str, readers: str, n: int, **kw) -> dict:
    row = dict.fromkeys(STAT_COLUMNS)
    row.update(measure=measure, statistic=statistic, readers=readers, n=n, note="")
    row.update(kw)
    return row


def _clean(v):
    """NaN -> None so the CSV shows an empty cell and the HTML a dash."""
    if isinstance(v, float) and not math.isfinite(v):
        return None
    return v


def _check_columns(df: pd.DataFrame, source: str) -> None:
    missing = [c for c in REQUIRED if c not in df.columns]
    if missing:
        raise InputError(
            f"{source}: not a batch vessel table (missing columns {', '.join(missing)})"
        )


def primary_offenders(df: pd.DataFrame) -> pd.DataFrame:
    """Per (case, reader): the vessel type of the worst-graded vessel, or "none".

    Ties in grade go to the smaller gap (mm). Returns columns case_id, reader,
    offending_vessel.
    """
    rank = {g: i for i, g in enumerate(GRADES)}
    out = []
    for (case, reader), g in df.groupby(["case_id", "reader"], sort=True):
        g = g.assign(
            _rank=g["grade"].map(lambda x: rank.get(x, 0)),
            _gap=pd.to_numeric(g["gap_mm"], errors="coerce").fillna(np.inf),
        )
        conflicts = g[g["_rank"] > 0].sort_values(["_rank", "_gap"], ascending=[False, True])
        kind = str(conflicts["vessel_type"].iloc[0]) if len(conflicts) else "none"
        out.append({"case_id": case, "reader": reader, "offending_vessel": kind})
    return pd.DataFrame(out, columns=["case_id", "reader", "offending_vessel"])


def _wide(df: pd.DataFrame, keys: list[str], value: str) -> pd.DataFrame:
    """units x readers table of ``value`` (first value per unit and reader)."""
    return df.pivot_table(index=keys, columns="reader", values=value, aggfunc="first")


def compute_agreement(df: pd.DataFrame, *, all_vessels: bool = False) -> AgreementResults:
    """Agreement statistics of a batch vessel table (see the module docstring).

    Raises
    ------
    InputError
        Missing columns, or no case read by two or more readers.
    """
    _check_columns(df, "table")
    df = df.copy()
    df["case_id"] = df["case_id"].astype(str)
    df["reader"] = df["reader"].astype(str)
    readers_per_case = df.groupby("case_id")["reader"].nunique()
    multi = readers_per_case[readers_per_case >= 2].index
    if len(multi) == 0:
        raise InputError(
            "table: no case was read by two or more readers (readers of one case share "
            "its case_id); nothing to compare"
        )
    df = df[df["case_id"].isin(multi)]
    res = AgreementResults(readers=sorted(df["reader"].unique()), n_cases_multi=len(multi))
    keys = ["case_id", "vessel_label"]
    conflict_any = (
        df.assign(_c=df["grade"].ne("none")).groupby(keys)["_c"].any().rename("conflict_any")
    )
    grades = _wide(df, keys, "grade")
    segments = _wide(df, keys, "segment").join(conflict_any)
    segments = segments[segments["conflict_any"]].drop(columns="conflict_any")
    offenders = primary_offenders(df).pivot_table(
        index="case_id", columns="reader", values="offending_vessel", aggfunc="first"
    )
    tables = {"grade": grades, "segment": segments, "offending_vessel": offenders}
    categories = {"grade": GRADES, "segment": SEGMENTS, "offending_vessel": None}

    for measure in CATEGORICAL:
        wide = tables[measure]
        for a, b in itertools.combinations(res.readers, 2):
            if a not in wide or b not in wide:
                continue
            pair = wide[[a, b]].dropna()
            label = f"{a} vs {b}"
            if pair.empty:
                res.stats.append(_row(measure, "cohen_kappa", label, 0, note="no shared units"))
                continue
            k = cohen_kappa(pair[a].tolist(), pair[b].tolist(), categories[measure])
            res.stats.append(
                _row(
                    measure,
                    "cohen_kappa",
                    label,
                    k.n_units,
                    value=_clean(k.kappa),
                    observed_agreement=k.observed,
                    expected_agreement=k.expected,
                    note="undefined: every rating in one category" if math.isnan(k.kappa) else "",
                )
            )
            if measure == "grade":  # ordinal: partial credit for neighbouring grades
                pair = pair[pair[a].isin(GRADES) & pair[b].isin(GRADES)]
                if not pair.empty:
                    kw = weighted_kappa(pair[a].tolist(), pair[b].tolist(), GRADES, "linear")
                    res.stats.append(
                        _row(
                            measure,
                            "cohen_kappa_linear",
                            label,
                            kw.n_units,
                            value=_clean(kw.kappa),
                            observed_agreement=kw.observed,
                            expected_agreement=kw.expected,
                            note="linear weights |i - j| / 3 over none < contact < "
                            "indentation < deviation",
                        )
                    )
        if len(res.readers) >= 3:
            counts = wide.notna().sum(axis=1)
            if (counts >= 2).any():
                m = int(counts[counts >= 2].mode().max())
                units = wide[counts == m]
                ratings = [row.dropna().tolist() for _, row in units.iterrows()]
                k = fleiss_kappa(category_counts(ratings, categories[measure]))
                res.stats.append(
                    _row(
                        measure,
                        "fleiss_kappa",
                        f"{m} readers per unit",
                        k.n_units,
                        value=_clean(k.kappa),
                        observed_agreement=k.observed,
                        expected_agreement=k.expected,
                    )
                )

    for measure in CONTINUOUS:
        if measure not in df.columns:
            continue
        num = df.assign(**{measure: pd.to_numeric(df[measure], errors="coerce")})
        wide = _wide(num, keys, measure)
        if not all_vessels:
            wide = wide.join(conflict_any)
            wide = wide[wide["conflict_any"]].drop(columns="conflict_any")
        for a, b in itertools.combinations(res.readers, 2):
            if a not in wide or b not in wide:
                continue
            pair = wide[[a, b]].dropna().astype(float)
            label = f"{a} vs {b}"
            if len(pair) < 2:
                note = f"too few paired vessels (n={len(pair)}; need 2)"
                res.stats.append(_row(measure, "icc", label, len(pair), note=note))
                continue
            r = icc(pair.to_numpy())
            for stat, value, ci in (
                ("icc2_1", r.icc2_1, r.icc2_1_ci),
                ("icc3_1", r.icc3_1, r.icc3_1_ci),
            ):
                res.stats.append(
                    _row(
                        measure,
                        stat,
                        label,
                        r.n_units,
                        value=_clean(value),
                        ci_low=_clean(ci[0]),
                        ci_high=_clean(ci[1]),
                    )
                )
            ba = bland_altman(pair[a].to_numpy(), pair[b].to_numpy())
            res.stats.append(
                _row(
                    measure,
                    "bland_altman",
                    label,
                    ba.n,
                    bias=ba.bias,
                    sd=ba.sd,
                    loa_low=ba.loa_low,
                    loa_high=ba.loa_high,
                    note=f"difference = {b} - {a}",
                )
            )
            res.plots[(measure, a, b)] = (ba.mean, ba.diff, ba.bias, ba.loa_low, ba.loa_high)
    return res


def _safe(name: str) -> str:
    return re.sub(r"[^A-Za-z0-9_-]+", "_", name).strip("_") or "reader"


def plot_bland_altman(
    path: Path,
    mean: np.ndarray,
    diff: np.ndarray,
    bias: float,
    loa: tuple[float, float],
    *,
    title: str,
    unit: str,
) -> Path:
    """Write a Bland-Altman plot (PNG, matplotlib Agg backend, atomic)."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    fig = Figure(figsize=(5.5, 4.0), dpi=100)
    FigureCanvasAgg(fig)
    ax = fig.add_subplot(1, 1, 1)
    ax.scatter(mean, diff, s=18, color="#1f4e79", alpha=0.8)
    ax.axhline(bias, color="#c00000", lw=1.2, label=f"bias {bias:+.2f} {unit}")
    for y in loa:
        ax.axhline(y, color="#7f7f7f", lw=1.0, ls="--")
    ax.axhline(0.0, color="black", lw=0.5)
    ax.set_xlabel(f"mean of the two readers ({unit})")
    ax.set_ylabel(f"difference ({unit})")
    ax.set_title(title, fontsize=10)
    ax.legend(loc="best", fontsize=8, title=f"95% LoA {loa[0]:+.2f} to {loa[1]:+.2f}")
    fig.tight_layout()
    with atomic_path(path) as tmp:
        fig.savefig(tmp, format="png")
    return path


def write_agreement(
    table_path: str | os.PathLike, out_dir: str | os.PathLike, *, all_vessels: bool = False
) -> dict[str, Path]:
    """Compute agreement from a batch table and write CSV, PNG plots and an HTML summary.

    Returns
    -------
    dict
        "csv", "html" and one "plot:<file name>" entry per Bland-Altman plot.
    """
    from nvcview.batch.table import read_table

    table_path = Path(table_path)
    out_dir = Path(out_dir)
    df = read_table(table_path)
    _check_columns(df, str(table_path))
    try:
        res = compute_agreement(df, all_vessels=all_vessels)
    except InputError as exc:
        raise InputError(str(exc).replace("table:", f"{table_path}:", 1)) from exc
    out_dir.mkdir(parents=True, exist_ok=True)
    written: dict[str, Path] = {}
    stats = pd.DataFrame(res.stats, columns=STAT_COLUMNS)
    csv_path = out_dir / "agreement.csv"
    with atomic_path(csv_path) as tmp:
        stats.to_csv(tmp, index=False, lineterminator="\n")
    written["csv"] = csv_path
    plots = []
    for (measure, a, b), (mean, diff, bias, lo, hi) in sorted(res.plots.items()):
        name = f"bland_altman_{measure}_{_safe(a)}_vs_{_safe(b)}.png"
        unit = "mm"
        plot_bland_altman(
            out_dir / name,
            mean,
            diff,
            bias,
            (lo, hi),
            title=f"{CONTINUOUS[measure]}: {b} - {a} (n={len(diff)})",
            unit=unit,
        )
        written[f"plot:{name}"] = out_dir / name
        plots.append({"file": name, "title": f"{CONTINUOUS[measure]}, {a} vs {b}"})
    html = render_summary(res, plots, source=table_path.name, all_vessels=all_vessels)
    atomic_write_text(out_dir / "agreement.html", html)
    written["html"] = out_dir / "agreement.html"
    return written


def _fmt(v, digits: int = 3) -> str:
    if v is None or (isinstance(v, float) and not math.isfinite(v)):
        return "–"
    if isinstance(v, float):
        return f"{v:.{digits}f}"
    return str(v)


def render_summary(
    res: AgreementResults, plots: list[dict], *, source: str, all_vessels: bool
) -> str:
    """The HTML summary (jinja2 template ``templates/agreement.html.j2``, autoescaped)."""
    import jinja2

    env = jinja2.Environment(
        loader=jinja2.PackageLoader("nvcview.batch", "templates"),
        autoescape=True,
        undefined=jinja2.StrictUndefined,
    )
    env.filters["fmt"] = _fmt
    from nvcview import __version__

    return env.get_template("agreement.html.j2").render(
        res=res,
        kappas=[r for r in res.stats if "kappa" in r["statistic"]],
        iccs=[r for r in res.stats if r["statistic"] in ("icc2_1", "icc3_1", "icc")],
        bas=[r for r in res.stats if r["statistic"] == "bland_altman"],
        plots=plots,
        source=source,
        all_vessels=all_vessels,
        version=__version__,
    )
