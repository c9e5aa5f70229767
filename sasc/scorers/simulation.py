"""``simulation`` (Bills et al. 2023): the helper reads the explanation and a text and predicts the
unit's response on 0..10; the prediction is the expected value over its probabilities of "0".."10";
the score is the Pearson correlation of predictions and true responses over the scoring set (and,
in ``details``, over its random texts only).

Per-text sets ask one question per text. Token excerpts (:attr:`ScoringRecord.tokens`) use Bills's
"all at once" layout adapted to a chat helper: one prompt per excerpt lists its tokens one per line,
each followed by a tab and a placeholder (Bills's "unknown"), the helper copies each line with a
value in place of the placeholder, and each value is read as the expected
value over the alternatives of the first digit token after that tab. So a 64-token excerpt is one
call of about 4 generated tokens per token, not 64 prompts. The copied lines are aligned to the
excerpt's tokens (:func:`align`); a token the reply left out is predicted 0 and counted as
``unaligned``. Whitespace-only tokens are not shown and are predicted 0. The correlation is pooled
over all tokens; its interval resamples whole excerpts. ``details`` also carry Bills's
explanation-free lookup-table baseline when the set has held-out excerpts.

Two other layouts (:data:`TOKEN_LAYOUTS`): ``sparse`` lists only the tokens the unit responds to;
``per_word`` asks one yes/no question per word of the excerpt ("does this word, as used in this
text, fit the explanation?"), every question the same prompt up to the word so a backend reuses
the prefix's KV cache, and predicts the word's tokens from the log-odds of yes
(:func:`yes_no_value`). With the 1.5B local helper it ranks the words an explanation fits far
better than the 0..10 copy does (docs/predictive_scoring.md, "A yes/no simulator").
"""

from __future__ import annotations

import difflib
import re
import string
from collections.abc import Sequence
from typing import Any

import numpy as np

from ..llm.base import Completion, HelperLLM, helper_reuses_prefix
from .ask import ask, parse_number, parse_yes_no, read_answers, require_logprobs
from .base import ScoreResult, ScoringRecord
from .stats import (
    NUMBER_ANSWERS, answer_mass, bootstrap_ci, expected_value, grouped_bootstrap_ci, lookup_predict, lookup_table,
    pearson,
)

PROMPT = """A unit of a language-processing model is described by this explanation:
"{explanation}"

How strongly does the unit respond to the text below, on a scale from 0 (not at all) to 10 (as strongly as it ever does)?

Text: "{text}"

Answer with one number from 0 to 10 and nothing else."""

TOKEN_PROMPT = """A unit of a language model is described by this explanation:
"{explanation}"

Below, a text is split into tokens, one per line, each followed by a tab and _. Copy every line in order, replacing each _ with how strongly the unit responds at that token, from 0 (not at all) to 10 (as strongly as it ever does). Tokens that fit the explanation get high values; most other tokens get 0.

Example, for a unit described as "animals":
The\t0
black\t0
cat\t9
chased\t0
two\t0
mice\t8
.\t0

Tokens of the text:
{lines}"""

SPARSE_TOKEN_PROMPT = """A unit of a language model is described by this explanation:
"{explanation}"

Below, a text is split into tokens, one per line. List only the tokens at which the unit responds, in order, one per line: the token, a tab, and how strongly the unit responds there, from 1 to 10 (10: as strongly as it ever does). Leave out every token where it does not respond. If it responds to none of them, write NONE.

Example, for a unit described as "animals" and the tokens The, black, cat, chased, two, mice, .:
cat\t9
mice\t8

Tokens of the text:
{lines}"""

WORD_PROMPT = """Explanation: {explanation}

Text: "{text}"

For the word named below, answer yes if that word itself, as used in this text, fits the explanation "{explanation}", otherwise answer no. Answer with one word.

Word: """
"""The ``per_word`` layout's question: everything up to "Word: " is the same for every word of an
excerpt (the prefix a backend reuses); the word follows, quoted, with its occurrence number when
it appeared before in the excerpt."""

TOKEN_LAYOUTS = ("all_at_once", "sparse", "per_word")
"""Per-token simulation layouts: every token copied with a value (``all_at_once``, Bills's), or only
the tokens the unit responds to listed with theirs, the rest predicted 0 (``sparse``: a few generated
tokens per excerpt instead of ~4 per token), or one yes/no question per word of the excerpt, each
a few tokens past a shared prefix (``per_word``: a small helper ranks the words an explanation
fits far better from a yes/no question than from a 0..10 copy; docs/predictive_scoring.md)."""

TOKEN_LAYOUT_CHOICES = ("auto", *TOKEN_LAYOUTS)
"""What a user may ask for: a layout, or ``auto`` (the default; :func:`resolve_token_layout`)."""


def resolve_token_layout(layout: str, helper: object) -> str:
    """The layout a run uses: ``layout`` itself, or for ``auto``, ``per_word`` when the helper's
    backend reuses a shared prompt prefix (the embedded llama.cpp helper: each word's question costs
    a few tokens, and it ranks fitting words far better than a copy with values: per-explanation
    AUROC 0.92 vs 0.76 with the 1.5B helper, 0.70 vs 0.50 with the 0.5B, whose copies never align;
    docs/predictive_scoring.md), else ``all_at_once`` (Bills's: one call per excerpt, which is what
    a remote API bills least for and what other tools report)."""
    if layout != "auto":
        return layout
    return "per_word" if helper_reuses_prefix(helper) else "all_at_once"


LOG_ODDS_RANGE = 8.0
"""``per_word`` predictions are the helper's log-odds of "yes" over "no", clipped to ±this and mapped
linearly onto 0..10 (a probability of "yes" from 0.0003 to 0.9997). Log-odds, not 10·P(yes): on the
invented sentences of benchmarks/simulator_sensitivity.py they correlate better with the words an
explanation fits (the probability saturates near 0 and spreads the fitting words widely)."""

SPARSE_MAX_LINES = 12
"""Lines a sparse reply may have (the generation budget): a unit responds at a few tokens of an
excerpt; without a cap the 1.5B helper sometimes repeats one line until the budget runs out."""

_VALUE = re.compile(r"^\s*(\d+)")
_EDGE_PUNCTUATION = string.punctuation + "“”‘’«»…"


def shown(token: str) -> str:
    """How a token is written in :data:`TOKEN_PROMPT` ("" for a whitespace-only token, not shown)."""
    return " ".join(token.split())


def read_token_lines(reply: Completion, *, sampled: bool) -> list[tuple[str, float | None]]:
    """The reply's lines as ``(token as copied, value)``; the value is the expected value over the
    first digit token after the tab (logprobs) or the integer written there (``sampled``, or when
    no alternative of that token is a number); None for a line without a value."""
    if sampled or not reply.top_logprobs:
        return [(_token_part(line), _written_value(line)) for line in reply.text.splitlines() if line.strip()]
    out: list[tuple[str, float | None]] = []
    line, value = "", None
    for alts in reply.top_logprobs:
        if not alts:
            continue
        before, line = line, line + alts[0][0]  # greedy: the token generated is the most likely one
        if value is None and "\t" in line and _first_after_tab(before, line):
            value = expected_value(alts, NUMBER_ANSWERS)
        while "\n" in line:
            first, line = line.split("\n", 1)
            if first.strip():
                out.append((_token_part(first), value if value is not None else _written_value(first)))
            value = None
    if line.strip():
        out.append((_token_part(line), value if value is not None else _written_value(line)))
    return out


def _first_after_tab(before: str, line: str) -> bool:
    """Whether the token that turned ``before`` into ``line`` holds the first character after the tab."""
    prior = before.split("\t", 1)[1] if "\t" in before else ""
    return not prior.strip() and bool(line.split("\t", 1)[1].strip())


def _token_part(line: str) -> str:
    return shown(line.split("\t", 1)[0]) if "\t" in line else shown(re.sub(r"[\s:=|-]*\d+\s*$", "", line))


def _written_value(line: str) -> float | None:
    if "\t" in line:
        tail = line.split("\t", 1)[1]
    else:
        end = re.search(r"(\d+)\s*$", line)
        tail = end.group(1) if end else ""
    m = _VALUE.match(tail)
    return float(m.group(1)) if m and int(m.group(1)) <= 10 else None


def align(expected: Sequence[str], lines: Sequence[tuple[str, float | None]]) -> tuple[np.ndarray, int]:
    """Per expected token (as :func:`shown`), the value of the reply line copied from it (NaN where
    none was), matching the copied tokens to the expected ones in order (case-insensitive); and
    how many expected tokens got no value."""
    want = [e.lower() for e in expected]
    got = [t.lower() for t, _ in lines]
    out = np.full(len(expected), np.nan)
    matcher = difflib.SequenceMatcher(None, want, got, autojunk=False)
    for block in matcher.get_matching_blocks():
        for k in range(block.size):
            v = lines[block.b + k][1]
            if v is not None:
                out[block.a + k] = min(max(v, 0.0), 10.0)
    return out, int(np.isnan(out).sum())


def align_sparse(expected: Sequence[str], lines: Sequence[tuple[str, float | None]]) -> tuple[np.ndarray, int]:
    """Per expected token, the value of the listed line that names it (0 where none does), each
    listed token matched to the next expected token with that text (case-insensitive), in order;
    and how many listed lines matched no token (a "NONE" line is not counted)."""
    want = [e.lower() for e in expected]
    out = np.zeros(len(expected))
    cursor, unmatched = 0, 0
    for token, value in lines:
        t = token.lower()
        if t == "none" and value is None:
            continue
        hit = next((i for i in range(cursor, len(want)) if want[i] == t), None)
        if hit is None:
            unmatched += 1
            continue
        out[hit] = min(max(value or 0.0, 0.0), 10.0)
        cursor = hit + 1
    return out, unmatched


def words_of(tokens: Sequence[str]) -> list[tuple[str, list[int]]]:
    """The excerpt's words as ``(word as shown, indices of its tokens)``: a word starts at a token
    that begins with whitespace (or the first shown token) and takes the tokens glued to it;
    whitespace-only tokens belong to no word."""
    out: list[tuple[str, list[int]]] = []
    glued = False
    for i, tok in enumerate(tokens):
        if not tok.strip():
            glued = False
            continue
        if glued and not tok[:1].isspace():
            word, idx = out[-1]
            out[-1] = (word + tok, idx + [i])
        else:
            out.append((tok.strip(), [i]))
        glued = not tok[-1:].isspace()
    return [(" ".join(w.split()), idx) for w, idx in out]


def word_questions(explanation: str, tokens: Sequence[str]) -> tuple[list[str], list[list[int]]]:
    """The ``per_word`` prompts of one excerpt (one per word, in order) and each word's token
    indices; a word is named without the punctuation at its ends ("sat." asks about "sat")."""
    prefix = WORD_PROMPT.format(explanation=explanation, text="".join(tokens))
    prompts, groups, seen = [], [], {}
    for glued, idx in words_of(tokens):
        word = glued.strip(_EDGE_PUNCTUATION) or glued
        n = seen[word.lower()] = seen.get(word.lower(), 0) + 1
        again = f" (occurrence {n})" if n > 1 else ""
        prompts.append(f'{prefix}"{word}"{again}')
        groups.append(idx)
    return prompts, groups


def yes_no_value(alternatives: Sequence[tuple[str, float]]) -> float | None:
    """The ``per_word`` prediction (0..10) from one token's alternatives: the log-odds of "yes"
    over "no" (variants in case and spacing add up), clipped to ±:data:`LOG_ODDS_RANGE` and mapped
    linearly onto 0..10. An answer missing from the alternatives counts as no more likely than the
    least likely alternative listed. None when neither answer is there."""
    mass = answer_mass(alternatives, ("yes", "no"))
    if not mass:
        return None
    floor = min(float(lp) for _, lp in alternatives)
    yes, no = (np.log(mass[k]) if k in mass else floor for k in ("yes", "no"))
    odds = min(max(yes - no, -LOG_ODDS_RANGE), LOG_ODDS_RANGE)
    return float(10.0 * (odds + LOG_ODDS_RANGE) / (2 * LOG_ODDS_RANGE))


def simulate_words(record: ScoringRecord, helper: HelperLLM, *, sampled: bool = False,
                   seed: int = 0) -> tuple[list[np.ndarray], int]:
    """:func:`simulate_tokens` for the ``per_word`` layout: one yes/no question per word, every
    token of a word predicted the word's value; whitespace-only tokens, and words whose reply held
    neither answer (the second number counts them), are predicted the excerpt's lowest word value,
    since on this scale a plain "no" sits above 0. The questions of an excerpt go out in order with
    ``reuse_prefix`` so a backend evaluates only the few tokens past the shared prefix."""
    asked = [word_questions(record.explanation, toks) for toks in record.tokens]
    replies = iter(ask(helper, [p for ps, _ in asked for p in ps], sampled=sampled, seed=seed, max_tokens=1))
    preds, missing = [], 0
    for toks, (_, groups) in zip(record.tokens, asked):
        values: list[float | None] = []
        for _ in groups:
            reply = next(replies)
            if sampled:
                answer = parse_yes_no(reply.text) or {}
                values.append(10.0 if "yes" in answer else 0.0 if "no" in answer else None)
            else:
                require_logprobs(reply, helper.name)
                values.append(next((v for v in map(yes_no_value, reply.top_logprobs) if v is not None), None))
        answered = [v for v in values if v is not None]
        floor = min(answered, default=0.0)  # the least fitting word's value: "no" on this scale is not 0
        pred = np.full(len(toks), floor)
        for idx, value in zip(groups, values):
            pred[idx] = floor if value is None else value
        missing += len(values) - len(answered)
        preds.append(pred)
    return preds, missing


def simulate(record: ScoringRecord, helper: HelperLLM, *, sampled: bool = False, seed: int = 0) -> np.ndarray:
    """The simulated response (0..10) to each text of ``record``."""
    prompts = [PROMPT.format(explanation=record.explanation, text=t) for t in record.texts]
    replies = ask(helper, prompts, sampled=sampled, seed=seed)
    probs = read_answers(replies, NUMBER_ANSWERS, helper.name, sampled=sampled, parse=parse_number)
    return np.array([sum(float(a) * p for a, p in pr.items()) for pr in probs], dtype=np.float64)


def simulate_tokens(record: ScoringRecord, helper: HelperLLM, *, sampled: bool = False,
                    seed: int = 0) -> tuple[list[np.ndarray], int]:
    """Per excerpt of ``record``, the simulated activation (0..10) of each token (one helper call
    per excerpt, "all at once"); and the number of shown tokens the replies left without a value
    (predicted 0). Raises like :func:`~sasc.scorers.ask.read_answers` when logprobs were asked for
    and the backend returned none."""
    if record.token_layout == "per_word":
        return simulate_words(record, helper, sampled=sampled, seed=seed)
    sparse = record.token_layout == "sparse"
    shows = [[shown(t) for t in toks] for toks in record.tokens]
    if sparse:
        prompts = [SPARSE_TOKEN_PROMPT.format(explanation=record.explanation, lines="\n".join(s for s in sh if s))
                   for sh in shows]
    else:
        prompts = [TOKEN_PROMPT.format(explanation=record.explanation, lines="\n".join(s + "\t_" for s in sh if s))
                   for sh in shows]
    longest = max((sum(1 for s in sh if s) for sh in shows), default=1)
    # sparse: room for SPARSE_MAX_LINES lines; more is the 1.5B helper repeating one line to the end
    budget = 6 * min(longest, SPARSE_MAX_LINES) + 8 if sparse else max(8, 6 * longest + 16)
    replies = ask(helper, prompts, sampled=sampled, seed=seed, max_tokens=budget)
    preds, missing = [], 0
    for sh, reply in zip(shows, replies):
        if not sampled:
            require_logprobs(reply, helper.name)
        keep = [i for i, s in enumerate(sh) if s]
        lines = read_token_lines(reply, sampled=sampled)
        values, unaligned = (align_sparse if sparse else align)([sh[i] for i in keep], lines)
        pred = np.zeros(len(sh))
        pred[keep] = np.nan_to_num(values, nan=0.0)
        preds.append(pred)
        missing += unaligned
    return preds, missing


class SimulationScorer:
    """Correlation of simulated and true responses (see the module docstring)."""

    name = "simulation"

    def __call__(self, record: ScoringRecord, helper: HelperLLM, *, sampled: bool = False, seed: int = 0,
                 n_boot: int = 1000) -> ScoreResult:
        return self.score_and_predict(record, helper, sampled=sampled, seed=seed, n_boot=n_boot)[0]

    def score_and_predict(self, record: ScoringRecord, helper: HelperLLM, *, sampled: bool = False, seed: int = 0,
                          n_boot: int = 1000) -> tuple[ScoreResult, Any]:
        """The score and the simulated responses it was computed from: ``[n_texts]``, or per excerpt
        ``[n_tokens]`` arrays with token excerpts; None when the set alone makes the score undefined
        (the helper is not asked)."""
        method = "sampled" if sampled else "logprobs"
        if record.tokens:
            return self._per_token(record, helper, sampled=sampled, seed=seed, n_boot=n_boot)
        true = np.asarray(record.responses, dtype=np.float64)
        _, reason = pearson(np.arange(true.size), true)  # an empty or constant set: no helper call
        if reason is not None:
            return ScoreResult(self.name, float("nan"), float("nan"), float("nan"), int(true.size),
                               undefined_reason=reason, method=method), None
        pred = simulate(record, helper, sampled=sampled, seed=seed)
        value, reason = pearson(pred, true)
        lo, hi = bootstrap_ci(pearson, [pred, true], n_boot, seed) if reason is None else (float("nan"),) * 2
        rand = ~np.asarray(record.is_top, dtype=bool)
        random_only, _ = pearson(pred[rand], true[rand])
        return ScoreResult(self.name, value, lo, hi, int(true.size), undefined_reason=reason, method=method,
                           details={"random_only": random_only, "n_random": int(rand.sum())}), pred

    def _per_token(self, record: ScoringRecord, helper: HelperLLM, *, sampled: bool, seed: int,
                   n_boot: int) -> tuple[ScoreResult, list[np.ndarray] | None]:
        method = "sampled" if sampled else "logprobs"
        true = [np.asarray(v, dtype=np.float64) for v in record.token_values]
        flat = np.concatenate(true) if true else np.zeros(0)
        n_tokens = int(flat.size)
        _, reason = pearson(np.arange(n_tokens), flat)
        details: dict[str, float | int | str] = {"layout": record.token_layout, "n_tokens": n_tokens}
        if reason is not None:
            return ScoreResult(self.name, float("nan"), float("nan"), float("nan"), len(true),
                               undefined_reason=reason, method=method, details=details), None
        preds, missing = simulate_tokens(record, helper, sampled=sampled, seed=seed)
        value, reason = pearson(np.concatenate(preds), flat)
        lo, hi = (grouped_bootstrap_ci(pearson, list(zip(preds, true)), n_boot, seed) if reason is None
                  else (float("nan"),) * 2)
        rand = [i for i, top in enumerate(record.is_top) if not top]
        random_only = _pooled([preds[i] for i in rand], [true[i] for i in rand])
        gaps = "unanswered_words" if record.token_layout == "per_word" else "unaligned_tokens"
        details |= {"random_only": random_only, "n_random": len(rand), gaps: missing}
        if record.held_out:
            table, default = lookup_table(record.held_out)
            lut = [lookup_predict(table, default, toks) for toks in record.tokens]
            details |= {"lookup_table": _pooled(lut, true),
                        "lookup_table_random_only": _pooled([lut[i] for i in rand], [true[i] for i in rand])}
        return ScoreResult(self.name, value, lo, hi, len(true), undefined_reason=reason, method=method,
                           details=details), preds


def _pooled(pred: Sequence[np.ndarray], true: Sequence[np.ndarray]) -> float:
    """Pearson correlation pooled over the tokens of these excerpts (NaN when undefined)."""
    if not pred:
        return float("nan")
    return pearson(np.concatenate(pred), np.concatenate(true))[0]
