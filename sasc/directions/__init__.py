"""Explainable directions: search a causal LM's layer for directions the explain-then-simulate
process explains well (Bills et al. 2023), and export them as ``llm_direction`` modules."""

from .math import angle_degrees, ascend, pearson_gradient, percentile_among, random_directions, readout_rows
from .search import (
    CausalLMSite, DirectionConfig, DirectionSite, RoundRecord, causal_lm_site, direction_vectors, explain_held_out,
    find_directions,
    held_out_score, score_round, split_halves,
)
from .export import save_directions, score_by_round, score_by_round_figure

__all__ = [
    "CausalLMSite", "DirectionConfig", "DirectionSite", "RoundRecord", "angle_degrees", "ascend", "causal_lm_site",
    "direction_vectors", "explain_held_out", "find_directions", "held_out_score", "pearson_gradient", "percentile_among",
    "random_directions", "readout_rows", "save_directions", "score_by_round", "score_by_round_figure", "score_round",
    "split_halves",
]
