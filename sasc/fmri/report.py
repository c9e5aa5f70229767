"""Brain maps and an HTML report of explained voxels.

Maps are NIfTI volumes in the mask's (subject's) space: voxels without a value are 0.
PNG plots use nilearn over the MNI152 template nilearn ships (no download); for data not
in MNI space the overlay is only indicative, use the NIfTI maps with your own anatomy.
Figures are drawn on a bare :class:`matplotlib.figure.Figure` (Agg canvas), so no GUI
backend and no global pyplot state are involved.
"""

from __future__ import annotations

import html
import json
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ..errors import ConfigError
from ..html_report import experiments_html, figure_html, score_td
from .encoding import EncodingModel
from .explain import VoxelReport, rows_to_tsv


def voxel_image(model: EncodingModel, values: np.ndarray, voxels: Sequence[int] | None = None) -> object:
    """A float32 NIfTI image with ``values`` at ``voxels`` (default: all model voxels) and 0 elsewhere.

    NaN values are written as 0. Raises :class:`ConfigError` for a model fitted on arrays
    without a mask (no coordinates to map to).
    """
    import nibabel as nib

    if model.voxel_ijk is None or model.affine is None or model.volume_shape is None:
        raise ConfigError("this encoding model was fitted on arrays without a mask: no voxel coordinates to map")
    cols = np.arange(model.n_voxels) if voxels is None else np.asarray(voxels, dtype=np.int64)
    vals = np.nan_to_num(np.asarray(values, dtype=np.float32), nan=0.0)
    if vals.shape != cols.shape:
        raise ConfigError(f"{vals.shape[0] if vals.ndim else 0} values for {len(cols)} voxels")
    vol = np.zeros(model.volume_shape, dtype=np.float32)
    ijk = model.voxel_ijk[cols]
    vol[ijk[:, 0], ijk[:, 1], ijk[:, 2]] = vals
    return nib.Nifti1Image(vol, model.affine)


def plot_map(img: object, path: str | Path, title: str, *, kind: str = "stat", threshold: float | None = None,
             vmax: float | None = None) -> Path:
    """Save a PNG of ``img``: ``"stat"`` (slices over the MNI152 template) or ``"glass"`` (glass brain)."""
    from matplotlib.figure import Figure
    from nilearn import plotting
    from nilearn.datasets import load_mni152_template

    if kind not in ("stat", "glass"):
        raise ConfigError(f"unknown plot kind {kind!r}; use 'stat' or 'glass'")
    fig = Figure(figsize=(10, 3.6))
    data = np.asarray(img.dataobj)
    vmax = vmax if vmax is not None else float(np.abs(data).max()) or 1.0
    if kind == "stat":
        plotting.plot_stat_map(img, bg_img=load_mni152_template(resolution=2), figure=fig, title=title,
                               threshold=threshold, vmax=vmax, display_mode="ortho", colorbar=True)
    else:
        plotting.plot_glass_brain(img, figure=fig, title=title, threshold=threshold, vmax=vmax, colorbar=True,
                                  plot_abs=False, display_mode="lyrz")
    p = Path(path)
    p.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(p, dpi=90)
    return p


@dataclass(frozen=True)
class ReportFiles:
    """Paths written by :func:`write_report`."""

    html: Path
    """The HTML report (images embedded)."""
    table: Path
    """The voxel table (TSV)."""
    result: Path
    """The full explanation result (JSON)."""
    sigma_map: Path | None
    """NIfTI map of σ of each explained voxel's top explanation (None without a mask)."""
    r_map: Path | None
    """NIfTI map of held-out correlation of every voxel (None without a mask)."""
    images: list[Path]
    """PNG plots."""


def write_report(model: EncodingModel, report: VoxelReport, out_dir: str | Path, *, title: str = "sasc fMRI report",
                 r_threshold: float | None = None) -> ReportFiles:
    """Write maps, plots, the table, the JSON result and an HTML page showing them side by side."""
    import nibabel as nib

    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    table = out / "voxels.tsv"
    table.write_text(rows_to_tsv(report.rows), encoding="utf-8")
    result = out / "explanations.json"
    report.result.to_json(result)
    sigma_map = r_map = None
    images: list[Path] = []
    if model.voxel_ijk is not None:
        cols = [r.voxel for r in report.rows]
        sig = voxel_image(model, np.array([r.sigma for r in report.rows], dtype=np.float32), cols)
        rim = voxel_image(model, model.test_r)
        sigma_map, r_map = out / "sigma.nii.gz", out / "test_r.nii.gz"
        nib.save(sig, sigma_map)
        nib.save(rim, r_map)
        thr = r_threshold if r_threshold is not None else _r_threshold(model.test_r)
        images = [plot_map(rim, out / "test_r.png", f"held-out r (|r| > {thr:.2f})", threshold=thr),
                  plot_map(sig, out / "sigma_glass.png", "σ of top explanation (explained voxels)", kind="glass",
                           threshold=1e-6)]
    page = out / "report.html"
    page.write_text(render_html(title, model, report, images), encoding="utf-8")
    return ReportFiles(page, table, result, sigma_map, r_map, images)


def _r_threshold(test_r: np.ndarray) -> float:
    """A display threshold: the 95th percentile of |r|, at least 0.05."""
    r = np.abs(np.nan_to_num(np.asarray(test_r, dtype=np.float64)))
    return float(max(0.05, np.quantile(r, 0.95))) if r.size else 0.05


def _best_scores(report: VoxelReport) -> dict[str, dict]:
    """Unit name -> its top explanation's predictive ``scores`` (units without any left out)."""
    return {u.unit: u.best.scores for u in report.result.units if u.best is not None and u.best.scores}


def render_html(title: str, model: EncodingModel, report: VoxelReport, images: Sequence[Path]) -> str:
    """A self-contained page: plots (base64 PNG) beside the voxel table."""
    imgs = "".join(figure_html(p, caption=True) for p in images)
    scores = _best_scores(report)
    names = list(dict.fromkeys(n for d in scores.values() for n in d))
    head = "".join(f"<th>{html.escape(h)}</th>" for h in ("voxel", "MNI / world mm", "test r", "σ", *names,
                                                          "top explanation", "top n-grams"))
    body = "".join(
        f"<tr><td>{r.voxel}</td><td>{html.escape(', '.join(f'{v:g}' for v in r.xyz_mm)) if r.xyz_mm else ''}</td>"
        f"<td>{r.test_r:.3f}</td><td>{r.sigma:.2f}</td>"
        + "".join(score_td(scores.get(r.unit, {}).get(n)) for n in names)
        + f"<td>{html.escape(r.explanation)}</td><td>{html.escape(', '.join(r.top_ngrams[:6]))}</td></tr>"
        for r in report.rows)
    if names:
        from ..scorers.cli import LEGEND

        body += f'<tr><td colspan="{6 + len(names)}"><small>{html.escape(LEGEND)}</small></td></tr>'
    meta = html.escape(json.dumps({"helper": report.result.helper, "train_runs": len(model.train_runs),
                                   "test_runs": model.test_runs, "features": model.feature_spec,
                                   "voxels_in_model": model.n_voxels}))
    return f"""<!doctype html><html><head><meta charset="utf-8"><title>{html.escape(title)}</title>
<style>body{{font-family:sans-serif;margin:1em}} .wrap{{display:flex;gap:1.5em;align-items:flex-start;flex-wrap:wrap}}
.plots{{flex:1 1 560px}} .plots img{{max-width:100%}} .tbl{{flex:1 1 480px}} table{{border-collapse:collapse;font-size:90%}}
td,th{{border:1px solid #ccc;padding:3px 6px;text-align:left}} code{{font-size:80%}}</style></head><body>
<h1>{html.escape(title)}</h1><p><code>{meta}</code></p>
<div class="wrap"><div class="plots">{imgs or '<p>(no brain maps: the model has no mask)</p>'}</div>
<div class="tbl"><table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table></div></div>
{experiments_html(report.result.units)}</body></html>
"""
