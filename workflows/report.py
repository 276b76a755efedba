"""A self-contained HTML report of a run, a campaign or a ``designer generate -o DIR/``.

One file, viewable offline: provenance, the summary as a readable table, per-target success (per
variant when a campaign has several), target-vs-achieved plots, property distributions against a
reference set (MOSES test for molecules), and the top candidates with depictions. Figures are drawn
with matplotlib and embedded as inline SVG, with axes, labels and legends.
"""

from __future__ import annotations

import html
import io
import subprocess
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np

from designer.candidates import Candidates
from designer.workflows.pipeline import targets_of

# Our oracle name -> the key of MOSES's precomputed test-set property values.
MOSES_REFERENCE = {"qed": "QED", "sa": "SA", "logp": "logP", "mw": "weight"}
MAX_VARIANTS_PLOTTED = 8
COLOURS = ["#4c78a8", "#f58518", "#54a24b", "#b279a2", "#9d755d", "#eeca3b", "#72b7b2", "#ff9da6"]


def variants_of(table: Candidates) -> np.ndarray:
    return table.columns.get("variant", np.full(len(table), "all", dtype=object))


def success_rates(table: Candidates, tolerance: Mapping[str, float]) -> dict[str, dict[str, Any]]:
    """Per variant: candidates, MAE per target and the fraction within tolerance of every target the
    variant asked for (a property another variant targeted does not count against it)."""
    variants = variants_of(table)
    rates: dict[str, dict[str, Any]] = {}
    for variant in dict.fromkeys(variants):
        rows = variants == variant
        entry: dict[str, Any] = {"candidates": int(rows.sum())}
        hit = np.ones(int(rows.sum()), dtype=bool)
        asked = False
        for name in targets_of(table):
            requested = table.columns[f"target_{name}"][rows].astype(float)
            if not np.isfinite(requested).any():
                continue
            asked = True
            error = np.abs(requested - table.columns[name][rows].astype(float))
            entry[f"mae_{name}"] = float(np.nanmean(error)) if np.isfinite(error).any() else None
            hit &= np.nan_to_num(error, nan=np.inf) <= tolerance.get(name, np.inf)
        if asked:
            entry["success_rate"] = float(hit.mean()) if len(hit) else 0.0
        rates[str(variant)] = entry
    return rates


def reference_values(kind: str) -> dict[str, np.ndarray]:
    """Reference property distributions (MOSES test set for molecules; none for other kinds)."""
    if kind != "molecule":
        return {}
    try:
        from designer.data import moses_test_stats

        stats = moses_test_stats("test")
    except Exception:  # the report must not fail for want of reference data
        return {}
    return {name: np.asarray(stats[key]["values"], dtype=float) for name, key in MOSES_REFERENCE.items()}


def cell(value: Any) -> str:
    """A value as readable text: 4 significant digits, whole numbers without decimals, lists joined."""
    if isinstance(value, bool) or value is None:
        return "–" if value is None else ("yes" if value else "no")
    if isinstance(value, int | np.integer):
        return f"{int(value):,}"
    if isinstance(value, float | np.floating):
        return "nan" if not np.isfinite(value) else (f"{value:,.0f}" if float(value).is_integer() and abs(value) < 1e12
                                                     else f"{value:.4g}")
    if isinstance(value, list | tuple):
        return ", ".join(cell(v) for v in value) or "–"
    if isinstance(value, Mapping):
        return ", ".join(f"{k}={cell(v)}" for k, v in value.items()) or "–"
    return str(value)


def flatten(summary: Mapping[str, Any], prefix: str = "") -> list[tuple[str, Any]]:
    """Nested summary entries as (dotted key, value) rows; empty mappings are left out."""
    rows: list[tuple[str, Any]] = []
    for key, value in summary.items():
        label = f"{prefix}{key}"
        if isinstance(value, Mapping):
            rows += flatten(value, f"{label}.")
        else:
            rows.append((label, value))
    return rows


def html_table(header: list[str], rows: list[list[Any]]) -> str:
    head = "".join(f"<th>{html.escape(h)}</th>" for h in header)
    body = "".join("<tr>" + "".join(f"<td>{html.escape(cell(c))}</td>" for c in row) + "</tr>" for row in rows)
    return f"<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"


def _svg(figure: Any) -> str:
    """A matplotlib figure as inline SVG (no XML prologue), then closed."""
    import matplotlib.pyplot as plt

    buffer = io.StringIO()
    figure.savefig(buffer, format="svg", bbox_inches="tight")
    plt.close(figure)
    text = buffer.getvalue()
    return text[text.index("<svg"):]


def _figure() -> tuple[Any, Any]:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt.subplots(figsize=(4.2, 2.8))


def distribution_figure(name: str, groups: dict[str, np.ndarray], reference: np.ndarray | None) -> str:
    """One property: a histogram per group (variant) against the reference's, on a range that shows
    every candidate; a property with few whole-number values (alert counts, flags) as bars of counts."""
    groups = {k: v[np.isfinite(v)] for k, v in groups.items()}
    groups = {k: v for k, v in groups.items() if len(v)}
    if not groups:
        return ""
    pooled = np.concatenate(list(groups.values()))
    figure, axes = _figure()
    if np.all(pooled == np.round(pooled)) and len(np.unique(pooled)) <= 12:
        levels = np.unique(pooled)
        width = 0.8 / len(groups)
        for k, (label, values) in enumerate(groups.items()):
            counts = [(values == level).mean() for level in levels]
            axes.bar(np.arange(len(levels)) + k * width, counts, width, label=label, color=COLOURS[k % 8])
        axes.set_xticks(np.arange(len(levels)) + width * (len(groups) - 1) / 2, [cell(v) for v in levels])
        axes.set_ylabel("fraction of candidates")
    else:
        low, high = float(pooled.min()), float(pooled.max())
        if reference is not None and len(reference):
            ref_low, ref_high = np.percentile(reference, [0.5, 99.5])
            low, high = min(low, ref_low), max(high, ref_high)
        edges = np.linspace(low, high if high > low else low + 1.0, 31)
        for k, (label, values) in enumerate(groups.items()):
            axes.hist(values, edges, density=True, histtype="stepfilled" if len(groups) == 1 else "step",
                      alpha=0.6 if len(groups) == 1 else 1.0, color=COLOURS[k % 8], linewidth=1.5,
                      label=f"{label} (n={len(values)})")
        if reference is not None and len(reference):
            axes.hist(reference[(reference >= edges[0]) & (reference <= edges[-1])], edges, density=True,
                      histtype="step", color="black", linestyle="--", linewidth=1.2, label="MOSES test (reference)")
        axes.set_ylabel("density")
    axes.set_xlabel(name)
    axes.set_title(name)
    axes.legend(fontsize=7)
    return _svg(figure)


def target_figure(name: str, table: Candidates, tolerance: Mapping[str, float]) -> str:
    """Achieved values of one targeted property per variant, with the requested value and the
    tolerance band marked: how close the delivered set is to what was asked."""
    variants = variants_of(table)
    requested = table.columns[f"target_{name}"].astype(float)
    achieved = table.columns[name].astype(float)
    figure, axes = _figure()
    plotted = 0
    for k, variant in enumerate(list(dict.fromkeys(variants))[:MAX_VARIANTS_PLOTTED]):
        rows = (variants == variant) & np.isfinite(requested) & np.isfinite(achieved)
        if not rows.any():
            continue
        colour = COLOURS[k % 8]
        wanted = float(np.median(requested[rows]))
        axes.hist(achieved[rows], bins=25, histtype="step", color=colour, linewidth=1.5,
                  label=f"{variant}: asked {wanted:.3g}")
        axes.axvline(wanted, color=colour, linestyle="--", linewidth=1)
        if name in tolerance:
            axes.axvspan(wanted - tolerance[name], wanted + tolerance[name], color=colour, alpha=0.12)
        plotted += 1
    if not plotted:
        return ""
    axes.set_xlabel(f"achieved {name}")
    axes.set_ylabel("candidates")
    axes.set_title(f"{name}: requested (dashed), tolerance (band), achieved")
    axes.legend(fontsize=7)
    return _svg(figure)


def provenance(extra: Mapping[str, Any] | None = None) -> dict[str, Any]:
    """Version, commit (when run from a git checkout) and whatever the caller adds (model, seed)."""
    from designer import __version__

    facts: dict[str, Any] = {"designer": __version__}
    try:
        commit = subprocess.run(["git", "rev-parse", "--short", "HEAD"], capture_output=True, text=True, timeout=5,
                                cwd=Path(__file__).resolve().parent)
        if commit.returncode == 0:
            facts["commit"] = commit.stdout.strip()
    except (OSError, subprocess.SubprocessError):
        pass
    return {**facts, **dict(extra or {})}


def write_report(table: Candidates, summary: Mapping[str, Any], path: str | Path, *, title: str,
                 tolerance: Mapping[str, float] | None = None, facts: Mapping[str, Any] | None = None,
                 top: int = 12) -> Path:
    """Write the HTML report of a finished run, campaign or generation to ``path``."""
    path = Path(path)
    tolerance = dict(tolerance or summary.get("target", {}).get("tolerance", {}) or summary.get("tolerance", {}))
    parts = [f"<h1>{html.escape(title)}</h1>",
             "<p class='facts'>" + " · ".join(f"{html.escape(k)}: {html.escape(cell(v))}"
                                              for k, v in provenance(facts).items()) + "</p>",
             "<h2>Summary</h2>",
             html_table(["what", "value"], [[k, v] for k, v in flatten(summary)
                                            if not k.startswith(("scores.", "failed_shards", "shard_timings"))])]
    scores = summary.get("scores", {})
    if scores:
        parts += ["<h2>Scores</h2>", html_table(["property", "mean", "min", "max", "NaN"],
                                                [[k, v["mean"], v["min"], v["max"], v["nan"]]
                                                 for k, v in scores.items()])]
    if summary.get("failed_shards"):
        parts += ["<h2>Failed shards</h2>", html_table(["shard", "variant", "error"], [
            [f["shard"], f["variant"], f["error"]] for f in summary["failed_shards"]])]
    if summary.get("shard_timings"):
        parts += ["<h2>Shards</h2>", html_table(list(summary["shard_timings"][0]),
                                                [list(t.values()) for t in summary["shard_timings"]])]
    targets = targets_of(table)
    if targets and len(table):
        rates = success_rates(table, tolerance)
        columns = list(dict.fromkeys(k for entry in rates.values() for k in entry))
        parts += ["<h2>Targets</h2>",
                  "<p>Success: every property the variant asked for within "
                  + (", ".join(f"{k} ± {v:g}" for k, v in tolerance.items()) or "(no tolerance given)") + ".</p>",
                  html_table(["variant", *columns], [[v, *(e.get(c) for c in columns)] for v, e in rates.items()]),
                  "<div class='figures'>" + "".join(target_figure(name, table, tolerance) for name in targets)
                  + "</div>"]
    references = reference_values(table.kind)
    variants = variants_of(table)
    names = [n for n, v in table.columns.items() if v.dtype != object and not n.startswith("target_")]
    figures = []
    for name in names:
        values = table.columns[name].astype(float)
        groups = {str(v): values[variants == v] for v in list(dict.fromkeys(variants))[:MAX_VARIANTS_PLOTTED]}
        figures.append(distribution_figure(name, groups, references.get(name)))
    if figures:
        parts += ["<h2>Property distributions</h2>", "<div class='figures'>" + "".join(figures) + "</div>"]
    shown = min(top, len(table))
    parts += [f"<h2>Top {shown} candidates</h2>", table.take(np.arange(shown))._repr_html_(max_rows=top, caption=False)]
    style = ("<style>body{font-family:sans-serif;margin:2em;max-width:1400px}td,th{padding:2px 8px;"
             "text-align:left;border-bottom:1px solid #ddd}table{border-collapse:collapse;margin-bottom:1em}"
             ".figures{display:flex;flex-wrap:wrap;gap:12px}.facts{color:#555}</style>")
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(f"<!doctype html><html lang='en'><head><meta charset='utf-8'><title>{html.escape(title)}</title>"
                    f"{style}</head><body>{''.join(parts)}</body></html>")
    return path
