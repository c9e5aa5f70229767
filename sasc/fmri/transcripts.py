"""Stimulus transcripts: words with onset and offset times, from TSV or Praat TextGrid.

Accepted forms:

* **TSV** (``.tsv``, tab-separated, one row per word, header required): a word column named
  ``word`` (or ``text``, ``trial_type``, ``stim``), ``onset`` in seconds, and either
  ``offset`` (seconds) or ``duration`` (seconds, the BIDS ``events.tsv`` convention).
* **Praat TextGrid** (``.TextGrid``, long or short text format, UTF-8/UTF-16): the interval
  tier named ``word``/``words`` (else the first interval tier); intervals with empty text or
  a silence marker (``sp``, ``sil``, ``{...}``, ``<...>``) are dropped.

Words are normalized with the n-gram tokenizer of :mod:`sasc.ngrams` (punctuation stripped);
a row whose text has no word characters is dropped with its timing.
"""

from __future__ import annotations

import csv
import io
import re
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from ..errors import ConfigError

WORD_COLUMNS = ("word", "text", "trial_type", "stim")
SILENCE = {"", "sp", "sil", "sils", "spn", "#", "{sl}", "{lg}", "{ns}", "{br}", "{cg}", "{ls}"}
_WORD = re.compile(r"\w+(?:['’.,\-]\w+)*")


def normalize_word(text: str) -> str:
    """The words of ``text`` (tokenized as in :mod:`sasc.ngrams`) joined by spaces; may be ``""``."""
    return " ".join(_WORD.findall(text))


def text_words(text: str) -> list[str]:
    """Words of a text, tokenized as in :mod:`sasc.ngrams`."""
    return _WORD.findall(text)


@dataclass(frozen=True)
class Transcript:
    """The words a subject heard in one run, with their timing."""

    words: list[str]
    """Normalized words, in the order heard."""
    onsets: np.ndarray = field(repr=False)
    """float64 ``[n_words]``: word onsets in seconds from the start of the run."""
    offsets: np.ndarray = field(repr=False)
    """float64 ``[n_words]``: word offsets in seconds."""
    source: str = ""
    """The file it was read from (for error messages)."""

    def __len__(self) -> int:
        return len(self.words)

    @property
    def end_s(self) -> float:
        """Offset of the last word in seconds (0 for an empty transcript)."""
        return float(self.offsets.max()) if len(self.words) else 0.0

    @property
    def times(self) -> np.ndarray:
        """Word midpoints in seconds, the time each word's features are placed at."""
        return (self.onsets + self.offsets) / 2.0


def make_transcript(words: list[str], onsets: list[float] | np.ndarray, offsets: list[float] | np.ndarray,
                    source: str = "") -> Transcript:
    """Validate and normalize word timings; drops words that normalize to nothing.

    Raises :class:`ConfigError` (naming ``source``) for mismatched lengths, non-finite or
    negative times, offsets before onsets, onsets out of order, or no words at all.
    """
    on = np.asarray(onsets, dtype=np.float64)
    off = np.asarray(offsets, dtype=np.float64)
    where = f"transcript {source!r}" if source else "transcript"
    if not (len(words) == len(on) == len(off)):
        raise ConfigError(f"{where}: {len(words)} words but {len(on)} onsets and {len(off)} offsets")
    norm = [normalize_word(w) for w in words]
    keep = np.array([bool(w) for w in norm], dtype=bool)
    on, off = on[keep], off[keep]
    norm = [w for w in norm if w]
    if not norm:
        raise ConfigError(f"{where} has no words")
    if not (np.isfinite(on).all() and np.isfinite(off).all()):
        raise ConfigError(f"{where}: onsets and offsets must be finite numbers of seconds")
    if (on < 0).any():
        raise ConfigError(f"{where}: negative onset {on.min():g} s; times are seconds from the run start")
    bad = np.flatnonzero(off < on)
    if bad.size:
        raise ConfigError(f"{where}: word {norm[bad[0]]!r} ends ({off[bad[0]]:g} s) before it starts ({on[bad[0]]:g} s)")
    back = np.flatnonzero(np.diff(on) < 0)
    if back.size:
        i = back[0] + 1
        raise ConfigError(f"{where}: onsets go back in time at word {i} ({norm[i]!r} at {on[i]:g} s); sort the rows by onset")
    return Transcript(norm, on, off, source)


def read_transcript(path: str | Path) -> Transcript:
    """Read a ``.tsv`` or ``.TextGrid`` transcript (see module docstring)."""
    p = Path(path)
    if not p.is_file():
        raise ConfigError(f"transcript {str(p)!r} does not exist")
    suffix = p.suffix.lower()
    if suffix == ".tsv":
        return read_tsv(p)
    if suffix == ".textgrid":
        return read_textgrid(p)
    raise ConfigError(f"transcript {str(p)!r}: unsupported type {p.suffix!r}; use .tsv (word/onset/offset) or .TextGrid")


def read_tsv(path: str | Path) -> Transcript:
    """A TSV with a word column, ``onset`` and ``offset`` or ``duration`` (seconds)."""
    p = Path(path)
    rows = list(csv.DictReader(io.StringIO(p.read_text(encoding="utf-8-sig")), delimiter="\t"))
    cols = list(rows[0].keys()) if rows else []
    word_col = next((c for c in WORD_COLUMNS if c in cols), None)
    if word_col is None or "onset" not in cols or not ({"offset", "duration"} & set(cols)):
        raise ConfigError(f"transcript {str(p)!r} has columns {cols}; expected a word column "
                          f"({'/'.join(WORD_COLUMNS)}), 'onset', and 'offset' or 'duration' (tab-separated, with header)")
    words, on, off = [], [], []
    for i, r in enumerate(rows, 2):
        try:
            onset = float(r["onset"])
            offset = float(r["offset"]) if "offset" in cols else onset + float(r["duration"])
        except (TypeError, ValueError) as e:
            raise ConfigError(f"transcript {str(p)!r} line {i}: onset/offset must be seconds ({e})") from e
        words.append(r[word_col] or "")
        on.append(onset)
        off.append(offset)
    return make_transcript(words, on, off, str(p))


_TG_TOKEN = re.compile(r'"((?:[^"]|"")*)"|(?<![\w\[])(-?\d+(?:\.\d*)?(?:[eE][-+]?\d+)?)(?![\w\]])|(<exists>)')


def _textgrid_tokens(text: str) -> list[str | float]:
    """Strings and numbers of a TextGrid in file order; long and short formats agree."""
    text = re.sub(r"\[\s*\d*\s*\]", " ", text)  # item [1], intervals [3]: indices, not values
    out: list[str | float] = []
    for s, num, exists in _TG_TOKEN.findall(text):
        if exists:
            continue
        out.append(float(num) if num else s.replace('""', '"'))
    return out


def read_textgrid(path: str | Path, tier: str | None = None) -> Transcript:
    """Words of a Praat TextGrid's word tier (``tier``, else ``word``/``words``, else the first)."""
    p = Path(path)
    raw = p.read_bytes()
    enc = "utf-16" if raw[:2] in (b"\xff\xfe", b"\xfe\xff") else "utf-8-sig"
    try:
        tiers = _parse_textgrid(_textgrid_tokens(raw.decode(enc)))
    except (IndexError, TypeError, ValueError) as e:
        raise ConfigError(f"transcript {str(p)!r} is not a readable Praat TextGrid ({e})") from e
    names = [n for n, _ in tiers]
    if not tiers:
        raise ConfigError(f"transcript {str(p)!r} has no interval tier")
    wanted = [tier] if tier else ["word", "words"]
    chosen = next((iv for n, iv in tiers if n.lower() in wanted), None)
    if chosen is None:
        if tier:
            raise ConfigError(f"transcript {str(p)!r} has no tier {tier!r}; tiers: {names}")
        chosen = tiers[0][1]
    kept = [(a, b, t) for a, b, t in chosen if t.strip().lower() not in SILENCE and not re.fullmatch(r"[{<].*[}>]", t.strip())]
    return make_transcript([t for _, _, t in kept], [a for a, _, _ in kept], [b for _, b, _ in kept], str(p))


def _parse_textgrid(tok: list[str | float]) -> list[tuple[str, list[tuple[float, float, str]]]]:
    if len(tok) < 2 or tok[0] != "ooTextFile" or tok[1] != "TextGrid":
        raise ValueError('no "ooTextFile"/"TextGrid" header')
    i = 4  # header strings, xmin, xmax
    n_tiers = int(tok[i])
    i += 1
    tiers = []
    for _ in range(n_tiers):
        cls, name, n = str(tok[i]), str(tok[i + 1]), int(tok[i + 4])
        i += 5
        if cls == "IntervalTier":
            ivs = [(float(tok[i + 3 * k]), float(tok[i + 3 * k + 1]), str(tok[i + 3 * k + 2])) for k in range(n)]
            tiers.append((name, ivs))
            i += 3 * n
        else:  # TextTier: points (time, mark)
            i += 2 * n
    return tiers
