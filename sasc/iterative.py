"""The iterative explainer (``--method iterative``): an experimenter in the spirit of MAIA (Rott
Shaham et al. 2024) for text modules. It starts from the unit's exemplars and the single-pass
candidates; each round the helper reads a compact log of the experiments so far and chooses the next
action from a fixed grammar (one JSON object); the action runs and its numbers go into the log.

Actions (the tools):

* ``exemplars`` (kind ``top`` / ``bottom`` / ``texts``): more of the n-grams the unit responds to
  most or least, or the generic-corpus sentences it responds to most;
* ``write`` (a hypothesis): the helper writes texts that fit it and near-miss texts on the same
  topic without the property; the module's responses to both, and their contrast;
* ``edit`` (a text, a property, add or remove): a minimal rewrite of the text; the response change
  is the measurement;
* ``run`` (texts): the module on the helper's own texts;
* ``hypothesize`` (up to 3 phrases): the current hypotheses, replaced;
* ``log`` (a note): a line of the helper's own in the log;
* ``finish`` (a hypothesis): the answer.

Responses are shown in σ: standard deviations above the unit's mean on the generic corpus, the scale
σ itself uses. The loop stops after ``iter_rounds`` rounds, when its helper calls have used
``iter_tokens`` tokens, after ``iter_seconds``, at ``finish``, or when a written test of a
hypothesis is strong (its texts at ``iter_stop_sigma`` or more and 1σ above their near misses). The
tested hypotheses, best evidence first, become candidates scored with σ like the single-pass ones,
so the two methods are ranked by the same score.

Nothing in a reply is executed: a reply is parsed as one JSON object and checked field by field
(:func:`parse_action`); an invalid one is asked again once with the error shown, then skipped and
counted; three invalid rounds in a row end the loop with status ``no_valid_action``.
"""

from __future__ import annotations

import json
import time
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np

from .errors import HelperLLMError
from .llm.base import HelperLLM, Sampling
from .summarize import Candidate, clean_explanation
from .synthetic import dedupe_texts, parse_list, reply_object, screen_texts

ACTIONS = ("exemplars", "write", "edit", "run", "hypothesize", "log", "finish")
"""The actions of the grammar (see the module docstring)."""
MAX_HYPOTHESES = 3
MAX_RUN_TEXTS = 6
MAX_TEXT_CHARS = 300
KEEP = 2
"""Tested hypotheses (best evidence first) that become candidates."""
N_WRITE = 5
"""Fitting texts and near-miss texts per ``write``."""
LOG_CHARS = 2400
"""Characters of the log shown to the helper (the newest lines; the oldest are dropped first)."""

ACTION_SCHEMA: dict[str, Any] = {
    "type": "object",
    "properties": {
        "action": {"type": "string", "enum": list(ACTIONS)},
        "hypothesis": {"type": "string"},
        "hypotheses": {"type": "array", "items": {"type": "string"}, "maxItems": MAX_HYPOTHESES},
        "text": {"type": "string"},
        "property": {"type": "string"},
        "change": {"type": "string", "enum": ["add", "remove"]},
        "texts": {"type": "array", "items": {"type": "string"}, "maxItems": MAX_RUN_TEXTS},
        "kind": {"type": "string", "enum": ["top", "bottom", "texts"]},
        "note": {"type": "string"},
    },
    "required": ["action"],
}
"""JSON schema of one action (backends that take a schema constrain the reply to it)."""

_NEEDS = {"write": ("hypothesis",), "finish": ("hypothesis",), "edit": ("text", "property", "change"),
          "run": ("texts",), "hypothesize": ("hypotheses",), "exemplars": ("kind",), "log": ("note",)}


class ActionError(ValueError):
    """A reply that is not one valid action; the message says what is wrong (shown to the helper)."""


@dataclass(frozen=True)
class Action:
    """One parsed action."""

    name: str
    hypothesis: str = ""
    hypotheses: tuple[str, ...] = ()
    text: str = ""
    property: str = ""
    change: str = ""
    texts: tuple[str, ...] = ()
    kind: str = ""
    note: str = ""


def parse_action(reply: str) -> Action:
    """The action in ``reply`` (one JSON object, optionally inside a code fence or after prose), or
    :class:`ActionError` naming the problem: ``parse_action('{"action": "run", "texts": ["a b"]}')``."""
    try:
        obj = reply_object(reply)
    except ValueError as e:
        raise ActionError(str(e)) from None
    name = obj.get("action")
    if name not in ACTIONS:
        raise ActionError(f"unknown action {str(name)[:30]!r}; one of: {', '.join(ACTIONS)}")
    fields: dict[str, Any] = {}
    for key in _NEEDS[name]:
        value = obj.get(key)
        if key in ("hypotheses", "texts"):
            limit = MAX_HYPOTHESES if key == "hypotheses" else MAX_RUN_TEXTS
            if not isinstance(value, list) or not value or not all(isinstance(v, str) and v.strip() for v in value):
                raise ActionError(f'"{name}" needs "{key}": a list of 1 to {limit} non-empty strings')
            fields[key] = tuple(" ".join(v.split())[:MAX_TEXT_CHARS] for v in value[:limit])
        else:
            if not isinstance(value, str) or not value.strip():
                raise ActionError(f'"{name}" needs "{key}": a non-empty string')
            fields[key] = " ".join(value.split())[:MAX_TEXT_CHARS]
    if name == "edit" and fields["change"] not in ("add", "remove"):
        raise ActionError('"change" must be "add" or "remove"')
    if name == "exemplars" and fields["kind"] not in ("top", "bottom", "texts"):
        raise ActionError('"kind" must be "top", "bottom" or "texts"')
    if "hypothesis" in fields:
        fields["hypothesis"] = clean_explanation(fields["hypothesis"]) or fields["hypothesis"]
    if "hypotheses" in fields:
        fields["hypotheses"] = tuple(clean_explanation(h) or h for h in fields["hypotheses"])
    return Action(name, **fields)


@dataclass
class Evidence:
    """What a ``write`` test measured for one hypothesis."""

    fits: float
    """Mean response of its fitting texts, in σ."""
    near_misses: float
    """Mean response of its near-miss texts, in σ."""
    n: int
    """Fitting texts."""

    @property
    def contrast(self) -> float:
        return self.fits - self.near_misses


@dataclass
class Experiment:
    """The loop's state and record (``UnitExplanation.experiment`` is :meth:`to_dict`)."""

    hypotheses: list[str] = field(default_factory=list)
    evidence: dict[str, Evidence] = field(default_factory=dict)
    log: list[str] = field(default_factory=list)
    steps: list[dict[str, Any]] = field(default_factory=list)
    counts: Counter[str] = field(default_factory=Counter)
    status: str = "running"
    rounds: int = 0
    tokens: int = 0
    seconds: float = 0.0

    def ranked(self) -> list[str]:
        """Tested hypotheses, strongest first (fitting texts' σ, then contrast)."""
        return sorted(self.evidence, key=lambda h: (-self.evidence[h].fits, -self.evidence[h].contrast))

    def to_dict(self) -> dict[str, Any]:
        return {"status": self.status, "rounds": self.rounds, "tokens": self.tokens, "seconds": self.seconds,
                "hypotheses": list(self.hypotheses), "counts": dict(sorted(self.counts.items())),
                "evidence": {h: {**asdict(e), "contrast": e.contrast} for h, e in self.evidence.items()},
                "ranked": self.ranked(), "log": list(self.log), "steps": list(self.steps)}


@dataclass(frozen=True)
class Budget:
    """When the loop stops."""

    rounds: int
    tokens: int
    seconds: float
    stop_sigma: float


def _z(values: Any, mean: float, sd: float) -> np.ndarray:
    return (np.asarray(values, dtype=np.float64) - mean) / sd


def _short(text: str, n: int = 90) -> str:
    return text if len(text) <= n else text[: n - 1] + "…"


PROMPT = """You are studying one unit of a text model: it reads a text and outputs a number. Your goal: a short phrase (at most 8 words) describing the texts that make it respond most strongly. Responses are given in sigma: how many standard deviations above its average on ordinary text.

What you know so far:
{log}

Current hypotheses: {hypotheses}

Choose the next experiment. Reply with exactly one JSON object, one of:
{{"action": "write", "hypothesis": "..."}} - test a hypothesis: texts that fit it and near-miss texts on the same topic without it
{{"action": "edit", "text": "...", "property": "...", "change": "add"}} - rewrite a text to add (or "remove") one property and compare
{{"action": "run", "texts": ["...", "..."]}} - your own texts, at most 6
{{"action": "exemplars", "kind": "top"}} - more phrases it responds to most ("top") or least ("bottom"), or ordinary sentences it responds to most ("texts")
{{"action": "hypothesize", "hypotheses": ["...", "..."]}} - replace the hypotheses (at most 3 short phrases)
{{"action": "finish", "hypothesis": "..."}} - your final description, when the evidence is clear
Round {round} of {rounds}. Test hypotheses before you finish; do not repeat a test. Besides the topic, consider properties of the text itself (tone, opinion, form, intent): an edit that adds or removes one shows whether it matters."""

WRITE_PROMPT = """Write {k} short sentences (at most 20 words each) that are clear examples of: {hypothesis}.
Then write {k} near-miss sentences: the same topic and similar words, but NOT examples of: {hypothesis}.
Reply with JSON of the form {{"fits": ["...", ...], "near_misses": ["...", ...]}} and nothing else."""

EDIT_PROMPT = """Rewrite this text with the smallest change that {verb} this property: {property}.
Keep everything else the same.
Text: "{text}"
Reply with JSON of the form {{"text": "..."}} and nothing else."""


def _write_schema(k: int) -> dict[str, Any]:
    items = {"type": "array", "items": {"type": "string"}, "minItems": k, "maxItems": k}
    return {"type": "object", "properties": {"fits": items, "near_misses": items}, "required": ["fits", "near_misses"]}


_EDIT_SCHEMA = {"type": "object", "properties": {"text": {"type": "string"}}, "required": ["text"]}


class Experimenter:
    """The loop for one unit. ``run(texts) -> responses`` is the module on texts (one unit);
    ``generic`` its responses to the generic corpus (the σ scale); ``ranked`` its n-grams by
    response (highest first) with ``values``; ``generic_texts`` the generic corpus texts."""

    def __init__(self, run: Callable[[list[str]], np.ndarray], helper: HelperLLM, generic: np.ndarray,
                 ranked: Sequence[tuple[str, float]], bottom: Sequence[tuple[str, float]],
                 generic_texts: Sequence[str], budget: Budget, seed: int = 0,
                 clock: Callable[[], float] = time.monotonic):
        self.run_module = run
        self.helper = helper
        g = np.asarray(generic, dtype=np.float64)
        self.mean, self.sd = float(g.mean()), float(g.std()) or 1.0
        self.generic = g
        self.ranked, self.bottom = list(ranked), list(bottom)
        self.generic_texts = list(generic_texts)
        self.budget = budget
        self.seed = seed
        self.clock = clock
        self.shown_top, self.shown_bottom, self.shown_texts = 0, 0, 0
        self.ran: set[str] = set()
        self.x = Experiment()

    # ------------------------------------------------------------------ helper calls
    def _call(self, prompt: str, schema: dict[str, Any], max_tokens: int, k: int) -> str:
        reply = self.helper.complete(prompt, sampling=Sampling(temperature=0.7, max_tokens=max_tokens,
                                                               seed=self.seed * 1009 + 31 * self.x.rounds + k),
                                     json_schema=schema)
        self.x.tokens += int(reply.prompt_tokens) + int(reply.completion_tokens)
        self.x.counts["helper_calls"] += 1
        return reply.text

    def _z(self, texts: list[str]) -> np.ndarray:
        return _z(self.run_module(texts), self.mean, self.sd) if texts else np.zeros(0)

    # ------------------------------------------------------------------ tools
    def exemplars(self, kind: str, n: int = 10) -> str:
        if kind == "top":
            part, self.shown_top = self.ranked[self.shown_top:self.shown_top + n], self.shown_top + n
            return "phrases it responds to most: " + "; ".join(f'"{g}" {z:.1f}σ' for g, z in self._zs(part)) \
                if part else "no more top phrases"
        if kind == "bottom":
            part, self.shown_bottom = self.bottom[self.shown_bottom:self.shown_bottom + n], self.shown_bottom + n
            return "phrases it responds to least: " + "; ".join(f'"{g}" {z:.1f}σ' for g, z in self._zs(part)) \
                if part else "no more bottom phrases"
        order = np.argsort(-self.generic)[self.shown_texts:self.shown_texts + 4]
        self.shown_texts += 4
        if not len(order) or not self.generic_texts:
            return "no ordinary sentences available"
        return "ordinary sentences it responds to most: " + "; ".join(
            f'"{_short(self.generic_texts[i], 80)}" {(self.generic[i] - self.mean) / self.sd:.1f}σ' for i in order)

    def _zs(self, pairs: Sequence[tuple[str, float]]) -> list[tuple[str, float]]:
        return [(g, (v - self.mean) / self.sd) for g, v in pairs]

    def write(self, hypothesis: str) -> str:
        reply = self._call(WRITE_PROMPT.format(k=N_WRITE, hypothesis=hypothesis), _write_schema(N_WRITE), 700, 1)
        try:
            obj = reply_object(reply)
            fits = screen_texts(dedupe_texts([str(t) for t in obj.get("fits", [])]))
            # a near miss the helper copied from its fitting texts measures nothing: dropped
            near = dedupe_texts(fits + screen_texts([str(t) for t in obj.get("near_misses", [])]))[len(fits):]
        except ValueError:
            fits, near = parse_list(reply), []
        if not fits:
            self.x.counts["write.no_texts"] += 1
            return f'write "{hypothesis}": the helper wrote no usable texts'
        zf, zn = self._z(fits), self._z(near)
        ev = Evidence(float(zf.mean()), float(zn.mean()) if len(zn) else 0.0, len(fits))
        self.x.evidence[hypothesis] = ev
        if hypothesis not in self.x.hypotheses:
            self.x.hypotheses = (self.x.hypotheses + [hypothesis])[-MAX_HYPOTHESES:]
        best = int(np.argmax(zf))
        self.x.steps[-1].update(fits=fits, fits_sigma=zf.round(3).tolist(), near_misses=near,
                                near_misses_sigma=zn.round(3).tolist())
        return (f'write "{hypothesis}": fitting texts {ev.fits:.1f}σ, near misses {ev.near_misses:.1f}σ '
                f'(contrast {ev.contrast:+.1f}σ); best: "{_short(fits[best], 70)}" {zf[best]:.1f}σ')

    def edit(self, text: str, prop: str, change: str) -> str:
        verb = "adds" if change == "add" else "removes"
        reply = self._call(EDIT_PROMPT.format(verb=verb, property=prop, text=text), _EDIT_SCHEMA, 200, 2)
        try:
            new = " ".join(str(reply_object(reply)["text"]).split())
        except (ValueError, KeyError):
            new = ""
        if not new:
            self.x.counts["edit.no_text"] += 1
            return f'edit ({change} "{prop}"): the helper wrote no usable text'
        before, after = self._z([text, new])
        self.x.steps[-1].update(original=text, edited=new, sigma=[float(before), float(after)])
        return (f'edit ({change} "{prop}"): "{_short(text, 60)}" {before:.1f}σ -> "{_short(new, 60)}" {after:.1f}σ '
                f"({after - before:+.1f}σ)")

    def run_texts(self, texts: Sequence[str]) -> str:
        new = [t for t in dict.fromkeys(texts) if t not in self.ran]
        if not new:  # the same texts again would only repeat numbers already in the log
            self.x.counts["run.repeated"] += 1
            return "run: these texts were already run (see above); write new ones"
        texts = new
        self.ran.update(texts)
        z = self._z(list(texts))
        self.x.steps[-1].update(texts=list(texts), sigma=z.round(3).tolist())
        return "run: " + "; ".join(f'"{_short(t, 60)}" {v:.1f}σ' for t, v in zip(texts, z))

    # ------------------------------------------------------------------ the loop
    def prompt(self) -> str:
        lines, used = [], 0
        for line in reversed(self.x.log):  # the newest lines, within the budget
            if used + len(line) > LOG_CHARS:
                self.x.counts["log.lines_dropped"] += 1
                break
            lines.append(line)
            used += len(line) + 1
        hyps = "; ".join(f'"{h}"' + (f" (fits {self.x.evidence[h].fits:.1f}σ)" if h in self.x.evidence else " (untested)")
                         for h in self.x.hypotheses) or "none yet"
        return PROMPT.format(log="\n".join(reversed(lines)), hypotheses=hyps, round=self.x.rounds,
                             rounds=self.budget.rounds)

    def next_action(self) -> Action | None:
        prompt = self.prompt()
        try:
            return parse_action(self._call(prompt, ACTION_SCHEMA, 160, 0))
        except ActionError as e:
            self.x.counts["invalid_replies"] += 1
            retry = f"{prompt}\n\nYour last reply was not valid: {e}. Reply with one JSON object as described."
            try:
                return parse_action(self._call(retry, ACTION_SCHEMA, 160, 3))
            except ActionError:
                self.x.counts["invalid_replies"] += 1
                self.x.counts["skipped_rounds"] += 1
                return None

    def strong(self) -> bool:
        return any(e.fits >= self.budget.stop_sigma and e.contrast >= 1.0 for e in self.x.evidence.values())

    def stop_reason(self, started: float) -> str | None:
        if self.x.rounds >= self.budget.rounds:
            return "rounds"
        if self.x.tokens >= self.budget.tokens:
            return "tokens"
        if self.clock() - started >= self.budget.seconds:
            return "time"
        if self.strong():
            return "strong_evidence"
        return None

    def explore(self, initial: Sequence[str], progress: Callable[[int, str], None] = lambda r, h: None) -> Experiment:
        """Run the loop from the single-pass candidates ``initial``; returns the record."""
        started = self.clock()
        self.x.hypotheses = list(dict.fromkeys(initial))[:MAX_HYPOTHESES]
        self.x.log.append(self.exemplars("top"))
        self.x.log.append("single-pass candidates: " + "; ".join(f'"{h}"' for h in self.x.hypotheses))
        invalid_run = 0
        while (reason := self.stop_reason(started)) is None:
            self.x.rounds += 1
            try:
                action = self.next_action()
            except HelperLLMError as e:
                self.x.counts["helper_errors"] += 1
                self.x.log.append(f"(round {self.x.rounds}: the helper failed: {_short(str(e), 80)})")
                invalid_run += 1
                action = None
            if action is None:
                invalid_run += 1
                if invalid_run >= 3:
                    reason = "no_valid_action"
                    break
                continue
            invalid_run = 0
            self.x.counts[f"action.{action.name}"] += 1
            self.x.steps.append({"round": self.x.rounds, "action": action.name,
                                 **{k: v for k, v in asdict(action).items() if v and k != "name"}})
            try:
                line = self._do(action)
            except HelperLLMError as e:
                self.x.counts["helper_errors"] += 1
                line = f"{action.name}: the helper failed ({_short(str(e), 60)})"
            self.x.steps[-1]["result"] = line
            self.x.log.append(f"[{self.x.rounds}] {line}")
            best = self.x.ranked()[0] if self.x.evidence else (self.x.hypotheses[0] if self.x.hypotheses else "")
            progress(self.x.rounds, best)
            if action.name == "finish":
                reason = "finished"
                break
        self.x.status = reason
        self.x.seconds = self.clock() - started
        return self.x

    def _do(self, a: Action) -> str:
        if a.name == "exemplars":
            return self.exemplars(a.kind)
        if a.name == "write":
            if a.hypothesis in self.x.evidence:  # the same test again would only cost time
                self.x.counts["write.repeated"] += 1
                return (f'write "{a.hypothesis}": already tested (fitting texts {self.x.evidence[a.hypothesis].fits:.1f}σ); '
                        "test a different hypothesis, or edit a text")
            return self.write(a.hypothesis)
        if a.name == "edit":
            return self.edit(a.text, a.property, a.change)
        if a.name == "run":
            return self.run_texts(a.texts)
        if a.name == "hypothesize":
            self.x.hypotheses = list(dict.fromkeys(a.hypotheses))
            return "hypotheses now: " + "; ".join(f'"{h}"' for h in self.x.hypotheses)
        if a.name == "log":
            return f"note: {a.note}"
        # finish: test the answer if it was never tested, so it carries evidence like the others
        line = f'finish: "{a.hypothesis}"'
        if a.hypothesis not in self.x.evidence and self.x.tokens < self.budget.tokens:
            line += "; " + self.write(a.hypothesis)
        if a.hypothesis not in self.x.hypotheses:
            self.x.hypotheses = (self.x.hypotheses + [a.hypothesis])[-MAX_HYPOTHESES:]
        return line


def iterative_candidates(x: Experiment, keep: int = KEEP) -> list[Candidate]:
    """The experiment's tested hypotheses, strongest first (at most ``keep``), as candidates
    (style ``iterative``); when nothing was tested, its current hypotheses."""
    chosen = x.ranked()[:keep] or x.hypotheses[:keep]
    return [Candidate(h, [], json.dumps(asdict(x.evidence[h])) if h in x.evidence else "", "iterative")
            for h in chosen if h.strip()]
