"""Does the per-token simulator read the explanation? (issue 25)

Two invented sentences and seven explanations, each fitting known words of them ("food and drink":
coffee, bread, bakery, ...; four topics, then a word class, one word and a role). For each token layout, every explanation is simulated on both
sentences, and the script prints the tokens predicted 1 or more and the mean predicted value on the
words each explanation fits against the other words, with the correlation of prediction and fit
(what a simulation score would see here): pooled over all explanations, and per explanation (a
scoring set has one explanation, so only the order within it counts), with the AUROC of fitting
words against the rest per explanation. A simulator that ignores the explanation gives the two
means alike; one that reads it puts the fitting words far above the rest.

Usage::

    python benchmarks/simulator_sensitivity.py [--helper local] [--layouts all_at_once,sparse,per_word] [--cache-dir D]
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import numpy as np  # noqa: E402

from sasc.explain import resolve_helper  # noqa: E402
from sasc.scorers.base import ScoringRecord  # noqa: E402
from sasc.scorers.simulation import simulate_tokens  # noqa: E402

TEXTS = ("She drank coffee and ate fresh bread at the bakery before her train left the station.",
         "The striker scored twice as the football club won the league, while the mayor cut taxes.")
FITS = {"food and drink": {"coffee", "bread", "bakery", "drank", "ate"},
        "trains and railway travel": {"train", "station"},
        "football and sports": {"striker", "scored", "football", "club", "league"},
        "taxes and local government": {"mayor", "taxes"},
        "verbs in the past tense": {"drank", "ate", "left", "scored", "won", "cut"},
        "the word 'the'": {"the"},
        "people and their roles": {"she", "her", "striker", "mayor"}}


def tokens(text: str) -> tuple[str, ...]:
    """Whitespace tokens, with the leading space a subword tokenizer would give them."""
    first, *rest = text.split()
    return (first, *(" " + w for w in rest))


def point_biserial(fit: list[float], rest: list[float]) -> float:
    """Pearson r of the predictions and "fits" (1/0): what a simulation score would see here."""
    values = np.array(fit + rest)
    return float(np.corrcoef(values, [1.0] * len(fit) + [0.0] * len(rest))[0, 1]) if values.std() > 0 else float("nan")


def auroc(fit: list[float], rest: list[float]) -> float:
    """Probability that a fitting word is predicted above another word (ties count half)."""
    a, b = np.asarray(fit)[:, None], np.asarray(rest)[None, :]
    return float(((a > b).sum() + 0.5 * (a == b).sum()) / (a.size * b.size))


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--helper", default="local")
    p.add_argument("--layouts", default="all_at_once,sparse,per_word")
    p.add_argument("--cache-dir", default=None, help="reply cache (default: a temp dir, so cold)")
    args = p.parse_args()
    toks = tuple(tokens(t) for t in TEXTS)
    with tempfile.TemporaryDirectory() as tmp:
        helper = resolve_helper(args.helper, args.cache_dir or tmp)
        for layout in args.layouts.split(","):
            t0 = time.perf_counter()
            fit, rest, per_r, per_auc = [], [], [], []
            for explanation, words in FITS.items():
                own_fit, own_rest = [], []
                record = ScoringRecord("u", explanation, TEXTS, (0.0, 0.0), (True, False), tokens=toks,
                                       token_values=tuple(tuple(0.0 for _ in t) for t in toks), token_layout=layout)
                preds, missing = simulate_tokens(record, helper)
                for tk, pred in zip(toks, preds):
                    for w, v in zip(tk, pred):
                        (own_fit if w.strip(" .,").lower() in words else own_rest).append(float(v))
                fit, rest = fit + own_fit, rest + own_rest
                per_r.append(point_biserial(own_fit, own_rest))
                per_auc.append(auroc(own_fit, own_rest))
                cut = 5.0 if layout == "per_word" else 1.0  # per_word: 5 is even odds of yes
                high = [(w.strip(), round(float(v), 1)) for tk, pred in zip(toks, preds) for w, v in zip(tk, pred)
                        if v >= cut]
                print(f"{layout:11s} {explanation!r:30s} unaligned {missing}  predicted >= {cut:g}: {high}", flush=True)
            # the point-biserial r of prediction and "fits": what a simulation score would see here
            print(f"{layout}: mean predicted value on the words each explanation fits {np.mean(fit):.2f}, "
                  f"on the other words {np.mean(rest):.2f}; r(prediction, fits) pooled {point_biserial(fit, rest):.3f}, "
                  f"per explanation {' '.join(f'{x:.2f}' for x in per_r)} (mean {np.mean(per_r):.3f}); "
                  f"AUROC per explanation {' '.join(f'{x:.2f}' for x in per_auc)} (mean {np.mean(per_auc):.3f}); "
                  f"{time.perf_counter() - t0:.0f} s", flush=True)


if __name__ == "__main__":
    main()
