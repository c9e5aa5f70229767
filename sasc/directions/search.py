"""The direction search (Bills et al. 2023, "Language models can explain neurons in language
models", section on explainable directions).

Start from K random unit-norm directions at a site of a causal LM. Each round, for all K at once:

1. **explain** the directions with the usual SASC pipeline (:func:`sasc.explain` on an
   ``llm_direction`` bank of them: one n-gram pass for all K);
2. **simulate** each direction's best explanation on its current top-and-random set, drawn from
   the *search half* of the corpus's sentences: the top texts are recomputed from the direction as
   it is now (the site's token states of the pool are computed once, so re-ranking is a matrix
   product), the random texts are a fresh seeded draw each round. The correlation of the
   simulator's predictions with the direction's activations is the round's score;
3. **ascend**: with the predictions held fixed, take gradient steps on the direction to raise that
   correlation (:func:`sasc.directions.math.ascend`: geodesic steps on the unit sphere).

After the last round the directions are explained once more; that final explain result is the
search's result, each direction's candidates scored by ``simulation`` on a top-and-random set
from the *held-out half* of the sentences (texts no round saw), with another direction's
explanation as the random baseline. The search history (every round's explanation and score, the
vectors) is in ``result.config["directions"]``.

Per-text sets (``excerpts="text"``, the default here) score each sentence's highest token
activation; the gradient then flows through each text's most active token. Per-token sets
(``"token"``, Bills's protocol) score every token, at ~40x the helper time on a CPU.
"""

from __future__ import annotations

import dataclasses
import hashlib
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

import numpy as np

from ..config import ExplainConfig
from ..corpora import DEFAULT_GENERIC, DEFAULT_REFERENCE, Corpus, load_corpus, sample_texts, split_sentences
from ..errors import ConfigError, ModuleError
from ..explain import explain, resolve_helper
from ..llm.base import HelperLLM
from ..modules.base import TokenResponses
from ..options import check_choices, check_minimums, option
from ..progress import ProgressEvent, ProgressFn, no_progress
from ..results import ExplainResult
from ..scorers import ScoreConfig, SetConfig
from ..scorers.base import ScoringRecord
from ..scorers.sets import choose
from ..scorers.simulation import SimulationScorer
from .math import angle_degrees, ascend, random_directions


TOKEN_LAYOUT = "per_word"
"""The simulator layout of per-token rounds (``--excerpts token``). Was ``sparse`` (1.5x cheaper than
the copy); on benchmarks/simulator_sensitivity.py the sparse layout ranked the words an explanation
fits barely above chance (mean AUROC 0.55) while ``per_word`` reached 0.92 in the same time
(docs/predictive_scoring.md); not yet measured on the direction search itself."""


@dataclass(frozen=True)
class DirectionConfig:
    """How explainable directions are searched for (flags of ``sasc directions find``; the
    ``DirectionSettings`` of a service job)."""

    count: int = option(4, flag="--count", min=1, job_max=32)
    """Directions to find (K)."""
    rounds: int = option(3, flag="--rounds", min=1, job_max=10)
    """Rounds of explain, simulate and gradient steps per direction."""
    steps: int = option(25, flag="--steps", min=0, job_max=1000)
    """Gradient steps on the correlation per round (0: explain and score the random directions only)."""
    step_size: float = option(0.02, flag="--step-size", min=0, job_max=1)
    """Angle in radians each gradient step turns the direction (the steps of a round turn it at most steps x this)."""
    n_top: int = option(10, flag="--n-top", min=1, job_max=200)
    """Top-activating texts in each round's scoring set."""
    n_random: int = option(10, flag="--n-random", min=1, job_max=200)
    """Random texts in each round's scoring set (a fresh seeded draw each round)."""
    pool_size: int = option(1000, flag="--pool-size", min=2, job_max=20000)
    """Sentences of each corpus half (seeded sample) whose token states are computed once; the top texts are the pool's top."""
    excerpts: str = option("text", flag="--excerpts", choices=("text", "token"))
    """Scoring sets of whole sentences scored by their highest token ('text'), or per-token excerpts ('token', Bills's; far more helper time)."""
    excerpt_tokens: int = option(64, flag="--excerpt-tokens", min=1, job_max=256)
    """Tokens per excerpt with --excerpts token."""
    seed: int = option(0, flag="--seed", min=0, job_max=2**32 - 1)
    """Seed of the initial directions, the corpus halves, the pools, the random texts and the explanations."""

    def __post_init__(self) -> None:
        check_minimums(self)
        check_choices(self)
        if not 0 <= self.step_size <= np.pi / 2:
            raise ConfigError(f"step_size is an angle in radians in 0..{np.pi / 2:.4f}, got {self.step_size}")

    @property
    def per_token(self) -> bool:
        return self.excerpts == "token"

    def held_out_set(self) -> SetConfig:
        """The final scoring set's config: top-and-random from the held-out half, sentences kept as they are."""
        return SetConfig("top_and_random", self.n_top, self.n_random, self.pool_size, self.seed + 1,
                         excerpts=self.excerpts, excerpt_tokens=self.excerpt_tokens, sentences=False)


class DirectionSite(Protocol):
    """Where directions live: a site of one layer of a subject model."""

    name: str
    """Model, site and layer, for humans."""
    width: int
    """Dimension of the site's state."""
    prefix: str
    """Start of the found directions' unit names (``L15.mlp``: ``L15.mlp.F0``, ``L15.mlp.F1``, ...)."""

    def states(self, texts: Sequence[str]) -> list[TokenResponses]:
        """Per text, its tokens and the site's state at each ``[T, width]``; a direction's activation at
        a token is the dot product (what :meth:`bank`'s units compute, max-aggregated per text)."""
        ...

    def bank(self, directions: np.ndarray, names: Sequence[str]) -> Any:
        """A module bank whose units are ``directions`` ``[K, width]``."""
        ...

    def spec(self, directions: str | list[list[float]]) -> dict[str, Any]:
        """A module spec (JSON object) for the directions stored at ``directions`` (a path) or given inline."""
        ...


class CausalLMSite:
    """A site of one layer of a causal LM (:mod:`sasc.modules.neurons`): states from a bank of all
    the site's coordinates, directions as an ``llm_direction`` bank."""

    def __init__(self, lm: Any, site: str, layer: int, model: str | None = None,
                 bank_params: dict[str, Any] | None = None):
        from ..modules.neurons import LLMNeuronBank

        self.lm, self.site, self.layer, self.model = lm, site, int(layer), model
        self.bank_params = dict(bank_params or {})
        self._all = LLMNeuronBank(lm, site, [self.layer], None, prefix_sharing="none", **self.bank_params)
        self.width = int(self._all.widths[0])
        self.name = f"{model or lm.identity}, {site}, layer {self.layer}"
        self.prefix = f"L{self.layer}.{site}"

    @classmethod
    def from_bank(cls, bank: Any, model: str | None = None) -> CausalLMSite:
        """The site of an ``llm_neuron`` / ``llm_direction`` bank (one layer); any other module is a
        :class:`ModuleError` (directions are searched at a site of a causal LM)."""
        from ..modules.neurons import CausalLMBank

        if not isinstance(bank, CausalLMBank):
            raise ModuleError(f"directions are searched at a site of a causal LM; module {getattr(bank, 'name', bank)!r} "
                              "is not one: use an llm_neuron or llm_direction module (model, site, layer)")
        if len(bank.layers) != 1:
            raise ConfigError(f"the module reads layers {bank.layers}; directions are searched in one layer")
        return cls(bank.lm, bank.site, bank.layers[0], model)

    def states(self, texts: Sequence[str]) -> list[TokenResponses]:
        return self._all.token_responses(list(texts))

    def bank(self, directions: np.ndarray, names: Sequence[str]) -> Any:
        from ..modules.neurons import LLMDirectionBank

        return LLMDirectionBank(self.lm, self.site, self.layer, directions, list(names), **self.bank_params)

    def spec(self, directions: str | list[list[float]]) -> dict[str, Any]:
        return {"kind": "llm_direction", **({"model": self.model} if self.model else {}), "site": self.site,
                "layer": self.layer, "directions": directions}


def causal_lm_site(model: str | None = None, site: str = "mlp", layer: int = 0, **load: Any) -> CausalLMSite:
    """The site ``site`` (mlp, resid, attn) of layer ``layer`` of causal LM ``model`` (name, path or
    alias; default SmolLM2-135M-Instruct), loaded offline; a bad site, layer or model fails here."""
    from ..modules.causal_lm import canonical_site, load_causal_lm
    from ..modules.params import parse_indices

    site = canonical_site(site)
    lm = load_causal_lm(model, **load)
    layers = parse_indices(layer, lm.n_layers, "layer")
    if len(layers) != 1:
        raise ConfigError(f"directions are searched in one layer; got {layers}")
    return CausalLMSite(lm, site, layers[0], model)


@dataclass(frozen=True)
class RoundRecord:
    """One round of one direction."""

    round: int
    """1-based."""
    explanation: str
    """The best explanation of the direction at the start of the round (by σ)."""
    sigma: float
    """Its σ."""
    score: float
    """Simulation score (Pearson r) of that explanation on the round's search-half set."""
    ci: tuple[float, float]
    """95% bootstrap interval of ``score``."""
    fit_after: float
    """The correlation of the same predictions with the direction after the round's gradient steps."""
    turned: float
    """Degrees the direction turned in the round's steps."""


def split_halves(sentences: Sequence[str], seed: int) -> tuple[list[str], list[str]]:
    """``(search, held_out)``: the distinct sentences split in two by a seeded hash of each (pure,
    stable under reordering): ``split_halves(["a", "b"], 0)`` puts each sentence always on the same side."""
    search, held = [], []
    for s in dict.fromkeys(sentences):
        h = hashlib.sha256(f"{seed}:{s}".encode()).digest()[0]
        (search if h % 2 == 0 else held).append(s)
    return search, held


class _Pool:
    """The search half's pool: its texts and token states, computed once."""

    def __init__(self, texts: list[str], states: list[TokenResponses], config: DirectionConfig):
        keep = [i for i, s in enumerate(states) if len(s.tokens)]
        self.texts = [texts[i] for i in keep]
        cut = config.excerpt_tokens if config.per_token else None
        self.tokens = [tuple(states[i].tokens[:cut]) for i in keep]
        self.states = [np.asarray(states[i].values[:cut], dtype=np.float32) for i in keep]
        if len(self.texts) < config.n_top + config.n_random:
            raise ConfigError(f"the search half of the corpus has {len(self.texts)} texts with tokens; the scoring "
                              f"sets need {config.n_top + config.n_random}: use a bigger corpus or smaller sets")

    def record(self, d: np.ndarray, unit: str, explanation: str, config: DirectionConfig,
               round_: int) -> tuple[ScoringRecord, list[np.ndarray]]:
        """The round's scoring record of direction ``d`` and the chosen texts' states."""
        acts = [s @ d for s in self.states]
        peak = [float(a.max()) for a in acts]
        cfg = SetConfig("top_and_random", config.n_top, config.n_random, len(self.texts), config.seed + 7919 * round_)
        top, rand = choose(peak, cfg)
        idx = top + rand
        is_top = tuple([True] * len(top) + [False] * len(rand))
        if config.per_token:
            rec = ScoringRecord(unit, explanation, tuple("".join(self.tokens[i]) for i in idx),
                                tuple(peak[i] for i in idx), is_top, tokens=tuple(self.tokens[i] for i in idx),
                                token_values=tuple(tuple(float(v) for v in acts[i]) for i in idx),
                                token_layout=TOKEN_LAYOUT)
        else:
            rec = ScoringRecord(unit, explanation, tuple(self.texts[i] for i in idx), tuple(peak[i] for i in idx), is_top)
        return rec, [self.states[i] for i in idx]


def score_round(record: ScoringRecord, helper: HelperLLM, *, seed: int,
                n_boot: int = 1000) -> tuple[float, tuple[float, float], np.ndarray | None]:
    """``(r, 95% interval, predictions)`` of the simulator (:class:`~sasc.scorers.simulation.SimulationScorer`)
    on one round's record: per text, or per token (:data:`TOKEN_LAYOUT`) with the interval resampling whole
    excerpts; the predictions are flat (one per text or per token), None when the activations on the
    set are constant (the helper is not asked; nothing to climb)."""
    result, pred = SimulationScorer().score_and_predict(record, helper, seed=seed, n_boot=n_boot)
    flat = None if pred is None else (np.concatenate(pred) if record.tokens else pred)
    return result.value, (result.ci_low, result.ci_high), flat


def find_directions(site: DirectionSite, *, config: DirectionConfig = DirectionConfig(),
                    explain_config: ExplainConfig | None = None,
                    corpus: str | Path | list[str] | Corpus = DEFAULT_REFERENCE,
                    generic: str | Path | list[str] | Corpus = DEFAULT_GENERIC, helper: str | HelperLLM = "local",
                    cache_dir: str | Path | None = None, progress: ProgressFn = no_progress,
                    initial: np.ndarray | None = None, baseline: bool = True) -> ExplainResult:
    """Search ``config.count`` explainable directions at ``site`` (see the module docstring).

    ``explain_config``: how each round explains (its seed is replaced by ``config.seed``);
    ``corpus``: the reference corpus (n-grams, and the sentences of both halves); ``initial``:
    starting directions ``[K, width]`` instead of random ones; ``baseline``: also score another
    direction's explanation on each held-out set (the random-explanation baseline). Progress: the explain stages of each
    round, and ``"directions"`` events (round done / rounds, with the round's mean score).
    Returns the final explain result of the found directions, scored on held-out texts, with the
    search in ``config["directions"]``: per direction its vector, its first vector, and its rounds.
    """
    t0 = time.perf_counter()
    ecfg = dataclasses.replace(explain_config or ExplainConfig(), seed=config.seed)
    if initial is None:
        dirs = random_directions(config.count, site.width, config.seed).astype(np.float64)
    else:
        dirs = np.asarray(initial, dtype=np.float64)
        if dirs.ndim != 2 or dirs.shape != (config.count, site.width) or not np.isfinite(dirs).all():
            raise ConfigError(f"initial directions must be a finite [{config.count}, {site.width}] array, "
                              f"got shape {dirs.shape}")
        norms = np.linalg.norm(dirs, axis=1, keepdims=True)
        if not (norms > 0).all():
            raise ConfigError("an initial direction is all zeros")
        dirs = dirs / norms
    start = dirs.copy()
    ref = load_corpus(corpus)
    gen = load_corpus(generic)
    llm = resolve_helper(helper, cache_dir)
    search, held = split_halves(split_sentences(list(ref.texts)), config.seed)
    texts = sample_texts(search, config.pool_size, config.seed)
    progress(ProgressEvent("directions", 0, config.rounds, f"token states of {len(texts)} search-half sentences"))
    pool = _Pool(texts, site.states(texts), config)
    names = [f"{site.prefix}.F{k}" for k in range(config.count)]
    history: list[list[RoundRecord]] = [[] for _ in names]
    for rnd in range(1, config.rounds + 1):
        result = explain(site.bank(dirs.astype(np.float32), names), corpus=ref, generic=gen, helper=llm, config=ecfg,
                         cache_dir=cache_dir, progress=progress)
        scores = []
        for k, unit in enumerate(result.units):
            best = unit.best
            if best is None:
                raise ModuleError(f"direction {names[k]} got no explanation in round {rnd}")
            rec, states = pool.record(dirs[k], names[k], best.explanation, config, rnd)
            r, ci, targets = score_round(rec, llm, seed=config.seed)
            if targets is None:  # constant activations on the set: no correlation to climb
                new, after = dirs[k], float("nan")
            else:
                new, _, after = ascend(states, targets, dirs[k], config.steps, config.step_size, config.per_token)
            history[k].append(RoundRecord(rnd, best.explanation, float(best.score.sigma), r, ci, after,
                                          angle_degrees(dirs[k], new)))
            dirs[k] = new
            scores.append(r)
        defined = [s for s in scores if np.isfinite(s)]
        mean = f"{np.mean(defined):.3f}" if defined else "undefined"
        undefined = f", {len(scores) - len(defined)} undefined" if len(defined) < len(scores) else ""
        progress(ProgressEvent("directions", rnd, config.rounds,
                               f"round {rnd}/{config.rounds}: mean score {mean}{undefined}"))
    result = explain_held_out(site.bank(dirs.astype(np.float32), names), None, config, explain_config=ecfg,
                              corpus=ref, generic=gen, helper=llm, cache_dir=cache_dir, progress=progress,
                              baseline=baseline)
    search_info = {
        "site": site.name, "width": site.width, "search": dataclasses.asdict(config),
        "halves": {"search": len(search), "held_out": len(held), "pool": len(pool.texts)},
        "spec": site.spec(dirs.astype(np.float32).tolist()),
        "directions": [{"name": n, "vector": [float(x) for x in dirs[k]], "initial": [float(x) for x in start[k]],
                        "turned_total": angle_degrees(start[k], dirs[k]),
                        "held_out_simulation": held_out_score(result.units[k]),
                        "rounds": [dataclasses.asdict(h) for h in history[k]]}
                       for k, n in enumerate(names)],
        "seconds": time.perf_counter() - t0,
    }
    return dataclasses.replace(result, config={**result.config, "directions": search_info})


def explain_held_out(bank: Any, units: Sequence[str | int] | None, config: DirectionConfig, *,
                     explain_config: ExplainConfig | None = None, corpus: str | Path | list[str] | Corpus = DEFAULT_REFERENCE,
                     generic: str | Path | list[str] | Corpus = DEFAULT_GENERIC, helper: str | HelperLLM = "local",
                     cache_dir: str | Path | None = None, progress: ProgressFn = no_progress,
                     baseline: bool = True) -> ExplainResult:
    """Explain ``units`` of ``bank`` (None: all) and score each unit's best explanation by
    ``simulation`` on a top-and-random set from the held-out half of ``corpus``'s sentences (the half
    no search round saw; :meth:`DirectionConfig.held_out_set`), with another unit's best explanation
    as the baseline (``baseline``): how a search's final directions are scored, and how the benchmark
    scores a layer's neurons and random directions to compare with them. The other candidates keep
    σ only (scoring them all would multiply the helper calls)."""
    from ..scorers import score_on_set
    from ..scorers.run import draw_prepared_sets

    ref, llm = load_corpus(corpus), resolve_helper(helper, cache_dir)
    ecfg = dataclasses.replace(explain_config or ExplainConfig(), seed=config.seed)
    result = explain(bank, units=units, corpus=ref, generic=generic, helper=llm, config=ecfg, cache_dir=cache_dir,
                     progress=progress)
    _, held = split_halves(split_sentences(list(ref.texts)), config.seed)
    held_corpus = Corpus(f"{ref.name} (held-out half, seed {config.seed})", held, ref.source)
    score_cfg = ScoreConfig(("simulation",), config.held_out_set(), seed=config.seed, token_layout=TOKEN_LAYOUT,
                            baseline=baseline)
    cols = [list(bank.units).index(u.unit) for u in result.units]
    n_seen = ecfg.n_top_considered  # the sets stay apart from the n-grams the summaries saw
    sets = draw_prepared_sets(bank, cols, held_corpus, score_cfg, [[t.ngram for t in u.top_ngrams[:n_seen]]
                                                                   for u in result.units])
    bests = [u.best.explanation for u in result.units if u.best is not None]
    out = []
    for i, (u, sset) in enumerate(zip(result.units, sets)):
        progress(ProgressEvent("scoring", i, len(result.units), f"held-out simulation: {u.unit}"))
        if u.best is None:
            out.append(dataclasses.replace(u, scoring_set=sset.to_dict()))
            continue
        (scores,) = score_on_set([u.best.explanation], sset, u.unit, llm, score_cfg,
                                 [b for b in bests if b != u.best.explanation])
        best = dataclasses.replace(u.best, scores={k: v.to_dict() for k, v in scores.items()})
        out.append(dataclasses.replace(u, candidates=[best, *u.candidates[1:]], scoring_set=sset.to_dict()))
    progress(ProgressEvent("scoring", len(out), len(out), "held-out simulation"))
    return dataclasses.replace(result, units=out, config={**result.config, "predictive": {
        "scorers": ["simulation"], "rank_by": "sigma", "set": dataclasses.asdict(score_cfg.set), "baseline": baseline,
        "seed": config.seed, "scored": "best candidate only"}})


def held_out_score(unit: Any) -> float | None:
    """The simulation score of a unit's best candidate on its recorded (held-out) set, or None."""
    best = unit.best
    if best is None:
        return None
    value = (best.scores.get("simulation") or {}).get("value")
    return None if value is None else float(value)


def direction_vectors(result: ExplainResult) -> np.ndarray:
    """``[K, width]`` float32: the found directions of a search result."""
    info = result.config.get("directions")
    if not info:
        raise ConfigError("this result is not a direction search (no config['directions'])")
    return np.asarray([d["vector"] for d in info["directions"]], dtype=np.float32)
