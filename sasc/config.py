"""Settings of an explanation run. Defaults live here and nowhere else."""

from __future__ import annotations

from dataclasses import dataclass, field

from .errors import ConfigError
from .explainers import EXPLAINERS
from .form import FLUENCY_MODELS
from .llm.base import Sampling
from .ngrams import NgramSettings
from .options import check_choices, check_minimums, option
from .summarize import SUMMARY_STYLES, check_styles
from .synthetic import STYLE_NAMES, check_synthetic_style


@dataclass(frozen=True)
class ExplainConfig:
    """Everything that shapes an explanation besides the module, corpora and helper.

    Fields declared with :func:`~sasc.options.option` are the explain options: their flags, the
    service's job limits and ``docs/options.md`` are derived from the declaration and the first
    paragraph of the docstring below it (see :mod:`sasc.options`).
    """

    ngrams: NgramSettings = field(default_factory=NgramSettings)
    """How n-grams are extracted from the reference corpus (its fields are options too)."""
    n_top_reported: int = option(75, min=1, job_max=10_000)
    """Top n-grams (with responses) kept in the result per unit."""
    n_top_considered: int = option(50, flag="--top-considered", min=1, job_max=10_000)
    """Top n-grams a summary draws its n-grams from (paper: 50)."""
    n_per_summary: int = option(30, flag="--per-summary", min=1, job_max=1_000)
    """N-grams shown in one summary prompt, a random subset in rank order (paper: 30)."""
    n_candidates: int = option(10, flag="--candidates", min=1, job_max=50)
    """Summary prompts per unit; duplicate replies merge, so there may be fewer candidates."""
    summary_styles: tuple[str, ...] = option(("theme", "source", "theme", "source", "theme", "property",
                                              "property", "property", "property", "property"),
                                             flag="--summary-styles", choices=tuple(SUMMARY_STYLES))
    """Summary prompt styles cycled over the candidates, comma-separated: theme, source, property.

    See ``sasc.summarize.SUMMARY_STYLES``: ``"theme"`` asks for the phrases' common theme (the
    paper's prompt), ``"source"`` for the kind of text they come from (what it is about, does, or
    what attitude it expresses), ``"property"`` for what the texts have in common (topic, stance,
    tone or purpose). The default: 5 summaries alternating theme and source, then 5 property ones
    (how it was chosen: docs/d3_experiments.md)."""
    n_synthetic: int = option(10, flag="--synthetic", min=1, job_max=200)
    """Synthetic texts per candidate; their mean response ranks the candidates."""
    synthetic_style: str = option("about", flag="--synthetic-style", choices=tuple(sorted(STYLE_NAMES)),
                                  legacy="about")
    """How the helper is asked for the synthetic texts: sentences 'about' the candidate, texts that
    are an 'example' of it, or half of each ('mixed').

    See ``sasc.synthetic.SYNTHETIC_STYLES``."""
    direct_screen: int = option(2, flag="--direct-screen", min=0, job_max=50, zero="every candidate is scored",
                                legacy=0)
    """Score only the N candidates the module responds to most as texts themselves; the rest are
    listed unscored.

    When there are more candidates than this, only the ``direct_screen`` candidates the module
    responds to most *as texts themselves* (the explanation string scored like an n-gram) get
    synthetic texts; the others are kept in the result unscored, after the scored ones. A cheap
    first filter: it drops candidates worded away from what the module responds to before the
    helper writes anything for them."""
    n_unrelated: int = option(0, flag="--unrelated", min=0, job_max=200, zero="none")
    """Unrelated synthetic texts per candidate, for the paper's σ variant (sigma_paper) only.

    0 writes none and halves the helper's work. The σ that ranks candidates uses the generic
    corpus as baseline either way."""
    n_tiebreak: int = option(0, flag="--tiebreak", min=0, job_max=200, zero="off")
    """When the two best candidates' σ intervals overlap, this many more synthetic texts for each
    before the final ranking.

    The intervals are the 95% intervals of σ; both candidates are rescored with the extra texts."""
    form_repair: bool = option(True, flag="--form-repair", legacy=False)
    """Repair candidates before scoring where the meaning stays: collapse a repeated word, drop a
    repeated list item or a dangling last word (true, false).

    ``"Food and food"`` -> ``"Food"``, ``"Chess, chess-related"`` -> ``"Chess"``, ``"Recipes and"`` ->
    ``"Recipes"`` (:func:`sasc.form.repair`); each repair is listed in the unit's ``repairs`` and
    counted in its ``cleaning``. A repaired candidate keeps the direct pre-screen place of the text
    it was repaired from, so a repair never decides whether it is scored. False: the candidates
    are scored as cleaned."""
    readable_ranking: bool = option(True, flag="--readable-ranking", legacy=False)
    """When the best candidate by σ fails the form check, put first a readable candidate whose σ
    interval overlaps it (true, false).

    The form check (:mod:`sasc.form`) flags a repeated word, a tautology, a dangling end, a
    question, meta-text, more than 10 words, or low fluency. Among the candidates that pass it
    and whose 95% σ interval overlaps the best's, the shortest (then the highest σ) goes first.
    Before that, up to 2 candidates the pre-screen left unscored that pass and paraphrase or
    condense the failing winner are scored. False: σ's order, nothing more scored."""
    fluency_model: str = option("smollm2", flag="--fluency-model", choices=FLUENCY_MODELS, legacy="smollm2")
    """Small LM scoring each candidate's fluency in the form check: smollm2 (SmolLM2-135M,
    offline), or '' for none (the rules only).

    The fluency is how much the candidate's own words predict each other (:func:`sasc.form.slor`)."""
    evidence: str = option("input", flag="--evidence", choices=("input", "output"), benchmark=False,
                           legacy="input")
    """What the summaries are shown: the unit's top n-grams ('input'), or also what the unit makes the
    model say ('output'; LLM neurons and directions only).

    With 'output' the unit's output-side evidence is computed once (the tokens it promotes through
    the unembedding and those whose probability rises most when it is turned up on its top n-grams:
    ``output_evidence`` in the result, shown under the top n-grams), every summary prompt lists
    those tokens after the n-grams, and one more candidate is summarized from the tokens alone (an
    output-side explanation, style 'output'; ``--scorers steering`` scores what a unit makes the
    model say)."""
    method: str = option("single", flag="--method", choices=EXPLAINERS, legacy="single")
    """How candidates are found: 'single' (one pass of summaries of the top n-grams, SASC) or
    'iterative' (also an experimenter loop that writes, edits and runs texts and revises hypotheses).

    With 'iterative' the loop (:mod:`sasc.iterative`) starts from the top n-grams and the single-pass
    candidates; its best-tested hypotheses join the candidates and are always scored with σ, so
    both methods are ranked by the same score. Its record is the unit's ``experiment``."""
    iter_rounds: int = option(6, flag="--iter-rounds", min=1, job_max=50, legacy=6)
    """With --method iterative: the most rounds (helper actions) per unit."""
    iter_tokens: int = option(12000, flag="--iter-tokens", min=100, job_max=500_000, legacy=12000)
    """With --method iterative: the most helper tokens (prompt and reply) the loop spends per unit."""
    iter_seconds: int = option(180, flag="--iter-seconds", min=1, job_max=3600, legacy=180)
    """With --method iterative: the most seconds the loop runs per unit (σ scoring comes after)."""
    iter_stop_sigma: float = option(4.0, flag="--iter-stop-sigma", min=0, job_max=1000, legacy=4.0)
    """With --method iterative: stop early once a hypothesis's written texts reach this σ and beat their near misses by 1σ."""
    n_generic: int = option(500, flag="--generic-size", min=2, job_max=100_000)
    """Generic-corpus texts in the σ baseline (sampled with the seed)."""
    n_bootstrap: int = option(1000, min=1, job_max=100_000)
    """Bootstrap resamples for the 95% interval of σ."""
    seed: int = option(0, flag="--seed", min=0, job_max=2**32 - 1, benchmark=False)
    """Random seed of n-gram subsets, helper sampling, generic sampling and the bootstrap."""
    summary_sampling: Sampling = field(default_factory=lambda: Sampling(temperature=0.7, max_tokens=48))
    """Helper sampling for summaries (library only: not a flag nor a service setting)."""
    synthetic_sampling: Sampling = field(default_factory=lambda: Sampling(temperature=0.7, max_tokens=600))
    """Helper sampling for synthetic texts (library only: not a flag nor a service setting)."""
    shard_size: int = option(4096, min=1, job_max=1_000_000)
    """N-grams per independent unit of work in the response stage."""

    def __post_init__(self) -> None:
        if isinstance(self.summary_styles, str):
            raise ConfigError(f"summary_styles must be a list of style names, got the string {self.summary_styles!r}")
        object.__setattr__(self, "summary_styles", check_styles(self.summary_styles))  # a JSON list becomes a tuple
        check_synthetic_style(self.synthetic_style)
        if self.fluency_model not in FLUENCY_MODELS:
            raise ConfigError(f"fluency_model must be one of {list(FLUENCY_MODELS)}, got {self.fluency_model!r}")
        check_minimums(self)
        check_choices(self)
