"""Stage 2 of SASC: summarize the top n-grams into candidate explanations."""

from __future__ import annotations

import re
import unicodedata
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from .errors import ConfigError
from .lists import split_list
from .llm.base import HelperLLM, Request, Sampling, complete_many

SUMMARY_STYLES: dict[str, tuple[str, str, str]] = {
    # the paper's question, asking for the specific rather than the general
    "theme": ("Here is a list of phrases:",
              "What is a common theme among these phrases? Be specific: prefer the most distinctive words "
              "of the list (names, stances, kinds of text) to a general category.",
              "Answer in English with the theme only, as a short phrase of at most 8 words."),
    # what the texts are or do: finds properties (a stance, a question, an opinion) a topic misses
    "source": ("Here is a list of phrases taken from texts:",
               "What kind of text are these phrases from? Say what the texts are about, or what they do, "
               "or what attitude they express.",
               "Answer in English with a short phrase of at most 8 words."),
    # what the texts share along any of four named dimensions: more replies name the property itself
    "property": ("Here is a list of phrases taken from texts:",
                 "What do these texts have in common? It may be what they are about, a stance for or against "
                 "something, their tone, or what the text is for.",
                 "Answer in English with a short phrase of at most 8 words."),
}
"""Summary prompt styles: (preamble, question, instruction). ``summarize`` cycles through the
styles it is given, one per n-gram subset."""


@dataclass(frozen=True)
class Candidate:
    """One candidate explanation and the n-grams it was summarized from."""

    explanation: str
    """Cleaned explanation text, e.g. ``"food and cooking"``."""
    ngrams: list[str]
    """The n-grams shown to the helper, in rank order."""
    raw_reply: str
    """The helper's reply before cleaning."""
    style: str = "theme"
    """The summary prompt style that produced it (a key of :data:`SUMMARY_STYLES`)."""


def summary_prompt(ngrams: Sequence[str], style: str = "theme", evidence: str = "") -> str:
    """The summarization prompt of one style (see :data:`SUMMARY_STYLES`; tested as exact strings);
    ``evidence``: a line shown after the n-grams (what the unit makes the model say, :func:`output_line`)."""
    preamble, question, instruction = SUMMARY_STYLES[check_styles((style,))[0]]
    bullets = "\n".join(f"- {g}" for g in ngrams)
    return f"{preamble}\n{bullets}\n{evidence + chr(10) if evidence else ''}{question}\n{instruction}"


OUTPUT_STYLE = "output"
"""The style name of the candidate summarized from output-side evidence alone."""


def output_words(evidence: dict, k: int = 10) -> list[str]:
    """The words a unit makes the model say, from its output-side evidence (``raised`` on real text
    first, then ``promoted`` through the unembedding): stripped, word-like (letters), each once."""
    out: list[str] = []
    for key in ("raised", "promoted"):
        for token, _ in evidence.get(key) or ():
            w = str(token).strip()
            if any(ch.isalpha() for ch in w) and w.lower() not in {o.lower() for o in out}:
                out.append(w)
    return out[:k]


def output_line(words: Sequence[str]) -> str:
    """The summary prompts' extra line for output-side evidence."""
    return ("When this pattern is present, the model that reads the text becomes more likely to write: "
            + ", ".join(words) + ".") if words else ""


# the summary prompts' evidence line echoed in a reply: "..., and the model is more likely to write ..."
_EVIDENCE_ECHO = re.compile(
    r"[\s,;:]*(?:\b(?:and|so|while|when|where)\s+)?(?:\b(?:the|a)\s+)?(?:\blanguage\s+)?\bmodel\b"
    r"(?:\s+\w+){0,6}?\s+(?:(?:more|less)\s+likely|likelier)\b.*$",
    re.IGNORECASE | re.DOTALL)


def cut_evidence_echo(text: str) -> str:
    """``text`` without a clause that restates the output-side evidence line of the summary prompts
    (:func:`output_line`): ``'Euthanasia, and the model is more likely to write "fret, sardines"'`` ->
    ``'Euthanasia'``; unchanged when there is none ("Fashion models" stays) or nothing before it."""
    m = _EVIDENCE_ECHO.search(text)
    return text[: m.start()].strip() if m and m.start() > 0 else text


# lead-ins of replies to the output-side prompt: "These words are related to the concept of ..."
_OUTPUT_LEAD_IN = re.compile(
    r"^(?:(?:all|these|the)\s+)?(?:(?:of\s+)?(?:these|the)\s+)?words\s+(?:(?:are|all)\s+){0,2}"
    r"(?:related\s+to|refer(?:ring)?\s+to|about|describ(?:e|ing)|associated\s+with|connected\s+to)\s+"
    r"(?:(?:the\s+)?(?:concepts?|ideas?|themes?|topics?)\s+of\s+)?",
    re.IGNORECASE)


def strip_output_lead_in(text: str) -> str:
    """A reply to :func:`output_prompt` without its lead-in about the words: ``'These words are related
    to the concept of self-awareness'`` -> ``'self-awareness'``; ``'Words related to travel'`` ->
    ``'travel'``; unchanged when nothing would be left."""
    rest = _OUTPUT_LEAD_IN.sub("", text, count=1).strip().strip("\"'“”‘’ ")
    return rest or text


def output_prompt(words: Sequence[str]) -> str:
    """The prompt of the output-side candidate: what these words, made likelier by the unit, share."""
    bullets = "\n".join(f"- {w}" for w in words)
    return ("Turning up one unit inside a language model makes the model more likely to write these words:\n"
            f"{bullets}\nWhat do these words have in common?\n"
            "Answer in English with a short phrase of at most 8 words.")


def check_styles(styles: Sequence[str]) -> tuple[str, ...]:
    """``styles`` as a tuple; raises :class:`ConfigError` when empty or naming an unknown style."""
    styles = tuple(styles)
    unknown = [s for s in styles if s not in SUMMARY_STYLES]
    if not styles or unknown:
        raise ConfigError(f"summary styles must be a non-empty list of {sorted(SUMMARY_STYLES)}, got {list(styles)}")
    return styles


def parse_styles(text: str) -> tuple[str, ...]:
    """Styles from a comma-separated list (a CLI flag), checked: ``"theme, source"`` -> ``("theme", "source")``."""
    return check_styles(split_list(text))


def choose_subsets(n_top: int, n_pick: int, n_subsets: int, seed: int) -> list[list[int]]:
    """``n_subsets`` random draws of ``n_pick`` of the top ``n_top`` ranks, each sorted by rank."""
    rng = np.random.default_rng(seed)
    n_pick = min(n_pick, n_top)
    return [sorted(rng.choice(n_top, size=n_pick, replace=False).tolist()) for _ in range(n_subsets)]


# what "Common ..." replies name before the content: "Common goal: X" / "Common goal is X"
_COMMON_ROLE = r"elements?|goals?|purposes?|features?|stances?|threads?|denominators?"
_COMMON_NOUN = r"(?:" + _COMMON_ROLE + r"|phrases?|subjects?)"  # also before a colon only
_FILLER = re.compile(
    r"^(?:the\s+)?(?:common\s+)?(?:theme|topic|concept)s?\s+(?:among|of|in)\s+(?:these|the)\s+"
    r"(?:phrases|words|terms)\s+(?:is|are|seems to be|appears to be)\s*:?\s*"
    r"|^(?:the\s+)?(?:common\s+)?(?:theme|topic)\s*(?:is|:)\s*"
    r"|^(?:they|these phrases|these)\s+(?:are\s+)?(?:all\s+)?(?:related to|about|refer to|involve)\s+"
    r"|^(?:answer|theme|explanation)\s*:\s*"
    r"|^(?:the\s+)?(?:common\s+)?theme\s+of\s+(?=.*\s+in\s+these\s+phrases\b)"
    # replies to the "source" style: "These phrases are taken from ...", "It appears to be a list of phrases describing ..."
    r"|^(?:it\s+(?:appears|seems)\s+to\s+be\s+)?(?:(?:this|these|the)\s+)?(?:texts?\s+(?:is|are)\s+)?"
    r"(?:(?:is\s+)?a\s+)?(?:list\s+of\s+)?"
    r"(?:phrases|texts?|words)\s+(?:(?:is|are)\s+)?(?:(?:all|likely|probably|mostly)\s+)?"
    r"(?:(?:taken|come|coming)\s+)?(?:from|about|describ(?:e|ing)|discuss(?:ing)?|express(?:ing)?)\s+"
    r"|^(?:an?\s+)?(?:text|texts|article|articles)\s+(?:about|on)\s+|^(?:taken\s+)?from\s+"
    # replies to the "property" style: "All texts deal with irony", "The texts share a religious theme"
    r"|^(?:all\s+(?:the\s+)?|the\s+)texts?\s+(?:all\s+)?(?:deals?\s+with|discuss(?:es)?|focus(?:es)?\s+on|share\s+(?:an?|the)\s+"
    r"|explore|concern|contain|address|describe|mention|express|relate\s+to"
    r"|have\s+(?:a\s+)?(?:common\s+)?(?:theme|topic|focus)\s+(?:of|on)\s+)"
    # lead-ins of CLEANING_VERSION 2: "Commonality: Atheist stance", "Tone: critical", "Common themes
    # include ...", "They all discuss ...", "All are about ...", "A collection of texts about ..."
    r"|^(?:the\s+)?(?:common\s+)?(?:themes|topics|commonalit(?:y|ies)|tone|stance|category|genre|purpose)\s*:\s*"
    r"|^(?:the\s+)?common(?:\s+" + _COMMON_NOUN + r")?\s*(?:is\s*)?:\s*"
    r"|^(?:the\s+)?common\s+(?:themes?|topics?|threads?)\s+(?:include|includes|are|about|of)\s+"
    r"|^(?:the\s+)?common\s+(?:" + _COMMON_ROLE + r")\s+(?:is|are)\s+"
    r"|^commonality\s+(?:is|lies\s+in|of)\s+(?:(?:their|the|a)\s+focus\s+on\s+)?"
    r"|^they(?:'re|\s+are)\s+(?:all\s+)?(?:about|related\s+to)\s+"
    r"|^(?:they|it)\s+(?:all\s+)?(?:discuss(?:es)?|concerns?|address(?:es)?|describes?|mentions?|express(?:es)?"
    r"|contains?|involves?|deals?\s+with|focus(?:es)?\s+on|relates?\s+to)\s+"
    r"|^all\s+(?:(?:the\s+)?(?:texts?|phrases)\s+)?(?:are\s+(?:about\s+|related\s+to\s+)?|about\s+|relate\s+to\s+"
    r"|related\s+to\s+|mention\s+|discuss\s+|involve\s+|concern\s+)"
    r"|^this\s+(?:list|text)\s+is\s+(?:about|related\s+to)\s+"
    r"|^texts?\s+(?:focus\s+on|are\s+about|discuss|describe|mention|involve"
    r"|are\s+descriptions?\s+of|address(?:\s+topics\s+related\s+to)?|deal\s+with"  # version 3
    r"|share\s+(?:a\s+common|the\s+same)\s+theme\s+of(?:\s+discussing)?)\s+"
    r"|^a\s+collection\s+of\s+(?:(?:texts?|phrases)\s+(?:about|on|related\s+to|dealing\s+with|concerning)\s+)?"
    # lead-ins of CLEANING_VERSION 3 ("Texts are descriptions of ..." is with the "Texts ..." ones
    # above): "They all talk about ...", "Phrases relate to ...", "A list of phrases, describing ...",
    # "This list contains phrases from ..."
    r"|^(?:they|these|texts?|phrases)\s+(?:all\s+)?(?:(?:appear|seem)\s+to\s+be\s+)?(?:talk(?:ing)?\s+about|discussing)\s+"
    r"|^phrases\s+(?:primarily\s+)?(?:relate\s+to|involving(?!\s*[\"“])|describe)\s+"
    r"|^(?:(?:this|it)\s+is\s+)?a\s+list\s+of\s+phrases,?\s+(?:all\s+)?(?:related\s+to|describing"
    r"|conveying(?:\s+information\s+about)?)\s+"
    r"|^common\s+(?:purpose|goal|topic)\s+(?:of|to|related\s+to)\s+"
    r"|^this\s+list\s+(?:contains\s+phrases\s+from|is\s+from)\s+(?:various\s+|an?\s+)?(?:texts?\s+about\s+)?"
    r"|^(?:these\s+are|they\s+are)\s+(?:all\s+)?phrases\s+(?:expressing\s+|from\s+(?:an?\s+)?(?:texts?\s+(?:about|discussing)\s+)?)",
    re.IGNORECASE,
)
CLEANING_VERSION = 4
"""Version of :func:`clean_explanation`'s rules, part of a D3 run's key: candidates cleaned
another way are other candidates. 2 strips the lead-ins of the ``property`` style's replies;
3 those of replies that start with "They all talk about", "Texts are descriptions of",
"Phrases relate to", "A list of phrases, describing" and the like; 4 cuts a reply that switches
script mid-answer ("Food and餐饮" -> "Food"), strips or drops meta-text ("Here are the
themes: ...", "I'm sorry, ...") and, in :mod:`sasc.synthetic`, drops such texts and texts
that repeat another up to case and punctuation (:func:`check_reply`)."""
_THEME_SUFFIX = re.compile(
    r"\s+(?:is|are|seems to be|appears to be)\s+(?:a|the)\s+(?:(?:common|recurring|central|main|shared|key|core|major)\s+)?"
    r"(?:theme|topic|thread)\b.*$",
    re.IGNORECASE,
)
# a sentence-ending period: not the one of "vs.", "etc.", "Dr." or an initial ("U.S.")
_PERIOD = r"(?<!\bvs)(?<!\betc)(?<!\bDr)(?<!\bMr)(?<!\bSt)(?<!\b[A-Za-z])\."
_RATIONALE = re.compile(
    r"\s*(?:" + _PERIOD + r"|[;:!\n]|\s[-–—]\s"
    r"|,?\s+(?:because|since|as they|as these|which|where|such as|e\.g\.|including|like)\b"
    r"|,\s+(?:possibly|specifically|especially|particularly|often)\b"  # ", often with ..." (not "is often")
    r"|\s+in\s+these\s+phrases\b)",
    re.IGNORECASE)


# letters of the Latin script: ASCII, Latin-1, Latin Extended A/B, IPA, Latin Extended Additional
_LATIN_RANGES = ((0x0000, 0x02AF), (0x1E00, 0x1EFF), (0x2C60, 0x2C7F), (0xA720, 0xA7FF), (0xFF00, 0xFF5E))


def is_foreign_letter(ch: str) -> bool:
    """True for a letter (or CJK ideograph) outside the Latin script: ``"餐"``, ``"я"``; false for
    ``"é"``, digits, punctuation and symbols."""
    if not unicodedata.category(ch).startswith("L"):
        return False
    code = ord(ch)
    return not any(lo <= code <= hi for lo, hi in _LATIN_RANGES)


_DANGLING = re.compile(r"(?:[\s,;:&/+\-–—(]|\b(?:and|or|of|with|for|the|a|an|to|in|on|vs)\b)+$", re.IGNORECASE)


def cut_script_switch(text: str) -> tuple[str, str | None]:
    """``text`` cut where it leaves the Latin script, and what happened.

    ``"Food and餐饮"`` -> ``("Food", "script_repaired")`` (the words left dangling before the
    switch, "and", go too); a text without Latin letters before its first foreign one ->
    ``("", "script")``; a text all in Latin script -> ``(text, None)``.
    """
    cut = next((i for i, ch in enumerate(text) if is_foreign_letter(ch)), None)
    if cut is None:
        return text, None
    head = _DANGLING.sub("", text[:cut]).strip()
    if not any(ch.isalpha() for ch in head):
        return "", "script"
    return head, "script_repaired"


_META_LEAD = re.compile(
    r"^(?:(?:sure|certainly|of\s+course|okay|ok)[!,.]?\s*)?"
    r"(?:here\s+(?:is|are)\s+(?:the|a|an|some|my)?\s*[^:\n]{0,60}:"  # "Here are the common themes:"
    r"|based\s+on\s+(?:the|these)\s+(?:given\s+|provided\s+)?(?:list\s+of\s+)?(?:phrases|texts?|words)\s*,"
    r"|(?:sure|certainly|of\s+course)[!,.])\s*",
    re.IGNORECASE)
_META_ONLY = re.compile(
    r"^(?:i(?:'m|\s+am)\s+(?:sorry|unable|not\s+sure)|i\s+(?:cannot|can't|can\s+not|don't)\b|as\s+an\s+ai\b"
    r"|(?:sure|certainly|of\s+course)[!,.]?\s*(?:here\b|i\s+can\b|let\s+me\b)|here\s+(?:is|are)\b"
    r"|(?:there\s+is\s+)?no\s+(?:common|clear|obvious)\s+(?:theme|topic|thread)\b)",
    re.IGNORECASE)


def strip_meta(text: str) -> tuple[str, str | None]:
    """``text`` without a meta lead-in, and what happened.

    ``"Here are the common themes: food"`` -> ``("food", "meta_repaired")``;
    ``"I'm sorry, I can't help with that"`` or a bare ``"Here are the themes:"`` ->
    ``("", "meta")``; anything else -> ``(text, None)``.
    """
    new = _META_LEAD.sub("", text, count=1).strip()
    if new != text.strip():
        if new and not _META_ONLY.match(new):
            return new, "meta_repaired"
        return "", "meta"
    if _META_ONLY.match(text.strip()):
        return "", "meta"
    return text, None


def check_reply(reply: str) -> tuple[str, list[str]]:
    """A summary reply before :func:`clean_explanation`: script switch cut, meta lead-in
    stripped; returns the text ("" when it must be dropped) and the reasons of what was done
    (``"script"``, ``"script_repaired"``, ``"meta"``, ``"meta_repaired"``)."""
    reasons = []
    text, why = cut_script_switch(reply.strip())
    if why:
        reasons.append(why)
    if text:
        text, why = strip_meta(text.strip().strip("*#` "))
        if why:
            reasons.append(why)
    return text, reasons


def clean_explanation(reply: str) -> str:
    """Strip filler prefixes, quotes, markdown and any rationale after the theme.

    ``'The common theme among these phrases is "food", because ...'`` -> ``'food'``;
    ``'Irony is a common theme among these phrases'`` -> ``'Irony'``; ``'Food and餐饮'`` ->
    ``'Food'``; meta-text alone (``"I'm sorry, ..."``) -> ``''`` (see :func:`check_reply`).
    """
    text, _ = check_reply(reply)
    text = text.strip().strip("*#` \n")
    text = re.sub(r"\*\*|__|`", "", text)
    for _ in range(3):
        new = _FILLER.sub("", text).strip().strip("\"'“”‘’ ")
        if new == text:
            break
        text = new
    text = _THEME_SUFFIX.sub("", text)  # "Irony is a common theme among these phrases" -> "Irony"
    text = _RATIONALE.split(text, maxsplit=1)[0]
    text = text.strip().strip("\"'“”‘’.,;: ")
    text = re.sub(r"^(?:that\s+)?(?:it\s+is\s+|they\s+are\s+)", "", text, flags=re.IGNORECASE)
    return re.sub(r"\s+", " ", text).strip()


def _norm(s: str) -> str:
    return re.sub(r"[^a-z0-9 ]", "", s.lower()).removeprefix("the ").strip()


def summarize(helper: HelperLLM, top_ngrams: Sequence[str], *, n_candidates: int = 5,
              n_top: int = 50, n_pick: int = 30, sampling: Sampling = Sampling(temperature=0.7, max_tokens=48),
              seed: int = 0, styles: Sequence[str] = ("theme",), counts: Counter[str] | None = None,
              output: Sequence[str] = ()) -> list[Candidate]:
    """Candidate explanations, each from a random ``n_pick`` of the top ``n_top`` n-grams.

    ``top_ngrams`` must be in rank order (best first). Subset ``i`` is asked with prompt
    style ``styles[i % len(styles)]`` and seed ``seed * 1000 + i``; the prompts are
    independent, so they go to the helper together (:func:`~sasc.llm.base.complete_many`: as
    many at once as it has slots) and the candidates are the same however many that is.
    Replies are cleaned (:func:`clean_explanation`); candidates that clean to the same text
    (case, punctuation and a leading "the" ignored) are merged; empty ones dropped.
    ``counts``, when given, is incremented per reason: ``summary.duplicate``,
    ``summary.empty``, ``summary.meta``, ``summary.script`` (dropped) and
    ``summary.meta_repaired``, ``summary.script_repaired`` (kept after a cut).
    ``output``: words the unit makes the model say (:func:`output_words`); when given, every prompt
    shows them after the n-grams (:func:`output_line`) and one more candidate, of style
    :data:`OUTPUT_STYLE`, is summarized from them alone (:func:`output_prompt`; its lead-in about
    "these words" stripped by :func:`strip_output_lead_in`, counted as ``summary.meta_repaired``); a summary that
    copies the line into its answer is cut before it (:func:`cut_evidence_echo`; counted as
    ``summary.evidence_repaired``).
    """
    styles = check_styles(styles)
    ranked = list(top_ngrams)[:n_top]
    shown = [[ranked[j] for j in subset] for subset in choose_subsets(len(ranked), n_pick, n_candidates, seed)]
    line = output_line(output)
    styles_of = [styles[i % len(styles)] for i in range(len(shown))]
    requests = [Request(summary_prompt(ngrams, style, line), sampling.seeded(seed * 1000 + i))
                for i, (ngrams, style) in enumerate(zip(shown, styles_of))]
    if output:
        shown.append(list(output))
        styles_of.append(OUTPUT_STYLE)
        requests.append(Request(output_prompt(output), sampling.seeded(seed * 1000 + len(requests))))
    replies = [c.text for c in complete_many(helper, requests)]
    out: list[Candidate] = []
    seen: set[str] = set()
    tally: Counter[str] = Counter()
    for i, (ngrams, reply) in enumerate(zip(shown, replies)):
        _, reasons = check_reply(reply)
        expl = clean_explanation(reply)
        if output and styles_of[i] != OUTPUT_STYLE and (cut := cut_evidence_echo(expl)) != expl:
            expl = cut  # the evidence line copied into an input-side summary
            reasons = (*reasons, "evidence_repaired")
        elif styles_of[i] == OUTPUT_STYLE and (cut := strip_output_lead_in(expl)) != expl:
            expl = cut  # "These words are related to the concept of ..."
            reasons = (*reasons, "meta_repaired")
        key = _norm(expl)
        if not key:
            tally["summary." + next((r for r in reasons if not r.endswith("_repaired")), "empty")] += 1
        elif key in seen:
            tally["summary.duplicate"] += 1
        else:
            seen.add(key)
            tally.update(f"summary.{r}" for r in reasons)  # only repairs: the reply was kept
            out.append(Candidate(expl, ngrams, reply, styles_of[i]))
    if counts is not None:
        counts.update(tally)
    return out
