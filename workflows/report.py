"""A self-contained HTML report of a run or campaign, viewable offline: summary, per-target success
rates, property distributions against a reference set, and the top candidates with depictions."""

from __future__ import annotations

import html
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from designer.candidates import Candidates

if TYPE_CHECKING:
    from designer.config import CampaignConfig
    from designer.workflows.pipeline import RunResult

# Our oracle name -> the key of MOSES's precomputed test-set property values.
MOSES_REFERENCE = {"qed": "QED", "sa": "SA", "logp": "logP", "mw": "weight"}


def success_rates(table: Candidates, tolerance: dict[str, float]) -> dict[str, dict[str, Any]]:
    """Per variant: how many candidates hit every numeric target within its tolerance, and the MAE."""
    variants = table.columns.get("variant", np.full(len(table), "all", dtype=object))
    targets = [n[7:] for n, v in table.columns.items()
               if n.startswith("target_") and n[7:] in table.columns and v.dtype != object]
    rates: dict[str, dict[str, Any]] = {}
    for variant in dict.fromkeys(variants):
        rows = variants == variant
        entry: dict[str, Any] = {"candidates": int(rows.sum())}
        hit = np.ones(int(rows.sum()), dtype=bool)
        for name in targets:
            error = np.abs(table.columns[f"target_{name}"][rows] - table.columns[name][rows].astype(float))
            entry[f"mae_{name}"] = float(np.nanmean(error)) if np.isfinite(error).any() else None
            hit &= np.nan_to_num(error, nan=np.inf) <= tolerance.get(name, np.inf)
        if targets:
            entry["success_rate"] = float(hit.mean()) if len(hit) else 0.0
        rates[str(variant)] = entry
    return rates


def histogram_svg(values: np.ndarray, reference: np.ndarray | None, title: str, width: int = 320,
                  height: int = 150, bins: int = 30) -> str:
    """Two overlaid density histograms (candidates filled, reference outlined) as inline SVG."""
    values = values[np.isfinite(values)]
    if not len(values):
        return ""
    pooled = values if reference is None else np.concatenate([values, reference[np.isfinite(reference)]])
    low, high = np.percentile(pooled, [0.5, 99.5])
    if high <= low:
        high = low + 1.0
    edges = np.linspace(low, high, bins + 1)
    series = [np.histogram(values, edges, density=True)[0]]
    if reference is not None:
        series.append(np.histogram(reference, edges, density=True)[0])
    top = max(s.max() for s in series) or 1.0
    step = width / bins
    bars = "".join(f'<rect x="{i * step:.1f}" y="{height - h / top * height:.1f}" width="{step - 1:.1f}" '
                   f'height="{h / top * height:.1f}" fill="#4c78a8" opacity="0.7"/>' for i, h in enumerate(series[0]))
    outline = ""
    if reference is not None:
        points = " ".join(f"{(i + 0.5) * step:.1f},{height - h / top * height:.1f}" for i, h in enumerate(series[1]))
        outline = f'<polyline points="{points}" fill="none" stroke="#e45756" stroke-width="2"/>'
    axis = (f'<text x="0" y="{height + 14}" font-size="11">{low:.3g}</text>'
            f'<text x="{width}" y="{height + 14}" font-size="11" text-anchor="end">{high:.3g}</text>')
    return (f'<figure><figcaption>{html.escape(title)}</figcaption><svg width="{width}" height="{height + 18}" '
            f'xmlns="http://www.w3.org/2000/svg">{bars}{outline}{axis}</svg></figure>')


def reference_values(kind: str) -> dict[str, np.ndarray]:
    """Reference property distributions for the report (MOSES test set for molecules)."""
    if kind != "molecule":
        return {}
    try:
        from designer.data import moses_test_stats

        stats = moses_test_stats("test")
    except Exception:  # the report must not fail for want of reference data
        return {}
    return {name: np.asarray(stats[key]["values"], dtype=float) for name, key in MOSES_REFERENCE.items()}


def write_report(result: RunResult, config: CampaignConfig, path: Path, top: int = 12) -> Path:
    """Write the HTML report of a finished run or campaign."""
    table, summary = result.candidates, result.summary
    tolerance = getattr(getattr(config, "campaign", None), "tolerance", {})
    rates = success_rates(table, tolerance)
    references = reference_values(table.kind)
    parts = [f"<h1>{html.escape(summary.get('name', 'run'))}</h1>",
             "<table>" + "".join(f"<tr><th>{html.escape(k)}</th><td>{html.escape(str(v))}</td></tr>"
                                 for k, v in summary.items() if k not in ("scores", "failed_shards")) + "</table>"]
    if summary.get("failed_shards"):
        parts.append("<h2>Failed shards</h2><ul>" + "".join(
            f"<li>shard {f['shard']} ({html.escape(f['variant'])}): {html.escape(f['error'])}</li>"
            for f in summary["failed_shards"]) + "</ul>")
    parts.append("<h2>Per variant</h2><table><tr><th>variant</th>" + "".join(
        f"<th>{html.escape(k)}</th>" for k in next(iter(rates.values()), {})) + "</tr>" + "".join(
        "<tr><td>" + html.escape(v) + "</td>" + "".join(
            f"<td>{x:.3f}</td>" if isinstance(x, float) else f"<td>{x}</td>" for x in entry.values()) + "</tr>"
        for v, entry in rates.items()) + "</table>")
    if tolerance:
        parts.append("<p>Success: every requested property within "
                     + ", ".join(f"{k} ± {v:g}" for k, v in tolerance.items()) + ".</p>")
    figures = [histogram_svg(values.astype(float), references.get(name), f"{name}: candidates (blue)"
                             + (" vs MOSES test set, the training distribution (red)" if name in references else ""))
               for name, values in table.columns.items() if values.dtype != object and not name.startswith("target_")]
    parts.append("<h2>Property distributions</h2><div style='display:flex;flex-wrap:wrap;gap:12px'>"
                 + "".join(figures) + "</div>")
    parts.append(f"<h2>Top {min(top, len(table))} candidates</h2>" + table.take(np.arange(min(top, len(table))))
                 ._repr_html_(max_rows=top))
    style = "<style>body{font-family:sans-serif;margin:2em}td,th{padding:2px 8px;text-align:left}</style>"
    path.write_text(f"<!doctype html><html><head><meta charset='utf-8'><title>designer report</title>{style}"
                    f"</head><body>{''.join(parts)}</body></html>")
    return path
