"""Figures without pyplot: a bare :class:`matplotlib.figure.Figure` on an Agg canvas (no GUI, no
global backend change), and one way to write it."""

from __future__ import annotations

from pathlib import Path
from typing import Any


def new_figure(figsize: tuple[float, float], dpi: int = 100) -> Any:
    """A Figure drawn by the Agg canvas."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    fig = Figure(figsize=figsize, dpi=dpi)
    FigureCanvasAgg(fig)
    return fig


def save_figure(fig: Any, path: str | Path, **savefig: Any) -> Path:
    """Lay ``fig`` out tightly and write it to ``path`` (folders created); returns the path."""
    fig.tight_layout()
    p = Path(path)
    p.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(p, **savefig)
    return p
