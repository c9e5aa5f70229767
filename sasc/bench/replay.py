"""Replay the readable ranking on finished D3 records, with no helper call.

A record keeps every candidate with its σ interval, so the form check and
:func:`sasc.readable.readable_first` can be replayed on it: the replayed record holds the
candidates in the new order, judged again. What a replay cannot redo: repairs before scoring
and the scoring of pre-screened paraphrases (both need the helper); a run with
``form_repair`` and ``readable_ranking`` does those.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from pathlib import Path

from ..form import FluencyFn, check_forms
from ..readable import readable_first
from ..results import UnitExplanation
from .d3 import TaskRecord, record_path, save_record
from .judging import judge_candidates, recovers
from .tasks import D3Task


def replay_readable(record: TaskRecord, fluency: FluencyFn | None = None) -> TaskRecord:
    """``record`` with a form check on each candidate and the readable ranking applied, judged
    again (similarity is kept: it is the σ winner's unless the winner moved, then NaN)."""
    unit = UnitExplanation.from_dict(record.unit)
    forms = check_forms([c.explanation for c in unit.candidates], fluency)
    cands = [dataclasses.replace(c, form=f) for c, f in zip(unit.candidates, forms)]
    scored = [c for c in cands if c.score.n_related]
    order, moved = readable_first(scored)
    unit = dataclasses.replace(unit, candidates=order + [c for c in cands if not c.score.n_related],
                               reranked_from=moved)
    expl = [c.explanation for c in unit.candidates]
    top1, any_c = judge_candidates(expl, record.check_regex)
    return dataclasses.replace(
        record, explanations=expl, sigmas=[c.score.sigma for c in unit.candidates],
        matches=[recovers(e, record.check_regex) for e in expl], top1=top1, any_candidate=any_c,
        similarity=float("nan") if moved else record.similarity, unit=dataclasses.asdict(unit))


def replay_folder(records: Sequence[TaskRecord], out: str | Path, fluency: FluencyFn | None = None) -> list[TaskRecord]:
    """:func:`replay_readable` of each record, written under ``out/records`` as a D3 run writes them."""
    done = []
    for r in records:
        new = replay_readable(r, fluency)
        task = D3Task(r.index, r.task, r.task, r.keyphrase, r.check_regex, None)
        save_record(record_path(Path(out), r.setting, r.seed, task), new)
        done.append(new)
    return done
