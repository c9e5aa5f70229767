"""The D3 benchmark's tasks and corpora, read from a data folder (never bundled).

The folder (``../shared/d3`` in development and CI) holds ``tasks.json`` and
``corpora/d3_<index>.csv`` (columns ``input,label``). Tasks without a corpus file use
the *pooled corpus*: every available task corpus concatenated in task order.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from pathlib import Path

from ..corpora import load_corpus
from ..errors import ConfigError, CorpusError

DEFAULT_DATA = Path("..") / "shared" / "d3"
"""Where the data lives relative to the repository root in development and CI."""


@dataclass(frozen=True)
class D3Task:
    """One synthetic module of the benchmark."""

    index: int
    """Task number 0..53."""
    task: str
    """Task id, e.g. ``"d3_0_irony"``."""
    name: str
    """Short name, e.g. ``"irony"``."""
    keyphrase: str
    """Ground-truth explanation the module is built from (used by the module and the judge only)."""
    check_regex: str
    """Case-insensitive regex; an explanation recovers the module when it matches."""
    corpus_file: str | None
    """Path of the task's own corpus, or None when the task uses the pooled corpus."""


def load_tasks(data: str | Path = DEFAULT_DATA) -> list[D3Task]:
    """All tasks in ``data/tasks.json``, in index order.

    Raises :class:`CorpusError` when the folder or ``tasks.json`` is missing or malformed.
    """
    root = Path(data)
    path = root / "tasks.json"
    if not path.is_file():
        raise CorpusError(f"no D3 data at {str(root)!r}: expected {str(path)!r} (pass --data PATH)")
    try:
        rows = json.loads(path.read_text(encoding="utf-8"))
        tasks = [D3Task(int(r["index"]), str(r["task"]), str(r["name"]), str(r["groundtruth_explanation"]),
                        str(r["check_regex"]), _corpus_file(root, int(r["index"]))) for r in rows]
    except (ValueError, KeyError, TypeError) as e:
        raise CorpusError(f"{str(path)!r} is not a D3 task list (need index, task, name, "
                          f"groundtruth_explanation, check_regex per entry): {e}") from e
    for t in tasks:
        try:
            re.compile(t.check_regex)
        except re.error as e:
            raise CorpusError(f"task {t.task}: check_regex {t.check_regex!r} is not a regex: {e}") from e
    return sorted(tasks, key=lambda t: t.index)


def _corpus_file(root: Path, index: int) -> str | None:
    p = root / "corpora" / f"d3_{index}.csv"
    return str(p) if p.is_file() else None


def select_tasks(tasks: list[D3Task], indices: list[int] | None) -> list[D3Task]:
    """The tasks with the given indices (None: all), in the order given."""
    if indices is None:
        return list(tasks)
    by_index = {t.index: t for t in tasks}
    missing = [i for i in indices if i not in by_index]
    if missing:
        raise ConfigError(f"unknown D3 task index(es) {missing}; known: {min(by_index)}..{max(by_index)}")
    return [by_index[i] for i in indices]


class D3Corpora:
    """Corpus texts per task, read lazily and kept in memory."""

    def __init__(self, tasks: list[D3Task], max_texts: int | None = None):
        if max_texts is not None and max_texts < 1:
            raise ConfigError(f"max_texts must be >= 1 or None, got {max_texts}")
        self.tasks = sorted(tasks, key=lambda t: t.index)
        self.max_texts = max_texts
        self._texts: dict[str, list[str]] = {}
        self._pooled: list[str] | None = None

    def file_texts(self, path: str) -> list[str]:
        """The ``input`` column of one corpus file (its first ``max_texts`` rows when set)."""
        if path not in self._texts:
            self._texts[path] = load_corpus(path, column="input").texts[: self.max_texts]
        return self._texts[path]

    def pooled(self) -> list[str]:
        """Every available task corpus concatenated in task order."""
        if self._pooled is None:
            self._pooled = [x for t in self.tasks if t.corpus_file for x in self.file_texts(t.corpus_file)]
            if not self._pooled:
                raise CorpusError("no D3 corpus file found, so there is no pooled corpus")
        return self._pooled

    def texts(self, task: D3Task) -> list[str]:
        """The task's reference corpus (its own file, else the pooled corpus)."""
        return self.file_texts(task.corpus_file) if task.corpus_file else self.pooled()

    def source(self, task: D3Task) -> str:
        """Human-readable name of the task's corpus."""
        return Path(task.corpus_file).name if task.corpus_file else "pooled"


def restricted_partner(tasks: list[D3Task], task: D3Task) -> D3Task:
    """The task whose corpus supplies ``task``'s n-grams in the restricted-corpus setting.

    The paper's rule: the next task (index + 1, wrapping around), skipping tasks without
    a corpus file of their own (their pooled corpus would contain the task's own texts).
    As in the paper, the neighbour is sometimes another labeling of the same dataset.
    """
    ordered = sorted(tasks, key=lambda t: t.index)
    pos = next(i for i, t in enumerate(ordered) if t.index == task.index)
    for step in range(1, len(ordered)):
        cand = ordered[(pos + step) % len(ordered)]
        if cand.corpus_file and cand.corpus_file != task.corpus_file:
            return cand
    raise ConfigError(f"no other task's corpus to restrict task {task.task} to")
