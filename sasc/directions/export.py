"""Writing a direction search: the vectors (``.npy``), a module spec that `sasc explain`, `sasc score`
and the service accept, the result JSON and a plot of score by round."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import numpy as np

from ..cache import atomic_save, atomic_write_text
from ..plots import new_figure, save_figure
from ..results import ExplainResult
from .search import direction_vectors


def score_by_round(result: ExplainResult) -> dict[str, list[float]]:
    """Per direction, its simulation score at each round (search half), then on the held-out half."""
    out = {}
    for d in result.config["directions"]["directions"]:
        held = d.get("held_out_simulation")
        out[d["name"]] = [r["score"] for r in d["rounds"]] + [np.nan if held is None else held]
    return out


def score_by_round_figure(result: ExplainResult) -> Any:
    """Score by round, one line per direction and their mean; the last point is the held-out score."""
    scores = score_by_round(result)
    fig = new_figure((6.4, 4.0))
    ax = fig.add_subplot(1, 1, 1)
    rows = np.array(list(scores.values()), dtype=np.float64)
    x = np.arange(1, rows.shape[1] + 1)
    for name, row in scores.items():
        ax.plot(x, row, marker="o", lw=1, alpha=0.5, label=name if len(scores) <= 8 else None)
    ax.plot(x, np.nanmean(rows, axis=0), color="black", lw=2.5, marker="s", label="mean")
    ax.set_xticks(x, [str(i) for i in x[:-1]] + ["held out"])
    ax.set_xlabel("round (simulation score on the search half), then the final directions on held-out texts")
    ax.set_ylabel("simulation score (Pearson r)")
    ax.axhline(0, color="grey", lw=0.5)
    ax.set_title(f"explainable directions: {result.config['directions']['site']}", fontsize=10)
    ax.legend(fontsize=7, loc="best")
    return fig


def save_directions(result: ExplainResult, out_dir: str | Path) -> dict[str, Path]:
    """Write ``directions.npy`` ``[K, width]``, ``module.json`` (an ``llm_direction`` spec naming the
    ``.npy`` by absolute path; a JSON spec is a module spec: ``sasc explain --module "$(cat out/module.json)"``),
    ``directions.json`` (the whole result) and ``score_by_round.png`` into ``out_dir``; each file
    is written whole or not at all. Returns the paths by kind."""
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    paths = {"vectors": out / "directions.npy", "spec": out / "module.json", "result": out / "directions.json",
             "plot": out / "score_by_round.png"}
    atomic_save(paths["vectors"], direction_vectors(result))
    info = result.config["directions"]
    spec = {**info["spec"], "directions": str(paths["vectors"].resolve()),
            "names": [d["name"] for d in info["directions"]]}
    atomic_write_text(paths["spec"], json.dumps(spec, indent=1))
    atomic_write_text(paths["result"], result.to_json())
    tmp = paths["plot"].with_name(paths["plot"].name + ".tmp")
    save_figure(score_by_round_figure(result), tmp, format="png")
    os.replace(tmp, paths["plot"])
    return paths

