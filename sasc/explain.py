"""The whole SASC pipeline: n-gram responses -> summaries -> synthetic scoring."""

from __future__ import annotations

import dataclasses
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

import numpy as np

from ._version import __version__
from .cache import ResponseCache, default_cache_dir
from .cancel import carry
from .config import ExplainConfig
from .corpora import DEFAULT_GENERIC, DEFAULT_REFERENCE, Corpus, load_corpus, sample_texts
from .errors import ConfigError
from .explainers import EXPLAINERS, UnitEvidence
from .form import check_forms, fluency_scorer
from .jsonio import strict
from .llm.base import HelperLLM, helper_slots, map_slots
from .modules.base import as_bank, bank_column, check_finite, module_name, to_response_array
from .modules.registry import module_from_spec
from .ngrams import NgramTable, count_ngrams
from .progress import ProgressEvent, ProgressFn, no_progress
from .readable import paraphrases_to_score, readable_first, repair_candidates, screen_values
from .responses import ResponseTable, ShardRunner, ngram_responses
from .results import ExplainResult, ScoredCandidate, TopNgram, UnitExplanation
from .scoring import intervals_overlap, score_sigma, top_k_indices, unscored_score
from .summarize import OUTPUT_STYLE, Candidate, output_words, summarize
from .synthetic import dedupe_texts, synthetic_texts


class UnitRunner(Protocol):
    """A backend for the per-unit stage (summaries + synthetic scoring), e.g. Ray tasks."""

    def map_units(self, bank: Any, table: NgramTable, values: np.ndarray, generic_values: np.ndarray,
                  helper: Any, config: ExplainConfig, cols: Sequence[int]) -> Iterable[UnitExplanation]:
        """:func:`explain_unit` for each column in ``cols``, yielded in that order.

        ``values``: n-gram responses ``[n_ngrams, n_units]``; ``generic_values``: ``[n_generic, n_units]``.
        """
        ...


def resolve_helper(helper: str | HelperLLM, cache_dir: str | Path | None = None,
                   model_cache_dir: str | Path | None = None, reply_dir: str | Path | None = None) -> HelperLLM:
    """A helper LLM object, or a spec string for :func:`sasc.llm.build_helper`.

    ``cache_dir``: root of the reply cache (replies go in ``llm/`` under it, or in ``reply_dir``
    when given); ``model_cache_dir``: where assembled GGUFs live (default ``~/.cache/sasc/models``).
    """
    if isinstance(helper, str):
        from .llm import build_helper

        root = Path(cache_dir) if cache_dir is not None else default_cache_dir()
        # replies live under cache_dir; assembled models stay in the shared model cache, so a
        # fresh cache_dir never re-downloads a 1 GB GGUF
        replies = Path(reply_dir) if reply_dir is not None else root / "llm"
        return build_helper(helper, cache_dir=replies, model_cache_dir=model_cache_dir)
    if not hasattr(helper, "complete"):
        raise ConfigError(f"{helper!r} is not a helper LLM (needs .name and .complete)")
    if hasattr(helper, "usage"):
        return helper
    from .llm import wrap_helper

    return wrap_helper(helper, None)  # retries, deadline and usage counts; replies cached in memory only


def select_units(all_units: Sequence[str], units: Sequence[str | int] | None) -> list[int]:
    """Column indices for ``units`` given as names or indices (None: all)."""
    if units is None:
        return list(range(len(all_units)))
    index = {u: i for i, u in enumerate(all_units)}
    out = []
    for u in units:
        if isinstance(u, (int, np.integer)) and not isinstance(u, bool):
            if not 0 <= u < len(all_units):
                raise ConfigError(f"unit index {u} out of range: the module has {len(all_units)} units")
            out.append(int(u))
        elif u in index:
            out.append(index[u])
        else:
            shown = ", ".join(list(all_units)[:10])
            raise ConfigError(f"unknown unit {u!r}; the module's units include: {shown}")
    if not out:
        raise ConfigError("no units selected")
    return out


def explain_unit(bank: Any, col: int, table: NgramTable, values: np.ndarray, generic_values: np.ndarray,
                 helper: HelperLLM, config: ExplainConfig, progress: ProgressFn = no_progress,
                 generic_texts: Sequence[str] = ()) -> UnitExplanation:
    """Summarize and score one unit given its n-gram responses ``values`` ``[n_ngrams]``.

    ``progress`` receives ``"summarize"`` and ``"score"`` (one step per candidate scored) events.
    Every candidate's explanation text is also scored by the module itself
    (``direct_response``); with ``config.direct_screen``, only that many candidates, those with
    the highest direct responses, get synthetic texts, and the rest follow them unscored (the
    explainer method's own candidates and the summary of output-side evidence are always scored). With
    ``config.n_tiebreak``, the two best candidates get more synthetic texts when their σ
    intervals overlap (see :func:`more_evidence`). Independent helper calls go out together, as
    many at once as the helper has slots (:func:`~sasc.llm.base.helper_slots`): the summaries, then
    the kept candidates' synthetic texts; every call has its own seed, so the result is the same
    for any number of slots with a helper whose replies depend only on the request. What cleaning
    repaired or dropped is counted in ``cleaning``. With ``config.form_repair``, candidates are
    repaired before anything is scored (listed in ``repairs``); with ``config.readable_ranking``,
    a winner that fails the form check gives way to a readable one σ cannot tell from it (see
    :mod:`sasc.readable`).
    """
    top = top_k_indices(values, max(config.n_top_reported, config.n_top_considered))
    top_ngrams = [TopNgram(table.ngrams[i], float(values[i]), int(table.counts[i])) for i in top]
    ranked = [t.ngram for t in top_ngrams]
    progress(ProgressEvent("summarize", 0, 1, str(bank.units[col])))
    cleaning: Counter[str] = Counter()
    evidence: dict[str, Any] = {}
    if config.evidence == "output":  # what the unit makes the model say, on the texts it responds to most
        evidence = {k: [list(p) for p in v] if isinstance(v, list) else v
                    for k, v in bank.output_evidence(col, ranked[: config.n_top_considered]).items()}
    cands = summarize(helper, ranked, n_candidates=config.n_candidates, n_top=config.n_top_considered,
                      n_pick=config.n_per_summary, sampling=config.summary_sampling, seed=config.seed,
                      styles=config.summary_styles, counts=cleaning, output=output_words(evidence))
    progress(ProgressEvent("summarize", 1, 1, f"{len(cands)} candidates"))
    # the method's own candidates (sasc.explainers) come first and are always scored
    unit = UnitEvidence(bank, col, table, values, top, generic_values, generic_texts)
    found, experiment = EXPLAINERS.get(config.method)(unit, [c.explanation for c in cands], helper, config, progress)
    found = [dataclasses.replace(c, style=config.method) for c in found]
    seen = {c.explanation.strip().lower() for c in found}
    cands = found + [c for c in cands if c.explanation.strip().lower() not in seen]
    # sources: the texts each candidate was repaired from, which the pre-screen ranks it by too
    cands, repairs, sources = (repair_candidates(cands) if config.form_repair
                               else (cands, [], [[] for _ in cands]))
    if repairs:
        cleaning["summary.form_repaired"] += len(repairs)
    forms = check_forms([c.explanation for c in cands], fluency_scorer(config.fluency_model))
    direct = bank_column(bank, [c.explanation for c in cands], col)
    screen = screen_values(direct, sources, lambda texts: bank_column(bank, texts, col))
    # always scored (after repairs, which may merge two): the method's own candidates, and the summary of
    # output-side evidence, whose words (what the unit makes the model say) the unit need not respond to
    # (the latter also takes no place among the summaries the screen keeps)
    forced = {i for i, c in enumerate(cands) if (found and c.style == config.method) or c.style == OUTPUT_STYLE}
    screened = [i for i, c in enumerate(cands) if c.style != OUTPUT_STYLE]
    keep = sorted({screened[j] for j in direct_screen(np.asarray(screen)[screened], config.direct_screen)} | forced)
    counts = [Counter() for _ in keep]  # one per candidate: they are scored in parallel threads
    started = iter(range(len(keep)))
    lock = threading.Lock()

    def score(j: int) -> ScoredCandidate:
        i = keep[j]
        with lock:  # one event at a time, whichever thread sends it
            progress(ProgressEvent("score", next(started), len(keep), cands[i].explanation))
        c = score_candidate(bank, col, cands[i], generic_values, helper, config, float(direct[i]), counts[j])
        return dataclasses.replace(c, form=forms[i])

    scored = map_slots(helper, score, range(len(keep)))
    progress(ProgressEvent("score", len(keep), len(keep)))
    scored.sort(key=_by_sigma)
    if config.n_tiebreak and len(scored) >= 2 and intervals_overlap(scored[0].score, scored[1].score):
        more = [Counter(), Counter()]
        scored[:2] = map_slots(helper, lambda j: more_evidence(bank, col, scored[j], generic_values, helper, config,
                                                               more[j]), range(2))
        counts += more
        scored.sort(key=_by_sigma)
    rest = sorted(set(range(len(cands))) - set(keep), key=lambda i: -screen[i])
    moved_from = ""
    if config.readable_ranking and scored:
        extra = paraphrases_to_score(scored[0], [(i, cands[i].explanation, forms[i]) for i in rest])
        if extra:
            keep, rest = keep + extra, [i for i in rest if i not in extra]
            counts += [Counter() for _ in extra]
            started = iter(range(len(keep) - len(extra), len(keep)))
            scored = sorted(scored + map_slots(helper, score, range(len(keep) - len(extra), len(keep))), key=_by_sigma)
        scored, moved_from = readable_first(scored)
    for c in counts:
        cleaning.update(c)
    unscored = [ScoredCandidate(cands[i].explanation, unscored_score(len(generic_values)), cands[i].ngrams, [], [],
                                direct_response=float(direct[i]), form=forms[i], style=cands[i].style)
                for i in rest]
    return UnitExplanation(bank.units[col], top_ngrams[: config.n_top_reported], scored + unscored,
                           dict(sorted(cleaning.items())), repairs=repairs, reranked_from=moved_from,
                           output_evidence=evidence, experiment=experiment)


def direct_screen(direct: np.ndarray, n_keep: int) -> list[int]:
    """Indices of the candidates to score: the ``n_keep`` highest direct responses, in candidate
    order (ties: the earlier candidate); every index when ``n_keep`` is 0 or not below their number."""
    if not 0 < n_keep < len(direct):
        return list(range(len(direct)))
    return sorted(np.argsort(-np.asarray(direct), kind="stable")[:n_keep].tolist())


TIEBREAK_SEED = 1000
"""Added to the synthetic sampling seed for tie-break texts, so they differ from the first ones."""


def _by_sigma(c: ScoredCandidate) -> float:
    return -c.score.sigma if np.isfinite(c.score.sigma) else np.inf


def score_candidate(bank: Any, col: int, cand: Candidate, generic_values: np.ndarray, helper: HelperLLM,
                    config: ExplainConfig, direct_response: float = float("nan"),
                    counts: Counter[str] | None = None) -> ScoredCandidate:
    """``cand`` scored on ``config.n_synthetic`` synthetic texts (and ``config.n_unrelated`` unrelated ones);
    ``counts`` tallies the synthetic texts dropped (see :func:`~sasc.synthetic.parse_list`)."""
    related = synthetic_texts(helper, cand.explanation, config.n_synthetic, related=True,
                              sampling=config.synthetic_sampling, style=config.synthetic_style, counts=counts)
    unrelated = synthetic_texts(helper, cand.explanation, config.n_unrelated, related=False,
                                sampling=config.synthetic_sampling, counts=counts)
    r = bank_column(bank, related, col)
    u = bank_column(bank, unrelated, col)
    score = score_sigma(r, generic_values, u, n_boot=config.n_bootstrap, seed=config.seed)
    return ScoredCandidate(cand.explanation, score, cand.ngrams, related, unrelated, [float(x) for x in r],
                           direct_response, style=cand.style)


def more_evidence(bank: Any, col: int, cand: ScoredCandidate, generic_values: np.ndarray, helper: HelperLLM,
                  config: ExplainConfig, counts: Counter[str] | None = None) -> ScoredCandidate:
    """``cand`` rescored with ``config.n_tiebreak`` more synthetic texts (new seeds; repeats dropped)."""
    extra = synthetic_texts(helper, cand.explanation, config.n_tiebreak, related=True,
                            sampling=config.synthetic_sampling.seeded(TIEBREAK_SEED), style=config.synthetic_style,
                            counts=counts)
    new = dedupe_texts(cand.related_texts + extra, counts)[len(cand.related_texts):]
    if not new:
        return cand
    related = [*cand.related_responses, *(float(x) for x in bank_column(bank, new, col))]
    score = score_sigma(np.asarray(related), generic_values, bank_column(bank, cand.unrelated_texts, col),
                        n_boot=config.n_bootstrap, seed=config.seed)
    return dataclasses.replace(cand, score=score, related_texts=cand.related_texts + new, related_responses=related)


def explain(
    module: Any,
    *,
    units: Sequence[str | int] | None = None,
    corpus: str | Path | list[str] | Corpus = DEFAULT_REFERENCE,
    generic: str | Path | list[str] | Corpus = DEFAULT_GENERIC,
    helper: str | HelperLLM = "local",
    config: ExplainConfig = ExplainConfig(),
    cache_dir: str | Path | ResponseCache | None = None,
    runner: ShardRunner | None = None,
    concurrency: int = 1,
    progress: ProgressFn = no_progress,
    finished: Mapping[int, UnitExplanation] | None = None,
    on_unit: Callable[[int, UnitExplanation], None] | None = None,
    unit_runner: UnitRunner | None = None,
) -> ExplainResult:
    """Explain units of a text module in natural language (SASC).

    Args:
        module: a module object (callable or bank) or a spec string such as
            ``"embedding_distance:keyphrase=food"``.
        units: unit names or column indices to explain (default: all).
        corpus: reference corpus (n-grams come from it): built-in name, path, or texts.
        generic: generic corpus for the σ baseline: built-in name, path, or texts.
        helper: helper LLM object or spec (``"local"``, ``"openai:MODEL"``, ``"fake"``...).
        config: explanation settings.
        cache_dir: root of the response and reply caches (default ``~/.cache/sasc``), or a
            :class:`~sasc.cache.ResponseCache` (e.g. a bounded one; replies then go under its root).
        runner: backend for the n-gram stage (default: this process).
        concurrency: units explained at once; 0 or less: as many as the helper has slots
            (:func:`~sasc.llm.base.helper_slots`). Within a unit, independent helper calls
            run at once anyway.
        progress: callback receiving :class:`~sasc.progress.ProgressEvent`.
        finished: units already explained by an interrupted run, by column index; they
            are reused as they are (a service resumes a job this way).
        on_unit: called as ``on_unit(col, explanation)`` when a unit is finished, e.g. to
            persist it.
        unit_runner: backend for the per-unit stage (default: this process, ``concurrency``
            threads), e.g. :class:`sasc.distributed.RayUnitRunner`.

    Returns:
        An :class:`~sasc.results.ExplainResult` with candidates ranked by σ per unit.
    """
    timings: dict[str, float] = {}
    t = time.perf_counter()
    bank = as_bank(module_from_spec(module) if isinstance(module, str) else module)
    cols = select_units(bank.units, units)
    if config.evidence == "output" and not callable(getattr(bank, "output_evidence", None)):
        raise ConfigError("--evidence output needs units inside a causal LM (llm_neuron, llm_direction); "
                          f"module {module_name(bank)!r} has none")
    cache = cache_dir if isinstance(cache_dir, ResponseCache) else ResponseCache(cache_dir)
    llm = resolve_helper(helper, cache.root)
    ref = load_corpus(corpus)
    gen = load_corpus(generic)
    progress(ProgressEvent("ngrams", 0, 1))
    table = count_ngrams(ref.texts, config.ngrams)
    progress(ProgressEvent("ngrams", 1, 1, f"{len(table)} unique n-grams"))
    timings["setup_s"] = time.perf_counter() - t
    resp = ngram_responses(bank, table, cache=cache, shard_size=config.shard_size,
                           runner=runner, progress=progress)
    timings["responses_s"] = resp.seconds
    t = time.perf_counter()
    generic_texts = sample_texts(gen.texts, config.n_generic, config.seed)
    gvals = to_response_array(bank.responses(generic_texts), len(generic_texts), module_name(bank), len(bank.units))
    check_finite(gvals, generic_texts, module_name(bank))
    if concurrency < 1:
        concurrency = helper_slots(llm)
    stage = _UnitStage(bank, table, resp, gvals, llm, config, tuple(generic_texts))
    results = _explain_units(stage, cols, concurrency=concurrency, progress=progress, finished=finished or {},
                             on_unit=on_unit, unit_runner=unit_runner)
    timings["explain_s"] = time.perf_counter() - t
    return _assemble(stage, ref, gen, generic_texts, results, timings)


@dataclass(frozen=True)
class _UnitStage:
    """What the per-unit stage reads for every unit (the arguments of :meth:`UnitRunner.map_units`)."""

    bank: Any
    """The module bank."""
    table: NgramTable
    """The reference corpus's n-grams."""
    responses: ResponseTable
    """The bank's responses to them, ``values [n_ngrams, n_units]``."""
    generic_values: np.ndarray
    """Responses to the generic sample, ``[n_generic, n_units]``."""
    helper: HelperLLM
    """The wrapped helper LLM."""
    config: ExplainConfig
    """The explanation settings."""
    generic_texts: tuple[str, ...] = ()
    """The generic sample's texts (the iterative explainer shows those a unit responds to most)."""


def _explain_units(stage: _UnitStage, cols: Sequence[int], *, concurrency: int, progress: ProgressFn,
                   finished: Mapping[int, UnitExplanation], on_unit: Callable[[int, UnitExplanation], None] | None,
                   unit_runner: UnitRunner | None) -> list[UnitExplanation]:
    done = 0
    bank = stage.bank
    progress(ProgressEvent("explain", 0, len(cols)))
    if unit_runner is not None:
        return _run_units(unit_runner, stage, cols, progress, finished, on_unit)

    inner = progress if len(cols) == 1 else no_progress  # per-candidate steps only make sense for one unit

    def one(col: int) -> UnitExplanation:
        if finished and col in finished:
            return finished[col]
        unit = explain_unit(bank, col, stage.table, np.asarray(stage.responses.values[:, col]),
                            stage.generic_values[:, col], stage.helper, stage.config, inner, stage.generic_texts)
        if on_unit is not None:
            on_unit(col, unit)
        return unit

    results: list[UnitExplanation] = []
    if concurrency <= 1:
        for col in cols:
            results.append(one(col))
            done += 1
            progress(ProgressEvent("explain", done, len(cols), bank.units[col]))
        return results
    with ThreadPoolExecutor(max_workers=concurrency) as pool:
        for col, res in zip(cols, pool.map(carry(one), cols)):  # a job's stop check goes along
            results.append(res)
            done += 1
            progress(ProgressEvent("explain", done, len(cols), bank.units[col]))
    return results


def _run_units(unit_runner: UnitRunner, stage: _UnitStage, cols: Sequence[int], progress: ProgressFn,
               finished: Mapping[int, UnitExplanation],
               on_unit: Callable[[int, UnitExplanation], None] | None) -> list[UnitExplanation]:
    """The per-unit stage on a :class:`UnitRunner`; finished units are reused, not resubmitted."""
    fresh = iter(unit_runner.map_units(stage.bank, stage.table, stage.responses.values, stage.generic_values,
                                       stage.helper, stage.config, [c for c in cols if c not in finished]))
    results: list[UnitExplanation] = []
    try:
        for col in cols:
            if col in finished:
                unit = finished[col]
            else:
                unit = next(fresh)
                if on_unit is not None:
                    on_unit(col, unit)
            results.append(unit)
            progress(ProgressEvent("explain", len(results), len(cols), stage.bank.units[col]))
    finally:
        if hasattr(fresh, "close"):  # a cancel or an error: let the runner stop its queued work
            fresh.close()
    return results


def _assemble(stage: _UnitStage, ref: Corpus, gen: Corpus, generic_texts: Sequence[str],
              results: list[UnitExplanation], timings: dict[str, float]) -> ExplainResult:
    bank, llm, table, resp, config = stage.bank, stage.helper, stage.table, stage.responses, stage.config
    usage = llm.usage.snapshot() if hasattr(llm, "usage") else None
    return ExplainResult(
        units=results,
        module={"name": module_name(bank), "kind": getattr(bank, "kind", type(bank).__name__),
                "fingerprint": getattr(bank, "fingerprint", None), "n_units": len(bank.units)},
        helper=llm.name,
        reference_corpus={"name": ref.name, "source": ref.source, "fingerprint": table.corpus_fingerprint,
                          "n_texts": len(ref), "n_words": table.n_words, "n_ngrams": len(table),
                          "response_cache_key": resp.cache_key, "responses_from_cache": resp.from_cache},
        generic_corpus={"name": gen.name, "source": gen.source, "n_texts_used": len(generic_texts)},
        config=strict(dataclasses.asdict(config)),  # JSON types: the tuple of styles is a list, as read back
        usage=dataclasses.asdict(usage) if dataclasses.is_dataclass(usage) else (usage or {}),
        timings=timings,
        sasc_version=__version__,
    )
