"""The D3 synthetic-module benchmark (SASC paper, section 3), resumable task by task.

Each (setting, seed, task) run explains one column of the D3 bank (see
:mod:`sasc.bench.responses`) with :func:`sasc.explain_unit` and is judged against the
task's regex. Settings:

* ``default``: n-grams from the task's own corpus;
* ``restricted``: n-grams only from another task's corpus (:func:`restricted_partner`);
* ``noisy``: Gaussian noise of 3x the std of the top-100 n-gram responses added to the
  n-gram responses (:func:`~sasc.bench.judging.noisy_responses`); synthetic texts are
  scored by the clean module, as in the paper's code.

The keyphrase and regex are used only by the module and the judge. Every finished run
is written to ``<out>/records/<setting>/seed<k>/<task>.json`` before the next starts; a
rerun with the same settings loads those records instead of running them again.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from ..cache import ResponseCache
from ..config import ExplainConfig
from ..corpora import DEFAULT_GENERIC, load_corpus, sample_texts
from ..errors import ConfigError
from ..explain import explain_unit
from ..form import FORM_VERSION
from ..jsonio import dumps, nan_if_none
from ..llm.base import HelperLLM, sampling_key
from ..modules.base import to_response_array
from ..options import NO_LEGACY, option_fields
from ..progress import ProgressEvent, ProgressFn, no_progress
from ..summarize import CLEANING_VERSION, summary_prompt
from ..synthetic import RETRY_POLICY, sentences_schema, style_parts, synthetic_prompt
from .judging import judge_candidates, noisy_responses, recovers
from .parallel import run_in_workers
from .responses import D3Responses, d3_bank
from .similarity import SimilarityJudge
from .tasks import D3Corpora, D3Task, restricted_partner

SETTINGS = ("default", "restricted", "noisy")
"""The paper's three settings."""


def check_settings(settings: Sequence[str]) -> tuple[str, ...]:
    """``settings`` as a tuple; raises :class:`ConfigError` when empty or naming one not in :data:`SETTINGS`."""
    settings = tuple(settings)
    bad = [s for s in settings if s not in SETTINGS]
    if bad or not settings:
        raise ConfigError(f"unknown D3 setting(s) {bad or '(none)'}; accepted: {', '.join(SETTINGS)}")
    return settings


@dataclass(frozen=True)
class D3Options:
    """Benchmark settings besides the explanation config."""

    settings: tuple[str, ...] = SETTINGS
    """Which settings to run, among :data:`SETTINGS`."""
    seeds: tuple[int, ...] = (0,)
    """Seeds; each seeds the explanation config (and the noise draw)."""
    noise_scale: float = 3.0
    """Noisy module: noise std in units of the std of the top n-gram responses (paper: 3)."""
    noise_top: int = 100
    """Noisy module: how many top n-gram responses set the noise std (paper: 100)."""
    shared_responses: bool = True
    """Read every corpus's n-gram responses from one pooled-corpus table (see responses.py)."""
    max_corpus_texts: int | None = None
    """Use only the first N texts of each corpus file (None: all); for smoke tests."""

    def __post_init__(self) -> None:
        check_settings(self.settings)
        if not self.seeds:
            raise ConfigError("at least one seed is needed")


@dataclass(frozen=True)
class TaskRecord:
    """One judged run of one task in one setting with one seed."""

    task: str
    """Task id, e.g. ``"d3_0_irony"``."""
    index: int
    """Task index."""
    setting: str
    """``default``, ``restricted`` or ``noisy``."""
    seed: int
    """Seed of the run."""
    keyphrase: str
    """Ground truth (judge only)."""
    check_regex: str
    """The task's regex (judge only)."""
    corpus: str
    """Reference corpus the n-grams came from (the partner's in the restricted setting)."""
    n_ngrams: int
    """Unique n-grams scored."""
    explanations: list[str]
    """Candidates ranked by σ, best first."""
    sigmas: list[float]
    """σ of each candidate, same order."""
    matches: list[bool]
    """Whether each candidate matches the regex, same order."""
    top1: bool
    """The best candidate matches the regex."""
    any_candidate: bool
    """Some candidate matches the regex."""
    similarity: float
    """Judge similarity of the best candidate to the keyphrase (NaN without a judge or candidate)."""
    similarity_judge: str
    """Name of the similarity judge ("" when none)."""
    llm_calls: int
    """Helper calls made by this run (cache hits included)."""
    llm_cached_calls: int
    """Calls answered from the reply cache."""
    prompt_tokens: int
    """Prompt tokens of calls that reached the model."""
    completion_tokens: int
    """Completion tokens of calls that reached the model."""
    seconds: float
    """Wall time of the run (n-gram responses excluded when they were shared)."""
    run_key: str
    """Hash of everything that determines the run; a resumed run reuses a record only on a match."""
    unit: dict[str, Any] = field(default_factory=dict)
    """The full :class:`~sasc.results.UnitExplanation` (top n-grams, candidates, texts, scores)."""


KEY_ADDED_SETTINGS: dict[str, Any] = {o.name: o.spec.legacy for o in option_fields(ExplainConfig)
                                      if o.owner is ExplainConfig and o.spec.legacy is not NO_LEGACY}
"""Settings added to :class:`ExplainConfig` after D3 records were first kept, with the value
that reproduces the behaviour from before they existed (``legacy=`` in their declaration). At
that value a setting is left out of the run key, so adding a setting does not throw away
finished runs (hours of helper time); any other value is part of the key."""


def run_key(task: D3Task, setting: str, seed: int, helper_name: str, config: ExplainConfig,
            options: D3Options, cleaning: int = CLEANING_VERSION) -> str:
    """Identity of one run: task, setting, seed, helper, config, ablation parameters and the
    version of the rules that clean the helper's summaries (``cleaning``; version 1, from before
    it was versioned, is left out so that its keys stay as they were), and with the form repair or
    the readable ranking on, the version of the form rules (:data:`sasc.form.FORM_VERSION`)."""
    fields = {k: _sampling_as_keyed(v) for k, v in dataclasses.asdict(config).items()
              if not (k in KEY_ADDED_SETTINGS and v == KEY_ADDED_SETTINGS[k])}
    versions = {"cleaning": cleaning} if cleaning != 1 else {}
    if config.form_repair or config.readable_ranking:  # the form rules decide which candidates are scored and win
        versions["form"] = FORM_VERSION
    payload = json.dumps(versions | {"task": dataclasses.asdict(task) | {"corpus_file": None}, "setting": setting,
                          "seed": seed, "helper": helper_name, "config": fields,
                          "noise": [options.noise_scale, options.noise_top] if setting == "noisy" else None,
                          "max_texts": options.max_corpus_texts, "prompts": prompt_templates(config)},
                         sort_keys=True, default=str)
    return hashlib.sha256(payload.encode()).hexdigest()[:16]


def _sampling_as_keyed(value: Any) -> Any:
    """A config field as it enters the key: a sampling dict through :func:`~sasc.llm.base.sampling_key`."""
    return sampling_key(value) if isinstance(value, dict) and "top_p" in value else value


def prompt_templates(config: ExplainConfig) -> list[str]:
    """The helper prompts a config uses, with placeholders: a reworded prompt is a new run."""
    return ([summary_prompt(["{ngram}"], s) for s in config.summary_styles]
            + [synthetic_prompt("{explanation}", config.n_synthetic, True, part)
               for part in style_parts(config.synthetic_style)]
            + [synthetic_prompt("{explanation}", config.n_synthetic, False)]
            + [json.dumps(sentences_schema(config.n_synthetic), sort_keys=True), RETRY_POLICY])


def record_path(out: Path, setting: str, seed: int, task: D3Task) -> Path:
    """Where a run's record lives under the output folder."""
    return out / "records" / setting / f"seed{seed}" / f"{task.task}.json"


def read_record(path: Path) -> TaskRecord:
    """The record at ``path``, whatever run made it; raises ``OSError``, ``ValueError``,
    ``TypeError`` or ``KeyError`` when it is missing or not a record."""
    d = json.loads(path.read_text(encoding="utf-8"))
    d.update(sigmas=nan_if_none(d["sigmas"]), similarity=nan_if_none(d["similarity"]))
    return TaskRecord(**d)


def load_record(path: Path, key: str) -> TaskRecord | None:
    """The record at ``path`` if it exists, parses, and was made by the run ``key``."""
    try:
        rec = read_record(path)
    except (OSError, ValueError, TypeError, KeyError):
        return None
    return rec if rec.run_key == key else None


def save_record(path: Path, record: TaskRecord) -> None:
    """Write a record atomically (temp file + rename), so an interrupt never leaves half a file."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".json.tmp")
    tmp.write_text(dumps(dataclasses.asdict(record), indent=1, ensure_ascii=False), encoding="utf-8")
    tmp.replace(path)


class D3Runner:
    """Runs and judges (setting, seed, task) combinations, writing a record after each.

    ``all_tasks``: every task of the data (the bank has one unit per task, so cache keys
    do not depend on which tasks are selected). ``judge``: similarity judge or None.
    """

    def __init__(self, all_tasks: Sequence[D3Task], corpora: D3Corpora, helper: HelperLLM,
                 config: ExplainConfig, options: D3Options, out: Path, cache_dir: str | Path | None,
                 judge: SimilarityJudge | None, generic: Any = DEFAULT_GENERIC, progress: ProgressFn = no_progress):
        self.all_tasks = sorted(all_tasks, key=lambda t: t.index)
        self.corpora, self.helper, self.config, self.options = corpora, helper, config, options
        self.out, self.judge, self.progress = Path(out), judge, progress
        self.bank = d3_bank(self.all_tasks)
        self.column = {t.index: i for i, t in enumerate(self.all_tasks)}
        self.responses = D3Responses(self.bank, corpora, config.ngrams, ResponseCache(cache_dir),
                                     options.shared_responses, config.shard_size, progress)
        self._generic_texts = load_corpus(generic).texts
        self._generic: dict[int, np.ndarray] = {}

    def generic_values(self, seed: int) -> np.ndarray:
        """The bank's responses ``[n_generic, n_units]`` to the seed's generic-corpus sample."""
        if seed not in self._generic:
            texts = sample_texts(self._generic_texts, self.config.n_generic, seed)
            self._generic[seed] = to_response_array(self.bank.responses(texts), len(texts), self.bank.name,
                                                    len(self.bank.units))
        return self._generic[seed]

    def ngram_values(self, task: D3Task, setting: str, seed: int) -> tuple[Any, np.ndarray, str]:
        """(n-gram table, this task's responses ``[n_ngrams]``, corpus name) for a setting."""
        col = self.column[task.index]
        if setting == "restricted":
            partner = restricted_partner(self.all_tasks, task)
            table, values = self.responses.for_corpus(self.corpora.source(partner), self.corpora.texts(partner))
            return table, np.asarray(values[:, col]), self.corpora.source(partner)
        table, values = self.responses.for_task(task)
        v = np.asarray(values[:, col])
        if setting == "noisy":
            v = noisy_responses(v, self.options.noise_scale, self.options.noise_top, seed)
        return table, v, self.corpora.source(task)

    def run_job(self, job: tuple[str, int, int]) -> TaskRecord:
        """:meth:`run_one` for a ``(setting, seed, task index)`` job of the worker pool."""
        setting, seed, index = job
        return self.run_one(next(t for t in self.all_tasks if t.index == index), setting, seed)

    def run_one(self, task: D3Task, setting: str, seed: int) -> TaskRecord:
        """Explain and judge one task; the record is written before returning."""
        config = dataclasses.replace(self.config, seed=seed)
        key, path = self._key_path(task, setting, seed)
        done = load_record(path, key)
        if done is not None:
            return done
        table, values, corpus = self.ngram_values(task, setting, seed)
        before = _usage(self.helper)
        t0 = time.perf_counter()
        col = self.column[task.index]
        unit = explain_unit(self.bank, col, table, values, self.generic_values(seed)[:, col], self.helper, config,
                            generic_texts=sample_texts(self._generic_texts, self.config.n_generic, seed))
        record = self._judge(task, setting, seed, key, corpus, len(table), unit, before, time.perf_counter() - t0)
        save_record(path, record)
        return record

    def _judge(self, task, setting, seed, key, corpus, n_ngrams, unit, before, seconds) -> TaskRecord:
        expl = [c.explanation for c in unit.candidates]
        top1, any_c = judge_candidates(expl, task.check_regex)
        sim = float("nan")
        if self.judge is not None and expl:
            sim = self.judge.similarity(expl[:1], [task.keyphrase])[0]
        used = {k: v - before.get(k, 0) for k, v in _usage(self.helper).items()}
        return TaskRecord(
            task=task.task, index=task.index, setting=setting, seed=seed, keyphrase=task.keyphrase,
            check_regex=task.check_regex, corpus=corpus, n_ngrams=n_ngrams, explanations=expl,
            sigmas=[c.score.sigma for c in unit.candidates], matches=[recovers(e, task.check_regex) for e in expl],
            top1=top1, any_candidate=any_c, similarity=sim, similarity_judge=self.judge.name if self.judge else "",
            llm_calls=int(used.get("calls", 0)), llm_cached_calls=int(used.get("cached_calls", 0)),
            prompt_tokens=int(used.get("prompt_tokens", 0)), completion_tokens=int(used.get("completion_tokens", 0)),
            seconds=seconds, run_key=key, unit=dataclasses.asdict(unit))

    def jobs(self, tasks: Sequence[D3Task]) -> list[tuple[str, int, D3Task]]:
        """Every (setting, seed, task) combination, in that nesting order."""
        return [(s, seed, t) for s in self.options.settings for seed in self.options.seeds for t in tasks]

    def existing(self, task: D3Task, setting: str, seed: int) -> TaskRecord | None:
        """The record of this run already on disk, if it was made by the same run key."""
        key, path = self._key_path(task, setting, seed)
        return load_record(path, key)

    def _key_path(self, task: D3Task, setting: str, seed: int) -> tuple[str, Path]:
        key = run_key(task, setting, seed, self.helper.name, dataclasses.replace(self.config, seed=seed), self.options)
        return key, record_path(self.out, setting, seed, task)

    def run(self, tasks: Sequence[D3Task], on_record: Callable[[TaskRecord], None] | None = None) -> list[TaskRecord]:
        """Every (setting, seed, task) combination, in that nesting order."""
        jobs = self.jobs(tasks)
        records = []
        self.progress(ProgressEvent("d3", 0, len(jobs)))
        for i, (setting, seed, task) in enumerate(jobs, 1):
            rec = self.run_one(task, setting, seed)
            records.append(rec)
            if on_record is not None:
                on_record(rec)
            self.progress(ProgressEvent("d3", i, len(jobs), f"{setting} s{seed} {task.task}"))
        return records

    def run_parallel(self, tasks: Sequence[D3Task], spec: WorkerSpec,
                     workers: int) -> tuple[list[TaskRecord], list[TaskRecord]]:
        """Like :meth:`run`, with the runs not on disk yet spread over ``workers`` processes
        (see :mod:`sasc.bench.parallel`). Returns (records in :meth:`run` order, the records
        of the runs made by this call).

        The n-gram response cache is filled here first, so workers only read it.
        """
        jobs = self.jobs(tasks)
        found: dict[tuple[str, int, int], TaskRecord] = {}
        for setting, seed, task in jobs:
            rec = self.existing(task, setting, seed)
            if rec is not None:
                found[(setting, seed, task.index)] = rec
        todo = [(s, seed, t) for s, seed, t in jobs if (s, seed, t.index) not in found]
        made: list[TaskRecord] = []
        self.progress(ProgressEvent("d3", len(found), len(jobs)))
        if todo:
            self.warm(todo)

            def done(job: tuple[str, int, int], rec: TaskRecord) -> None:
                found[job] = rec
                made.append(rec)
                self.progress(ProgressEvent("d3", len(found), len(jobs), f"{job[0]} s{job[1]} {rec.task}"))

            run_in_workers(spec, [(s, seed, t.index) for s, seed, t in todo], workers, done)
        return [found[(s, seed, t.index)] for s, seed, t in jobs], made

    def warm(self, jobs: Sequence[tuple[str, int, D3Task]]) -> None:
        """Compute (or check) the n-gram responses these runs need, then free them from memory."""
        if self.options.shared_responses:
            self.responses.pooled_table()
        else:
            for setting, seed, task in jobs:
                self.ngram_values(task, setting, seed)
        self.responses.release()


def _usage(helper: Any) -> dict[str, float]:
    usage = getattr(helper, "usage", None)
    if usage is None or not hasattr(usage, "snapshot"):
        return {}
    return dataclasses.asdict(usage.snapshot())


@dataclass(frozen=True)
class D3Report:
    """What :func:`run_d3` returns."""

    records: list[TaskRecord]
    """Every run, in (setting, seed, task) order."""
    summaries: list[Any]
    """One :class:`~sasc.bench.report.SettingSummary` per setting."""
    table: str
    """The plain-text results table."""
    files: dict[str, Path]
    """Written files by role (summary_json, summary_csv, tasks_csv, plot)."""
    wall_s: float
    """Wall time of the whole call, in seconds (n-gram stage included)."""
    responses_s: float
    """Seconds spent on n-gram response tables (near 0 with a warm cache)."""
    usage: dict[str, float]
    """Helper usage of the whole call: calls, cached_calls, prompt/completion tokens, wall_s."""


@dataclass(frozen=True)
class WorkerSpec:
    """Everything a D3 worker process needs to build its own runner (all picklable); calling it
    there builds the runner and returns its :meth:`D3Runner.run_job`."""

    data: str
    helper: str
    config: Any
    options: Any
    out: str
    cache_dir: str | None
    judge: bool
    generic: Any

    def __call__(self) -> Callable[[tuple[str, int, int]], TaskRecord]:
        from ..explain import resolve_helper
        from .similarity import smollm2_judge
        from .tasks import load_tasks

        tasks = load_tasks(self.data)
        judge = smollm2_judge([t.keyphrase for t in tasks]) if self.judge else None
        llm = resolve_helper(self.helper, self.cache_dir)
        return D3Runner(tasks, D3Corpora(tasks, self.options.max_corpus_texts), llm, self.config, self.options,
                        Path(self.out), self.cache_dir, judge, self.generic).run_job


def run_d3(data: str | Path, *, tasks: Sequence[int] | None = None, helper: str | HelperLLM = "local",
           config: ExplainConfig = ExplainConfig(), options: D3Options = D3Options(),
           out: str | Path = "d3_results", cache_dir: str | Path | None = None,
           judge: SimilarityJudge | str | None = "smollm2", generic: Any = DEFAULT_GENERIC,
           progress: ProgressFn = no_progress, workers: int = 1) -> D3Report:
    """Run the D3 benchmark and write its table, per-task CSV, JSON and plot under ``out``.

    ``tasks``: task indices (None: all). ``judge``: a :class:`SimilarityJudge`,
    ``"smollm2"`` (the default offline judge) or None (no similarity). ``workers``: runs
    in parallel processes, each with its own helper and a share of the cores (see
    :mod:`sasc.bench.parallel`); more than 1 needs ``helper`` as a spec string and
    ``judge`` as ``"smollm2"`` or None, since each worker builds its own. Workers are
    spawned, so a script calling this with ``workers > 1`` needs the usual
    ``if __name__ == "__main__":`` guard.
    """
    from ..explain import resolve_helper
    from .report import format_table, summarize_setting, write_outputs
    from .similarity import SMOLLM2_JUDGE, smollm2_judge
    from .tasks import load_tasks, select_tasks

    t0 = time.perf_counter()
    if workers < 1:
        raise ConfigError(f"workers must be >= 1, got {workers}")
    if judge is not None and not isinstance(judge, SimilarityJudge) and judge != "smollm2":
        raise ConfigError(f"unknown similarity judge {judge!r}; accepted: 'smollm2', a SimilarityJudge, None")
    if workers > 1 and not (isinstance(helper, str) and judge in ("smollm2", None)):
        raise ConfigError("workers > 1 needs the helper as a spec string (e.g. 'local') and the judge as "
                          "'smollm2' or None: each worker process builds its own")
    all_tasks = load_tasks(data)
    chosen = select_tasks(all_tasks, list(tasks) if tasks is not None else None)
    llm = resolve_helper(helper, cache_dir)
    judge_name = ""
    if workers > 1:
        judge_name = SMOLLM2_JUDGE if judge else ""
        judge = None  # built in each worker
    elif judge == "smollm2":
        judge = smollm2_judge([t.keyphrase for t in all_tasks])
    if isinstance(judge, SimilarityJudge):
        judge_name = judge.name
    runner = D3Runner(all_tasks, D3Corpora(all_tasks, options.max_corpus_texts), llm, config, options, Path(out),
                      cache_dir, judge, generic, progress)
    if workers > 1:
        spec = WorkerSpec(str(data), str(helper), config, options, str(out),
                          None if cache_dir is None else str(cache_dir), bool(judge_name), generic)
        records, made = runner.run_parallel(chosen, spec, workers)
        usage = {k: float(sum(getattr(r, f) for r in made)) for k, f in _RECORD_USAGE.items()}
    else:
        before = _usage(llm)
        records = runner.run(chosen)
        usage = {k: v - before.get(k, 0) for k, v in _usage(llm).items()}
    summaries = [summarize_setting(s, records) for s in options.settings]
    wall = time.perf_counter() - t0
    meta = {"helper": llm.name, "config": dataclasses.asdict(config), "options": dataclasses.asdict(options),
            "tasks": [t.index for t in chosen], "similarity_judge": judge_name, "workers": workers,
            "wall_s": wall, "responses_s": runner.responses.seconds, "usage": usage}
    files = write_outputs(Path(out), summaries, records, meta)
    return D3Report(records, summaries, format_table(summaries), files, wall, runner.responses.seconds, usage)


_RECORD_USAGE = {"calls": "llm_calls", "cached_calls": "llm_cached_calls", "prompt_tokens": "prompt_tokens",
                 "completion_tokens": "completion_tokens"}
"""Usage counters (as in :class:`~sasc.llm.wrappers.UsageReport`) and the record fields holding them."""
