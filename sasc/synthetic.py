"""Stage 3a of SASC: synthetic texts related (and unrelated) to an explanation.

The reference parses the helper's numbered list by splitting on the regex ``\\d.``, which
breaks every text that contains a digit. Here the helper is asked for JSON (and
constrained to it where the backend supports structured output); replies that are not
JSON are parsed as a list whose item numbers must run 1, 2, 3... so digits inside a
text never split it.
"""

from __future__ import annotations

import json
import re
from collections import Counter
from collections.abc import Sequence
from typing import Any

from .errors import ConfigError, HelperReplyError
from .llm.base import HelperLLM, Sampling
from .summarize import is_foreign_letter


RETRY_POLICY = "a retry asks for the missing texts only"
"""How :func:`synthetic_texts` retries; part of the D3 run key, so records made otherwise are redone."""


SYNTHETIC_STYLES: dict[str, str] = {
    # sentences on the explanation's topic: a small helper tends to write statements *about* the
    # concept ("Praise can make someone feel valued")
    "about": "Write {k} short, varied sentences (at most 15 words each) that are each clearly about: {explanation}.",
    # texts that *are* instances of the explanation ("What a wonderful film!" for "praise"): what a
    # module that the explanation describes should respond to
    "example": ("Write {k} short, varied texts (at most 15 words each) that are each an example of: {explanation}.\n"
                "Write the texts themselves (what such a text says), not sentences about the topic."),
}
"""Prompt styles for the related synthetic texts (``ExplainConfig.synthetic_style``)."""

MIXED_STYLES: dict[str, tuple[str, ...]] = {
    # half the texts of each: the two wordings err in different ways, so pooling them evens out
    # a candidate's score
    "mixed": ("about", "example"),
}
"""Styles that split a candidate's texts evenly among several :data:`SYNTHETIC_STYLES`."""

STYLE_NAMES: tuple[str, ...] = (*SYNTHETIC_STYLES, *MIXED_STYLES)
"""Every accepted ``synthetic_style``."""


def check_synthetic_style(style: str) -> str:
    """``style`` if it names a :data:`SYNTHETIC_STYLES` or :data:`MIXED_STYLES` entry; else :class:`ConfigError`."""
    if style not in STYLE_NAMES:
        raise ConfigError(f"synthetic style must be one of {sorted(STYLE_NAMES)}, got {style!r}")
    return style


def style_parts(style: str) -> tuple[str, ...]:
    """The prompt styles a style's texts come from: ``"mixed"`` -> ``("about", "example")``,
    ``"about"`` -> ``("about",)``."""
    return MIXED_STYLES.get(check_synthetic_style(style), (style,))


def split_count(k: int, n_parts: int) -> list[int]:
    """``k`` texts shared among ``n_parts`` as evenly as possible, earlier parts first: (5, 2) -> [3, 2]."""
    return [k // n_parts + (i < k % n_parts) for i in range(n_parts)]


def synthetic_prompt(explanation: str, k: int, related: bool = True, style: str = "about") -> str:
    """Prompt asking for ``k`` texts about (or having nothing to do with) ``explanation``.

    ``style`` (a key of :data:`SYNTHETIC_STYLES`, not a mixed style) words the related prompt;
    the unrelated one is the same for every style.
    """
    if related and style in MIXED_STYLES:
        raise ConfigError(f"{style!r} mixes several prompts; ask for each of {MIXED_STYLES[style]} in turn")
    if related:
        ask = SYNTHETIC_STYLES[check_synthetic_style(style)].format(k=k, explanation=explanation)
    else:
        ask = (f"Write {k} short, varied sentences (at most 15 words each) on everyday topics that have "
               f"nothing to do with: "
               f"{explanation}.")
    return f'{ask}\nReply with JSON of the form {{"sentences": ["...", "..."]}} and nothing else.'


def sentences_schema(k: int) -> dict:
    """JSON schema of the reply: an object with ``sentences``, a list of exactly k strings.

    Both bounds matter with a small helper: without ``minItems = k`` it often stops at 8 or
    9 texts, and a whole second call used to be spent on the one or two missing.
    """
    return {
        "type": "object",
        "properties": {"sentences": {"type": "array", "items": {"type": "string"}, "minItems": k, "maxItems": k}},
        "required": ["sentences"],
    }


_MARKER = re.compile(r"^\s*(?:[-*•]|\(?\d{1,3}[.):])\s+")


def parse_list(reply: str, counts: Counter[str] | None = None) -> list[str]:
    """Texts from a helper reply: JSON (object with a list, or a bare list) or a list.

    Plain lists may be one item per line (numbers, bullets or nothing in front) or one
    line with items ``1. ... 2. ... 3. ...``; a number counts as an item marker only when
    the numbers run in sequence, so ``"I ate 3. Then 4 more"`` stays whole. Items that are
    meta-text or leave the Latin script are dropped (:func:`screen_texts`), and repeats
    (:func:`dedupe_texts`); ``counts`` tallies why.
    """
    text = reply.strip()
    text = re.sub(r"^```(?:json)?\s*|\s*```$", "", text)
    items = _parse_json(text)
    if items is None:
        items = _parse_plain(text)
    return dedupe_texts(screen_texts(items, counts), counts)


_META_TEXT = re.compile(
    r"^(?:(?:sure|certainly|of\s+course|okay|ok)[!,.]?\s*)?here\s+(?:is|are)\b.*\b(?:sentences?|texts?|examples?|list)\b"
    r"|^(?:sure|certainly|of\s+course)[!,.]?\s*(?:here\b|i\s+can\b|let\s+me\b)"
    r"|^(?:i\s+hope\s+(?:this|these)|let\s+me\s+know|note\s*:|i(?:'m|\s+am)\s+sorry|i\s+(?:cannot|can't)\b|as\s+an\s+ai\b)",
    re.IGNORECASE)


def screen_texts(texts: Sequence[str], counts: Counter[str] | None = None) -> list[str]:
    """``texts`` without meta-text (``"Here are 10 sentences about food:"``, ``"I hope this
    helps"``) and without texts that leave the Latin script (``"I love 餐饮"``); ``counts``
    gets ``synthetic.meta`` and ``synthetic.script`` for each one dropped."""
    out = []
    for t in texts:
        if _META_TEXT.match(t.strip()):
            reason = "meta"
        elif any(is_foreign_letter(ch) for ch in t):
            reason = "script"
        else:
            out.append(t)
            continue
        if counts is not None:
            counts[f"synthetic.{reason}"] += 1
    return out


def reply_object(text: str) -> dict[str, Any]:
    """The JSON object in a helper reply, read from its first ``{`` to its last ``}`` (prose or a code
    fence around it is ignored): ``reply_object('Sure: {"a": 1}')`` -> ``{"a": 1}``. ``ValueError``
    saying what is wrong: no object, or an object that does not parse."""
    start, end = text.find("{"), text.rfind("}")
    if start < 0 or end <= start:
        raise ValueError("no JSON object in the reply")
    try:
        return json.loads(text[start:end + 1])
    except json.JSONDecodeError as e:
        raise ValueError(f"the JSON object does not parse: {e.msg}") from None


def _parse_json(text: str) -> list[str] | None:
    start = min((i for i in (text.find("{"), text.find("[")) if i >= 0), default=-1)
    if start < 0:
        return None
    try:
        obj, _ = json.JSONDecoder().raw_decode(text[start:])
    except json.JSONDecodeError:
        return None
    if isinstance(obj, dict):
        obj = next((v for v in obj.values() if isinstance(v, list)), [])
    if not isinstance(obj, list):
        return None  # a bare string or number: treat the reply as plain text
    return [str(x).strip() for x in obj if isinstance(x, (str, int, float)) and str(x).strip()]


def _parse_plain(text: str) -> list[str]:
    lines = [ln for ln in text.splitlines() if ln.strip()]
    if len(lines) == 1:
        seq = _split_numbered(lines[0])
        if len(seq) > 1:
            return seq
    out = []
    for ln in lines:
        if re.match(r"^\s*(?:here (?:are|is)|sure|certainly)\b.*:\s*$", ln, re.IGNORECASE):
            continue  # a preamble line
        out.append(_MARKER.sub("", ln).strip().strip('"“”'))
    return [t for t in out if t]


def _split_numbered(line: str) -> list[str]:
    """Split ``'1. a 2. b 3. c'`` at markers whose numbers run 1, 2, 3..."""
    cuts, want = [], 1
    for m in re.finditer(r"(?:^|(?<=\s))(\d{1,3})[.)]\s+", line):
        if int(m.group(1)) == want:
            cuts.append(m)
            want += 1
    if len(cuts) < 2:
        return [line.strip()]
    parts = [line[a.end():b.start()] for a, b in zip(cuts, cuts[1:])] + [line[cuts[-1].end():]]
    return [p.strip().strip('"“”') for p in parts if p.strip()]


def text_key(text: str) -> str:
    """What two texts must share to be the same: ``"Pizza is great!"`` and ``"pizza is
    great"`` share ``"pizza is great"`` (case, punctuation and spacing ignored)."""
    return " ".join(re.sub(r"[^\w\s]", " ", text.lower()).split())


def dedupe_texts(texts: Sequence[str], counts: Counter[str] | None = None) -> list[str]:
    """Drop empty texts and texts repeating an earlier one up to case and punctuation
    (:func:`text_key`), keeping order; ``counts`` gets ``synthetic.duplicate`` per repeat."""
    seen: set[str] = set()
    out = []
    for t in texts:
        key = text_key(t)
        if key and key not in seen:
            seen.add(key)
            out.append(t.strip())
        elif key and counts is not None:
            counts["synthetic.duplicate"] += 1
    return out


def synthetic_texts(helper: HelperLLM, explanation: str, k: int = 10, *, related: bool = True,
                    sampling: Sampling = Sampling(temperature=0.7, max_tokens=600), max_calls: int = 3,
                    style: str = "about", counts: Counter[str] | None = None) -> list[str]:
    """``k`` distinct synthetic texts for ``explanation`` (fewer only if the helper can't).

    Calls the helper up to ``max_calls`` times (new seed each) until ``k`` distinct texts
    are collected; a retry asks only for the texts still missing (repeats and empty items
    are dropped), so it costs a few sentences, not ``k``. ``style``: the related prompt's wording
    (:data:`SYNTHETIC_STYLES`); a mixed style (:data:`MIXED_STYLES`) asks each of its styles for
    its share of the ``k`` (:func:`split_count`). ``k <= 0`` asks for nothing and
    returns ``[]``. Raises :class:`HelperReplyError` when no usable text comes back.
    ``counts`` tallies the texts dropped and why (see :func:`parse_list`).
    """
    texts: list[str] = []
    if k <= 0:
        return texts
    parts = style_parts(style) if related else (style,)
    if len(parts) > 1:
        for part, n in zip(parts, split_count(k, len(parts))):
            if n:
                texts = dedupe_texts(texts + synthetic_texts(helper, explanation, n, related=True, sampling=sampling,
                                                             max_calls=max_calls, style=part, counts=counts),
                                     counts)
        return texts
    for attempt in range(max_calls):
        need = k - len(texts)
        s = sampling.seeded(attempt)
        reply = helper.complete(synthetic_prompt(explanation, need, related, style), sampling=s,
                                json_schema=sentences_schema(need)).text
        texts = dedupe_texts(texts + parse_list(reply, counts), counts)
        if len(texts) >= k:
            return texts[:k]
    if not texts:
        raise HelperReplyError(f"the helper wrote no usable text for {explanation!r} in {max_calls} calls")
    return texts
