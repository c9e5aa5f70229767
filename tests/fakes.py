"""Tiny deterministic modules, a topical scripted helper and small corpora for tests."""

from __future__ import annotations

import hashlib
import json
import re

import numpy as np

from sasc.modules.base import TokenResponses

FOOD = {"pizza", "pasta", "bread", "soup", "cheese", "food", "meal", "meals", "cooking", "dinner", "eat"}


class KeywordModule:
    """Response = share of words that are in a keyword set (a tiny, fast, exact module)."""

    kind = "keyword"

    def __init__(self, words=FOOD, name="food-words"):
        self.words = set(words)
        self.name = name
        self.fingerprint = "keyword:" + ",".join(sorted(self.words))
        self.calls = 0
        self.texts_seen = 0

    def __call__(self, texts):
        self.calls += 1
        self.texts_seen += len(texts)
        out = []
        for t in texts:
            ws = re.findall(r"\w+", t.lower())
            out.append(sum(w in self.words for w in ws) / max(1, len(ws)))
        return np.asarray(out, dtype=np.float32)


class KeywordBank:
    """Two :class:`KeywordModule` units in one bank: ``food`` and ``markets``."""

    name = "keyword-bank"
    fingerprint = "keyword-bank:food,markets"

    def __init__(self):
        self.modules = [KeywordModule(), KeywordModule({"stock", "markets", "investors", "rates", "fell"}, "markets")]
        self.units = ["food", "markets"]

    def responses(self, texts):
        return np.stack([m(texts) for m in self.modules], axis=1)


def topical_reply(prompt: str) -> str:
    """A scripted helper that behaves sensibly: the theme is the first listed phrase;
    synthetic texts mention the concept (related) or not (unrelated)."""
    if prompt.startswith("Here is a list of phrases"):  # either summary style
        first = prompt.split("\n")[1].removeprefix("- ")
        return f'The common theme among these phrases is "{first}", because they all relate to it.'
    m = re.search(r"(?:clearly about|an example of): (.*)\.\n", prompt)  # either synthetic style
    if m:
        c = m.group(1)
        return json.dumps({"sentences": [f"Sentence {i} about {c} and more {c}." for i in range(10)]})
    return json.dumps({"sentences": [f"The weather report number {i} says rain." for i in range(10)]})


FOOD_CORPUS = [
    "I ate pizza and pasta for dinner. The soup was cold!",
    "Stock markets fell sharply on Monday; investors worried about rates.",
    "The cheese bread at the market is the best meal in town.",
    "Police said the suspect fled after the shooting. Nobody was hurt.",
    "Cooking at home saves money: soup, bread and pasta are cheap.",
] * 3


SMALL_GENERIC = ["The weather was mild today.", "A film about two friends.", "He read the paper slowly.",
                 "They walked along the river.", "The train was late again."]
"""A generic corpus small enough for jobs on a test server (take a prefix for fewer texts)."""


def refuse_nan(constant: str):
    """``json.loads(..., parse_constant=refuse_nan)``: parse as strictly as jq or JavaScript would."""
    raise ValueError(f"not JSON: {constant}")


def _explanation_and_text(prompt: str) -> tuple[set[str], list[str]]:
    m = re.search(r'explanation:\n"(.*)"\n.*Text: "(.*)"', prompt, re.S)
    if not m:
        return set(), []
    text = m.group(2).lower()
    if "<<" in text:  # a fuzzing prompt: judge the marked words only
        text = " ".join(re.findall(r"<<(.*?)>>", text))
    return set(re.findall(r"\w+", m.group(1).lower())), re.findall(r"\w+", text)


def judging_logprobs(prompt: str) -> dict[str, float]:
    """First-token probabilities of a helper that judges by word overlap: for a simulation prompt,
    mass around 3 x (text words in the explanation), capped at 10; for a detection prompt, P(yes)
    0.9 with an overlap, else 0.2; for a fuzzing prompt the same, counting the marked words only."""
    expl, words = _explanation_and_text(prompt)
    hits = sum(w in expl for w in words)
    if "Answer yes or no" in prompt:
        p = 0.9 if hits else 0.2
        return {"yes": p, "No": 1 - p - 0.01, "Maybe": 0.01}
    centre = min(10, 3 * hits)
    probs = {str(centre): 0.7, str(max(0, centre - 1)): 0.1, "The": 0.05}
    probs[str(min(10, centre + 1))] = probs.get(str(min(10, centre + 1)), 0.0) + 0.15
    return probs


def judging_reply(prompt: str) -> str:
    """The most likely answer of :func:`judging_logprobs`, as text (what a sampled reply would be)."""
    probs = judging_logprobs(prompt)
    return max(probs, key=probs.get)


FOOD_WORDS = {"pizza", "pasta", "bread", "soup", "cheese", "meal", "dinner", "cooking", "food", "recipe"}


class WordTokenBank:
    """A token-level module: tokens are words (with their leading space); activation 1 on a food word."""

    units = ["food"]
    name = "word-tokens"
    kind = "word_tokens"

    def token_responses(self, texts):
        out = []
        for t in texts:
            toks = tuple(re.findall(r"\s*\S+", t))
            vals = np.array([[float(re.sub(r"\W", "", w.lower()) in FOOD_WORDS)] for w in toks], np.float32)
            out.append(TokenResponses(toks, vals.reshape(len(toks), 1)))
        return out

    def responses(self, texts):
        return np.array([[r.values.max() if len(r.tokens) else 0.0] for r in self.token_responses(texts)], np.float32)


def all_at_once_logprobs(prompt: str) -> list[dict[str, float]]:
    """A helper writing the all-at-once layout: each listed token copied, then 8 (mostly) when the
    token is a word of the explanation, else 0; other prompts as :func:`judging_logprobs`."""
    if "Tokens of the text:\n" not in prompt:
        return [judging_logprobs(prompt)]
    expl = set(re.findall(r"\w+", prompt.split('"')[1].lower()))
    steps: list[dict[str, float]] = []
    for line in prompt.split("Tokens of the text:\n", 1)[1].splitlines():
        tok, placeholder = line.split("\t")
        assert placeholder == "_"
        hit = re.sub(r"\W", "", tok.lower()) in expl
        steps += [{tok: 1.0}, {"\t": 1.0}, {"8": 0.8, "9": 0.2} if hit else {"0": 0.9, "1": 0.1}, {"\n": 1.0}]
    return steps


def all_at_once_reply(prompt: str) -> str:
    return "".join(max(s, key=s.get) for s in all_at_once_logprobs(prompt))


class WordVectorSite:
    """A fake site for the direction search: tokens are words, each word's state is a fixed vector
    (seeded by the word); food words share a planted component along the first axis, so the
    direction ``e0`` responds to food. Directions are banks whose activation at a word is the dot
    product, max-aggregated per text (what an ``llm_direction`` bank does on a real model)."""

    name = "word vectors, site, layer 0"
    prefix = "L0.site"

    def __init__(self, width: int = 6, planted: float = 3.0):
        self.width = width
        self.planted = planted

    def vector(self, word: str) -> np.ndarray:
        w = re.sub(r"\W", "", word.lower())
        v = np.random.default_rng(int.from_bytes(w.encode()[:8].ljust(8, b"\0"), "little")).standard_normal(self.width)
        v *= 0.3
        if w in FOOD_WORDS:
            v[0] += self.planted
        return v.astype(np.float32)

    def states(self, texts):
        out = []
        for t in texts:
            toks = tuple(re.findall(r"\s*\S+", t))
            vals = np.stack([self.vector(w) for w in toks]) if toks else np.zeros((0, self.width), np.float32)
            out.append(TokenResponses(toks, vals))
        return out

    def bank(self, directions, names):
        site = self

        class Bank:
            units = list(names)
            name = "word-vector directions"
            fingerprint = "wv:" + hashlib.sha256(np.asarray(directions, np.float32).tobytes()).hexdigest()[:16]

            def token_responses(self, texts):
                return [TokenResponses(s.tokens, (s.values @ np.asarray(directions, np.float32).T).astype(np.float32))
                        for s in site.states(texts)]

            def responses(self, texts):
                return np.stack([r.values.max(0) if len(r.tokens) else np.zeros(len(names), np.float32)
                                 for r in self.token_responses(texts)]).astype(np.float32)

        return Bank()

    def spec(self, directions):
        return {"kind": "fake_word_vectors", "directions": directions}


def direction_corpus(n: int = 120) -> list[str]:
    """Sentences of 6-9 words, about a third of them with a food word (for the direction search)."""
    rng = np.random.default_rng(0)
    food = sorted(FOOD_WORDS)
    other = ["river", "train", "council", "budget", "storm", "player", "doctor", "window", "market", "engine",
             "teacher", "bridge", "election", "garden", "letter", "museum", "airport", "forest"]
    out = []
    for i in range(n):
        words = [str(w) for w in rng.choice(other, size=int(rng.integers(5, 8)), replace=False)]
        if i % 3 == 0:
            words.insert(int(rng.integers(0, len(words))), str(rng.choice(food)))
        out.append(("The " + " ".join(words) + ".").capitalize())
    return out


def concept_logprobs(prompt: str) -> dict[str, float]:
    """A simulator that knows what food is: a text with a food word gets ~8 when the explanation
    names any food word; otherwise as :func:`judging_logprobs` (word overlap)."""
    m = re.search(r'explanation:\n"(.*)"\n.*Text: "(.*)"', prompt, re.S)
    if m and "Answer with one number" in prompt:
        expl, text = (set(re.findall(r"\w+", g.lower())) for g in m.groups())
        if expl & FOOD_WORDS and text & FOOD_WORDS:
            return {"8": 0.8, "7": 0.1, "9": 0.1}
    return judging_logprobs(prompt)
