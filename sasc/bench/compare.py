"""Compare two D3 output folders run by run: what a helper, prompt or config change gained and lost.

Runs are paired by (setting, seed, task). Two configs on the same 54 tasks x 3 seeds
differ by a handful of runs, and seeds alone move a setting by a few tasks, so the
comparison lists every run that changed its top-1 outcome and gives an exact two-sided
sign test on those changes (McNemar's exact test): the chance of a split at least this
uneven if the change made no difference.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

from ..errors import ConfigError, CorpusError
from ..form import form_flags
from .d3 import SETTINGS, TaskRecord, check_settings, read_record


@dataclass(frozen=True)
class RunChange:
    """One run whose top-1 outcome differs between the two folders."""

    setting: str
    seed: int
    task: str
    base: str
    """The base run's best explanation ("" when it had none)."""
    new: str
    """The new run's best explanation."""


@dataclass(frozen=True)
class Totals:
    """Sums over one folder's paired runs of a setting."""

    top1: int
    """Runs whose best candidate matches."""
    any_candidate: int
    """Runs with some matching candidate."""
    calls: int
    """Helper calls, cache hits included."""
    cached_calls: int
    """Calls answered from the reply cache (they make a rerun faster than a cold run)."""
    seconds: float
    """Summed run time."""
    readable: int = 0
    """Runs whose best explanation passes the form check (:mod:`sasc.form`); runs without a
    candidate count as not readable."""


ReadableFn = Callable[[Sequence[str]], list[bool]]
"""Best explanations -> whether each passes the form check."""


def rules_readable(explanations: Sequence[str]) -> list[bool]:
    """The form check's rules alone (no fluency LM), for any records old or new."""
    return [bool(e) and not form_flags(e) for e in explanations]


def readable_judge(fluency: bool) -> ReadableFn:
    """How winners are judged readable: the form rules alone, or with the SmolLM2 fluency too
    (``sasc benchmark compare --fluency``)."""
    if not fluency:
        return rules_readable
    from ..form import check_forms, fluency_scorer

    def readable(texts: Sequence[str]) -> list[bool]:
        return [bool(t) and f.passes for t, f in zip(texts, check_forms(texts, fluency_scorer("smollm2")))]
    return readable


def totals(records: Sequence[TaskRecord], readable: ReadableFn = rules_readable) -> Totals:
    """The :class:`Totals` of ``records``; ``readable`` judges their best explanations."""
    return Totals(sum(r.top1 for r in records), sum(r.any_candidate for r in records),
                  sum(r.llm_calls for r in records), sum(r.llm_cached_calls for r in records),
                  sum(r.seconds for r in records), sum(readable([_best(r) for r in records])))


@dataclass(frozen=True)
class SettingComparison:
    """Paired figures of one setting: counts of runs, not percentages."""

    setting: str
    n_paired: int
    """Runs present in both folders (only these are compared)."""
    base: Totals
    new: Totals
    gained: tuple[RunChange, ...]
    """Runs whose best explanation matches in the new folder only."""
    lost: tuple[RunChange, ...]
    """Runs whose best explanation matches in the base folder only."""
    p_value: float
    """Exact two-sided sign test of gained against lost (1.0 when nothing changed)."""
    only_base: int
    """Runs of this setting in the base folder only."""
    only_new: int
    """Runs of this setting in the new folder only."""


def sign_test_p(gained: int, lost: int) -> float:
    """Exact two-sided binomial test of ``gained`` vs ``lost`` at p = 1/2 (McNemar's exact test)."""
    if gained < 0 or lost < 0:
        raise ValueError(f"counts must be >= 0, got {gained}, {lost}")
    n = gained + lost
    if n == 0:
        return 1.0
    tail = sum(math.comb(n, i) for i in range(min(gained, lost) + 1))
    return min(1.0, 2.0 * tail / 2.0 ** n)


def read_records(out: str | Path) -> list[TaskRecord]:
    """Every record under ``out/records/<setting>/seed<k>/``, whatever runs made them.

    Raises :class:`CorpusError` when the folder holds no records or a record cannot be read.
    """
    root = Path(out) / "records"
    paths = sorted(root.glob("*/seed*/*.json"))
    if not paths:
        raise CorpusError(f"no D3 records under {str(root)!r}: pass the --out folder of a `sasc benchmark d3` run")
    records = []
    for p in paths:
        try:
            records.append(read_record(p))
        except (OSError, ValueError, TypeError, KeyError) as e:
            raise CorpusError(f"{str(p)!r} is not a D3 record ({type(e).__name__}: {e}); "
                              "delete it and rerun that task, or move it away") from e
    return records


def _best(r: TaskRecord) -> str:
    return r.explanations[0] if r.explanations else ""


def compare_records(base: Sequence[TaskRecord], new: Sequence[TaskRecord],
                    settings: Sequence[str] | None = None,
                    readable: ReadableFn = rules_readable) -> list[SettingComparison]:
    """Pair runs by (setting, seed, task) and compare them, one entry per setting present in
    either list (in :data:`~sasc.bench.d3.SETTINGS` order), or per setting of ``settings``
    (:class:`ConfigError` for one that is not a D3 setting). ``readable`` judges the best
    explanations of both folders alike (default: the form rules without the fluency LM)."""
    if settings is not None:
        settings = check_settings(settings)
    b = {(r.setting, r.seed, r.task): r for r in base}
    n = {(r.setting, r.seed, r.task): r for r in new}
    present = {k[0] for k in b} | {k[0] for k in n}
    chosen = list(settings) if settings is not None else [s for s in SETTINGS if s in present] + sorted(
        present - set(SETTINGS))
    out = []
    for s in chosen:
        keys = sorted(k for k in b.keys() & n.keys() if k[0] == s)
        pairs = [(b[k], n[k]) for k in keys]
        gained: list[RunChange] = []
        lost: list[RunChange] = []
        for rb, rn in pairs:
            if rb.top1 != rn.top1:
                (gained if rn.top1 else lost).append(RunChange(s, rb.seed, rb.task, _best(rb), _best(rn)))
        out.append(SettingComparison(
            setting=s, n_paired=len(pairs), base=totals([rb for rb, _ in pairs], readable),
            new=totals([rn for _, rn in pairs], readable),
            gained=tuple(gained), lost=tuple(lost), p_value=sign_test_p(len(gained), len(lost)),
            only_base=sum(1 for k in b.keys() - n.keys() if k[0] == s),
            only_new=sum(1 for k in n.keys() - b.keys() if k[0] == s)))
    return out


def _arrow(a: float, b: float, fmt: str = "d") -> str:
    return f"{a:{fmt}} -> {b:{fmt}} ({b - a:+{fmt}})"


def format_comparison(comparisons: Sequence[SettingComparison], max_listed: int = 30) -> str:
    """A plain-text report: per setting, paired counts, the sign test, cost, and the changed runs
    (at most ``max_listed`` per setting and direction; :class:`ConfigError` when negative)."""
    if max_listed < 0:
        raise ConfigError(f"max_listed (--max-listed) must be >= 0, got {max_listed}")
    lines = []
    for c in comparisons:
        if not c.n_paired:
            lines.append(f"{c.setting}: no run in both folders ({c.only_base} in base only, {c.only_new} in new only)")
            continue
        pct = 100.0 / c.n_paired
        lines += [
            f"{c.setting}: {c.n_paired} paired runs",
            f"  top-1          {_arrow(c.base.top1, c.new.top1)}   "
            f"{c.base.top1 * pct:.1f}% -> {c.new.top1 * pct:.1f}%",
            f"  any-candidate  {_arrow(c.base.any_candidate, c.new.any_candidate)}",
            f"  top-1 changed  {len(c.gained)} gained, {len(c.lost)} lost; sign test p = {c.p_value:.3g}"
            + ("  (within what chance gives)" if c.p_value >= 0.05 else ""),
            f"  readable best  {_arrow(c.base.readable, c.new.readable)}   "
            f"{c.base.readable * pct:.1f}% -> {c.new.readable * pct:.1f}% (winners passing the form check)",
            f"  helper calls   {_arrow(c.base.calls, c.new.calls)}   "
            f"from the reply cache: {c.base.cached_calls} -> {c.new.cached_calls}",
            f"  run time s     {_arrow(c.base.seconds, c.new.seconds, '.0f')}",
        ]
        if c.only_base or c.only_new:
            lines.append(f"  not compared   {c.only_base} run(s) in base only, {c.only_new} in new only")
        for label, runs in (("gained", c.gained), ("lost", c.lost)):
            for r in runs[:max_listed]:
                lines.append(f"  {label:<6} seed {r.seed} {r.task}: {r.base!r} -> {r.new!r}")
            if 0 < max_listed < len(runs):
                lines.append(f"  {label:<6} ... and {len(runs) - max_listed} more")
    return "\n".join(lines)


def comparison_dict(comparisons: Sequence[SettingComparison], base: str, new: str) -> dict:
    """The comparison as plain data, for ``--json``."""
    return {"base": base, "new": new, "settings": [dataclasses.asdict(c) for c in comparisons]}
