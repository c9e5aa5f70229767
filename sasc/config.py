"""Settings of an explanation run. Defaults live here and nowhere else."""

from __future__ import annotations

from dataclasses import dataclass, field

from .errors import ConfigError
from .llm.base import Sampling
from .ngrams import NgramSettings
from .summarize import check_styles
from .synthetic import check_synthetic_style


@dataclass(frozen=True)
class ExplainConfig:
    """Everything that shapes an explanation besides the module, corpora and helper."""

    ngrams: NgramSettings = field(default_factory=NgramSettings)
    """How n-grams are extracted from the reference corpus."""
    n_top_reported: int = 75
    """Top n-grams (with responses) kept in the result per unit."""
    n_top_considered: int = 50
    """Top n-grams a summary draws from (paper: 50)."""
    n_per_summary: int = 30
    """N-grams shown in one summary prompt, a random subset in rank order (paper: 30)."""
    n_candidates: int = 10
    """Summary prompts per unit; duplicates merge, so there may be fewer candidates."""
    summary_styles: tuple[str, ...] = ("theme", "source", "theme", "source", "theme",
                                       "property", "property", "property", "property", "property")
    """Summary prompt styles, cycled over the candidates (see ``sasc.summarize.SUMMARY_STYLES``):
    ``"theme"`` asks for the phrases' common theme (the paper's prompt), ``"source"`` for the kind of
    text they come from (what it is about, does, or what attitude it expresses), ``"property"``
    for what the texts have in common (topic, stance, tone or purpose). The default: 5 summaries
    alternating theme and source, then 5 property ones. On D3 (54 tasks x 3 seeds, the pre-screen
    keeping 2) it gave 82.1% / 73.5% / 71.6% top-1 (default / restricted / noisy setting) against
    77.8% / 67.3% / 67.3% for its first 5 alone (``n_candidates=5``), for 68% more helper calls
    (both with version 1 of the summary cleaning; version 2 gave 82.1% / 73.5% / 72.2%, version 3,
    the current one, 82.1% / 73.5% / 71.6%).
    Cycling ``("theme", "source", "property")`` over 5 summaries gave 42/54 top-1 against 44/54
    (seed 0)."""
    n_synthetic: int = 10
    """Synthetic texts about each candidate; their mean response ranks the candidates."""
    synthetic_style: str = "about"
    """How the helper is asked for those texts (see ``sasc.synthetic.SYNTHETIC_STYLES``):
    ``"about"``, sentences about the candidate; ``"example"``, texts that are examples of it;
    ``"mixed"``, half of each.
    On D3 (54 tasks) ``"example"`` gave the same top-1 (42/54) with lower similarity, so ``"about"``."""
    direct_screen: int = 2
    """When > 0 and there are more candidates, only the ``direct_screen`` candidates the module
    responds to most *as texts themselves* (the explanation string scored like an n-gram) get
    synthetic texts; the others are kept in the result unscored, after the scored ones. 0: every
    candidate is scored. A cheap first filter: it drops candidates worded away from what the
    module responds to before the helper writes anything for them. On D3 (54 tasks, seed 0) 2 of 5
    took top-1 from 42 to 44 (default), 33 to 36 (restricted) and 36 to 38 (noisy) with 30% fewer
    helper calls; 2 was the best value of 1-5 in every setting, replayed on the recorded candidates."""
    n_unrelated: int = 0
    """Synthetic texts unrelated to each candidate, only for the paper's σ variant
    (``sigma_paper``); 0 writes none and halves the helper's work. The σ that ranks
    candidates uses the generic corpus as baseline either way."""
    n_tiebreak: int = 0
    """When > 0 and the 95% intervals of the two best candidates' σ overlap, each of the two gets
    this many more synthetic texts and both are rescored before the final ranking. 0: off.
    On D3 (54 tasks) 10 gave the same top-1 accuracy for 20% more helper calls, so it is off."""
    n_generic: int = 500
    """Generic-corpus texts in the σ baseline (sampled with the seed)."""
    n_bootstrap: int = 1000
    """Bootstrap resamples for the 95% interval of σ."""
    seed: int = 0
    """Seeds n-gram subsets, helper sampling, generic sampling and the bootstrap."""
    summary_sampling: Sampling = field(default_factory=lambda: Sampling(temperature=0.7, max_tokens=48))
    """Helper sampling for summaries."""
    synthetic_sampling: Sampling = field(default_factory=lambda: Sampling(temperature=0.7, max_tokens=600))
    """Helper sampling for synthetic texts."""
    shard_size: int = 4096
    """N-grams per independent unit of work in the response stage."""

    def __post_init__(self) -> None:
        if isinstance(self.summary_styles, str):
            raise ConfigError(f"summary_styles must be a list of style names, got the string {self.summary_styles!r}")
        object.__setattr__(self, "summary_styles", check_styles(self.summary_styles))  # a JSON list becomes a tuple
        check_synthetic_style(self.synthetic_style)
        for name in ("n_top_reported", "n_top_considered", "n_per_summary", "n_candidates",
                     "n_synthetic", "n_bootstrap", "shard_size"):
            if getattr(self, name) < 1:
                raise ConfigError(f"{name} must be >= 1, got {getattr(self, name)}")
        if self.seed < 0:
            raise ConfigError(f"seed must be >= 0, got {self.seed}")
        for name in ("n_unrelated", "n_tiebreak", "direct_screen"):
            if getattr(self, name) < 0:
                raise ConfigError(f"{name} must be >= 0, got {getattr(self, name)}")
        if self.n_generic < 2:
            raise ConfigError(f"n_generic must be >= 2, got {self.n_generic}")
