"""Scoring explanations of a module's unit on its scoring set: explanations written by anyone
(``sasc score``), or every candidate of an explain result (``sasc explain --scorers``)."""

from __future__ import annotations

import dataclasses
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from .._version import __version__
from ..corpora import DEFAULT_REFERENCE, Corpus, load_corpus
from ..errors import ConfigError
from ..explain import resolve_helper, select_units
from ..llm.base import HelperLLM
from ..modules.base import as_bank, module_name
from ..modules.registry import module_from_spec
from ..results import ExplainResult
from . import SCORERS, ScoreConfig, ScoringSet, check_explanation, draw_set, parse_scorers, score_on_set


def _load(module: Any, corpus: Any, helper: Any, config: ScoreConfig, cache_dir: Any) -> tuple[Any, Corpus, HelperLLM]:
    parse_scorers(config.scorers)  # unknown names fail before anything loads
    bank = as_bank(module_from_spec(module) if isinstance(module, (str, dict)) else module)
    return bank, load_corpus(corpus), resolve_helper(helper, cache_dir)


def draw_prepared_set(bank: Any, col: int, corpus: Corpus, config: ScoreConfig, seen: Sequence[str] = (),
                      pool_cache: dict | None = None) -> ScoringSet:
    """The scoring set of unit ``col``, with what each chosen scorer's ``prepare`` adds (fuzzing:
    each text's top n-grams); ``seen``: n-grams the summaries saw, whose texts are kept out;
    ``pool_cache``: as :func:`~sasc.scorers.sets.draw_set`'s, kept across calls for one bank."""
    return draw_prepared_sets(bank, [col], corpus, config, [seen], pool_cache)[0]


def draw_prepared_sets(bank: Any, cols: Sequence[int], corpus: Corpus, config: ScoreConfig,
                       seen: Sequence[Sequence[str]], pool_cache: dict | None = None) -> list[ScoringSet]:
    """:func:`draw_prepared_set` for many units (``seen[i]`` for unit ``cols[i]``); a scorer with
    ``prepare_many`` prepares all the sets at once (ablation: the units' mean ablations share
    forward passes)."""
    pools: dict = {} if pool_cache is None else pool_cache  # units that draw the same pool share its module pass
    sets = [draw_set(bank, col, corpus.texts, config.set, corpus.name, s, pools) for col, s in zip(cols, seen)]
    for name in parse_scorers(config.scorers):
        scorer = SCORERS.get(name)
        if callable(getattr(scorer, "prepare_many", None)):
            sets = scorer.prepare_many(sets, bank, list(cols))
        elif callable(getattr(scorer, "prepare", None)):
            sets = [scorer.prepare(s, bank, col) for s, col in zip(sets, cols)]
    return sets


def score_explanations(module: Any, explanations: Sequence[str], *, unit: str | int = 0,
                       corpus: str | Path | list[str] | Corpus = DEFAULT_REFERENCE, helper: str | HelperLLM = "local",
                       config: ScoreConfig = ScoreConfig(), cache_dir: str | Path | None = None) -> dict[str, Any]:
    """Score ``explanations`` of one ``unit`` (name or index) of ``module`` (object or spec) with
    ``config.scorers`` on a scoring set drawn from ``corpus``. Returns a JSON-ready report: the
    module, unit, helper, the scoring set (texts, true responses, how drawn), per explanation its
    ``scores`` map, helper usage and seconds. Bad explanations and unknown scorers fail first."""
    for e in explanations:
        check_explanation(e)
    if not explanations:
        raise ConfigError("no explanation to score: pass at least one")
    bank, corp, llm = _load(module, corpus, helper, config, cache_dir)
    col = select_units(list(bank.units), [unit])[0]
    t0 = time.perf_counter()
    sset = draw_prepared_set(bank, col, corp, config)
    t1 = time.perf_counter()
    scores = score_on_set(explanations, sset, str(bank.units[col]), llm, config)
    t2 = time.perf_counter()
    usage = llm.usage.snapshot() if hasattr(llm, "usage") else None
    return {"module": module_name(bank), "unit": str(bank.units[col]), "helper": llm.name,
            "scorers": list(parse_scorers(config.scorers)), "sampled": config.sampled, "seed": config.seed,
            "scoring_set": sset.to_dict(),
            "explanations": [{"explanation": e.strip(), "scores": {k: v.to_dict() for k, v in s.items()}}
                             for e, s in zip(explanations, scores)],
            "usage": dataclasses.asdict(usage) if usage is not None else {},
            "timings": {"set_s": t1 - t0, "score_s": t2 - t1}, "sasc_version": __version__}


def add_scores(result: ExplainResult, module: Any, *, corpus: str | Path | list[str] | Corpus = DEFAULT_REFERENCE,
               helper: str | HelperLLM = "local", config: ScoreConfig = ScoreConfig(),
               cache_dir: str | Path | None = None, rank_by: str = "sigma") -> ExplainResult:
    """``result`` with every scored candidate's ``scores`` filled and each unit's ``scoring_set``
    recorded; ``rank_by`` (``sigma`` or a scorer in ``config.scorers``) orders the candidates
    (undefined scores last; unscored candidates stay last)."""
    names = parse_scorers(config.scorers)
    if rank_by != "sigma" and rank_by not in names:
        raise ConfigError(f"--rank-by {rank_by!r} is not among the scorers asked for: sigma, {', '.join(names)}")
    bank, corp, llm = _load(module, corpus, helper, config, cache_dir)
    before = llm.usage.snapshot() if hasattr(llm, "usage") else None
    units = []
    cols = [select_units(list(bank.units), [u.unit])[0] for u in result.units]
    # the texts the candidates are scored on stay apart from the n-grams their summaries saw
    n_seen = int(result.config.get("n_top_considered", 50))
    sets = draw_prepared_sets(bank, cols, corp, config, [[t.ngram for t in u.top_ngrams[:n_seen]] for u in result.units])
    for u, sset in zip(result.units, sets):
        scored = [c for c in u.candidates if c.score.n_related]
        others = [v.best.explanation for v in result.units if v.unit != u.unit and v.best is not None]
        per = score_on_set([c.explanation for c in scored], sset, u.unit, llm, config, others) if scored else []
        by = {id(c): {k: v.to_dict() for k, v in s.items()} for c, s in zip(scored, per)}
        cands = [dataclasses.replace(c, scores=by[id(c)]) if id(c) in by else c for c in u.candidates]
        if rank_by != "sigma":
            cands = sorted(cands[:len(scored)], key=lambda c: _rank_key(c, rank_by)) + cands[len(scored):]
        units.append(dataclasses.replace(u, candidates=cands, scoring_set=sset.to_dict()))
    spent = {}
    if before is not None:
        after = dataclasses.asdict(llm.usage.snapshot())
        spent = {k: v - dataclasses.asdict(before)[k] for k, v in after.items()}
    extra = {"scorers": names, "rank_by": rank_by, "sampled": config.sampled, "set": dataclasses.asdict(config.set),
             "baseline": config.baseline, "seed": config.seed}
    return dataclasses.replace(result, units=units, config={**result.config, "predictive": extra},
                               usage={**result.usage, "scoring": spent})


def _rank_key(c: Any, name: str) -> float:
    v = (c.scores.get(name) or {}).get("value")
    return -v if v is not None and np.isfinite(v) else np.inf
