"""The form of an explanation: does it read like a phrase a researcher would write?

σ measures whether a module responds to texts about an explanation; it cannot tell
"food and cooking" from "Food and food", since the module responds to the concept's words,
not to the grammar around them. This module checks the form of one explanation with plain
rules (:func:`form_flags`), optionally a fluency score from a small local LM
(:class:`LMFluency`), and repairs the two faults that can be undone without touching the
meaning (:func:`repair`). The rules know English function words, not any module's concepts.

Flags (:data:`FORM_FLAGS`):

* ``empty``: no word at all;
* ``repeated_word``: a content word twice (a plural counts as the word): "Food and food", or restated
  in a derived form next to itself: "humorous humor" ("Crime and criminal behavior" passes);
* ``tautology``: the head word restated after a linking verb: "Sarcasm is sarcastic";
* ``dangling_end``: ends on a function word or an object-less verb: "Recipes that are about",
  "Bread and contain"; or a clause does, before a comma, semicolon or colon: "Letters about, tides";
* ``question``: a question instead of a description: "What is the weather?";
* ``meta_text``: talks about the task or the list rather than the concept: "these phrases",
  "common theme", "Sure, here is", "no clear theme";
* ``too_long``: more than ``max_words`` words (the summary prompts ask for at most 8);
* ``disfluent``: fluency under a small LM (:func:`slor`) below :data:`FLUENCY_FLOOR`: its words
  do not follow one another ("Lamp quickly seventeen however").
"""

from __future__ import annotations

import math
import re
import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass

FORM_FLAGS = ("empty", "repeated_word", "tautology", "dangling_end", "question", "meta_text", "too_long",
              "disfluent")
"""Every flag :func:`check_form` may raise, in the order it reports them."""

FORM_VERSION = 7
"""Version of the form rules, repairs and fluency floor: part of a D3 run's key when they are used.
(3: repairs run until nothing changes, so "politics, politics, politics" becomes "politics", not
"politics, politics". 4: a list item that restates an earlier one with vague words ("health-related",
"the health field") is dropped, and a repaired candidate keeps its original's place in the direct
pre-screen. 5: "X-related" counts as X in ``repeated_word``, and "X or X-related topics" -> "X".
6: a clause that ends on a dangling function word before a comma is ``dangling_end`` too, a
first clause of function words only is dropped: "are about, X, Y" -> "X, Y", and a failing winner's
unscored shorter restatements are scored too (:func:`sasc.readable.condenses`). 7: a reply in the first
person ("I am a ...", "I'm not able to ...") or one that speaks as an AI or language model is ``meta_text``.)"""

MAX_WORDS = 10
"""Longest explanation, in words, that is not flagged ``too_long``."""

FLUENCY_FLOOR = 5.8
"""Fluency (:func:`slor`, nats per token under SmolLM2-135M) below which an explanation is
flagged ``disfluent``. Calibrated on the hand-labelled strings of
``tests/data/form_calibration.tsv``: the lowest floor that flags every word salad there that the
rules miss; the good strings score 6.9 to 13.6 but one ("Polite requests", 4.3). See
``docs/readable_winners.md``."""

_WORD = re.compile(r"[A-Za-z0-9]+(?:['’-][A-Za-z0-9]+)*")

_ARTICLES = {"a", "an", "the"}
_PREPOSITIONS = {"about", "above", "across", "after", "against", "along", "among", "around", "as", "at", "before",
                 "behind", "below", "beneath", "beside", "between", "beyond", "by", "despite", "during", "for",
                 "from", "in", "inside", "into", "like", "near", "of", "off", "on", "onto", "over", "per", "than",
                 "through", "to", "toward", "towards", "under", "unlike", "until", "upon", "via", "with", "within",
                 "without"}
_CONJUNCTIONS = {"and", "or", "but", "nor", "so", "yet", "because", "although", "though", "while", "whereas",
                 "if", "unless", "whether"}
_AUXILIARIES = {"is", "are", "was", "were", "be", "been", "being", "am", "do", "does", "did", "has", "have", "had",
                "can", "could", "will", "would", "shall", "should", "may", "might", "must"}
_PRONOUNS = {"that", "which", "who", "whom", "whose", "what", "this", "these", "those", "their", "its", "his",
             "her", "our", "your", "my", "it", "they", "them", "we", "you", "he", "she", "i", "there", "some",
             "any", "each", "every", "such", "very", "not", "no", "more", "most", "all", "both", "other", "often",
             "also", "just", "only", "how", "why", "when", "where", "etc"}
FUNCTION_WORDS = frozenset(_ARTICLES | _PREPOSITIONS | _CONJUNCTIONS | _AUXILIARIES | _PRONOUNS)
"""Words that carry no content of their own; an explanation must not end on one (bar "etc")."""

_DANGLING = FUNCTION_WORDS - {"etc", "all", "both", "them", "it", "this", "these", "those", "more", "most",
                              "often", "also", "there", "some", "any", "other", "what", "how", "why",
                              "when", "where"}
# verbs that need an object: "... and contain" says nothing; after these words a verb is a predicate
_TRANSITIVE = {"contain", "contains", "include", "includes", "involve", "involves", "describe", "describes",
               "discuss", "discusses", "mention", "mentions", "express", "expresses", "require", "requires",
               "concern", "concerns", "address", "addresses", "use", "uses", "show", "shows", "reference",
               "references", "depict", "depicts", "promote", "promotes", "criticize", "criticizes"}
_BEFORE_VERB = {"and", "or", "that", "which", "who", "to", "they", "texts", "often", "also"}
_LINKING = {"is", "are", "was", "were", "be", "being", "been", "means", "seems", "seem", "appears", "appear",
            "becomes", "become", "sounds", "feels", "looks"}
_QUESTION_START = re.compile(
    r"^(?:(?:is|are|was|were|do|does|did|can|could|would|should|will|has|have|shall|may)\s+"
    r"(?:it|this|that|these|those|they|there|the|a|an|you|we|he|she|i|someone|anyone)\b"
    r"|(?:what|which|who|whom|whose|why|where|when|how)\s+(?:is|are|was|were|do|does|did|can|could|would|should"
    r"|will|has|have)\b)", re.IGNORECASE)
_META = re.compile(
    r"\b(?:these|those|this|the|above|following|given)\s+(?:list\s+of\s+)?(?:phrases?|words?|terms?|lists?"
    r"|n-?grams?|snippets?|excerpts?)\b"
    r"|\b(?:common|recurring|shared|overall|underlying)\s+(?:themes?|threads?|denominators?|elements?)\b"
    r"|^(?:sure|okay|ok|certainly|of\s+course|here\s+(?:is|are)|i['’]m\b|i\s+(?:am|think|believe|would|will|can"
    r"|cannot|can't|don't|do\s+not|apologi[sz]e)\b|the\s+answer|answer\b)"
    r"|\bas\s+an?\s+(?:ai|(?:large\s+)?language\s+model|assistant)\b"
    r"|\bno\s+(?:clear\s+|common\s+|obvious\s+|single\s+)?(?:theme|topic|pattern|connection)\b"
    r"|\b(?:not\s+sure|cannot\s+(?:be\s+)?determined?|hard\s+to\s+say|n/a)\b"
    r"|^(?:none|unknown|unclear|various|miscellaneous|misc|random|mixed|general)"
    r"(?:\s+(?:topics?|things|subjects|themes?|words|phrases|texts))?$",
    re.IGNORECASE)
_SUFFIXES = ("ically", "ations", "ation", "ities", "ity", "ness", "ments", "ment", "ious", "ous", "ings", "ing",
             "ists", "ist", "isms", "ism", "ions", "ion", "ies", "ied", "ed", "es", "al", "ic", "ly", "s", "y", "e")


_VAGUE = frozenset({"related", "based", "oriented", "centered", "centred", "field", "fields", "area", "areas",
                    "domain", "domains", "sector", "sectors", "topic", "topics", "subject", "subjects", "theme",
                    "themes", "matter", "matters", "aspect", "aspects", "thing", "things", "stuff", "general",
                    "category", "categories"})
"""Words that add nothing to the word they follow: "health-related", "the health field" say "health"."""
_VAGUE_SUFFIXES = frozenset({"related", "based", "oriented", "centered", "centred", "themed", "focused"})
"""Second halves of a compound that only point back to its first: "writing-related" is "writing"."""


@dataclass(frozen=True, eq=False)
class FormCheck:
    """The form of one explanation. Equality is field by field with NaN equal to NaN, so a result
    read back from JSON equals the one written."""

    flags: tuple[str, ...]
    """Faults found, among :data:`FORM_FLAGS` in that order; empty: it reads well."""
    n_words: int
    """Words in the explanation."""
    fluency: float = math.nan
    """Fluency under the fluency LM (:func:`slor`, nats per token; NaN: not measured)."""

    @property
    def passes(self) -> bool:
        """No flag raised."""
        return not self.flags

    def _key(self) -> tuple:
        return tuple(self.flags), self.n_words, "nan" if math.isnan(self.fluency) else self.fluency

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, FormCheck):
            return NotImplemented
        return self._key() == other._key()

    def __hash__(self) -> int:
        return hash(self._key())

    @classmethod
    def from_dict(cls, d: dict) -> "FormCheck":
        """Inverse of ``dataclasses.asdict`` (a list of flags, NaN written as null)."""
        fluency = d.get("fluency")
        return cls(tuple(d.get("flags", ())), int(d.get("n_words", 0)), math.nan if fluency is None else float(fluency))


def words(text: str) -> list[str]:
    """The words of ``text``, lowercased: ``"Food-related news!"`` -> ``["food-related", "news"]``."""
    return [w.lower() for w in _WORD.findall(text)]


def stem(word: str) -> str:
    """A crude stem for spotting a restated word: ``"religious"``, ``"religion"`` -> ``"relig"``."""
    w = word.lower().replace("’", "'").removesuffix("'s")
    for _ in range(2):  # "musical" -> "music" -> "mus", as "music" -> "mus"
        for suffix in _SUFFIXES:
            if w.endswith(suffix) and len(w) - len(suffix) >= 3:
                w = w[: -len(suffix)]
                break
    return w


def restates(a: str, b: str) -> bool:
    """Whether two words are one word restated: the same stem, or one word's stem (4 letters or
    more) starting the other: ``("music", "musical")``, ``("humor", "humorous")``, ``("teach", "teacher")``."""
    sa, sb = stem(a), stem(b)
    if sa == sb:
        return True
    return min(len(sa), len(sb)) >= 4 and (a.lower().startswith(sb) or b.lower().startswith(sa))


def _content(ws: Sequence[str]) -> list[str]:
    return [w for w in ws if w not in FUNCTION_WORDS and not w.isdigit()]


def _same_word(a: str, b: str) -> bool:
    """One word twice, up to case, a possessive and a plural: ``("train", "Trains")``, ``("city", "cities")``."""
    a, b = (w.lower().replace("’", "'").removesuffix("'s") for w in (a, b))
    a, b = sorted((a, b), key=len)
    return b in (a, a + "s", a + "es") or (a.endswith("y") and b == a[:-1] + "ies")


def _compound_head(word: str) -> str:
    """``"writing-related"`` -> ``"writing"``: a compound whose later parts only point back to its first
    (:data:`_VAGUE_SUFFIXES`) stands for its first part; any other word stands for itself."""
    head, *rest = word.split("-")
    return head if rest and head and all(r in _VAGUE_SUFFIXES for r in rest) else word


def _repeats(ws: Sequence[str]) -> bool:
    """The same content word twice anywhere (``"Food and food"``, ``"Opera and opera-related news"``), or
    one word restated in a derived form right next to it (``"humorous humor"``). A derived form in
    another conjunct is how people write ("Crime and criminal behavior", "Religion and religious
    texts"), so it is not flagged."""
    c = _content(ws)
    h = [_compound_head(w) for w in c]
    if any(_same_word(h[i], h[j]) for i in range(len(h)) for j in range(i + 1, len(h))):
        return True
    return any(restates(a, b) for a, b in zip(ws, ws[1:]) if a in c and b in c)


def _tautology(ws: Sequence[str]) -> bool:
    """A content word before the first linking verb is restated after it."""
    for i, w in enumerate(ws):
        if w in _LINKING and 0 < i < len(ws) - 1:
            return any(restates(a, b) for a in _content(ws[:i]) for b in _content(ws[i + 1:]))
    return False


def _dangling(ws: Sequence[str]) -> bool:
    if not ws:
        return False
    last = ws[-1]
    if last in _DANGLING:
        return True
    return last in _TRANSITIVE and len(ws) >= 2 and ws[-2] in _BEFORE_VERB


_CLAUSE_END = re.compile(r"([A-Za-z0-9]+(?:['’-][A-Za-z0-9]+)*)\s*[,;:]")


def _dangling_clause(text: str) -> bool:
    """A clause inside the text (before a comma, semicolon or colon) ends on a dangling function
    word, as "Letters about, tides" does: the same fault as a dangling end, mid-phrase."""
    return any(m.group(1).lower() in _DANGLING for m in _CLAUSE_END.finditer(text))


def form_flags(text: str, max_words: int = MAX_WORDS) -> tuple[str, ...]:
    """The rule flags of ``text`` (every flag of :data:`FORM_FLAGS` but ``disfluent``)."""
    ws = words(text)
    if not ws:
        return ("empty",)
    taut = _tautology(ws)
    raised = {
        "repeated_word": _repeats(ws) and not taut,
        "tautology": taut,
        "dangling_end": _dangling(ws) or _dangling_clause(text),
        "question": "?" in text or bool(_QUESTION_START.match(text.strip())),
        "meta_text": bool(_META.search(text.strip())),
        "too_long": len(ws) > max_words,
    }
    return tuple(f for f in FORM_FLAGS if raised.get(f))


FLUENCY_DIGITS = 3
"""Decimals a fluency is kept to (float noise between processes is far below that)."""


def check_form(text: str, fluency: float = math.nan, *, max_words: int = MAX_WORDS,
               fluency_floor: float = FLUENCY_FLOOR) -> FormCheck:
    """The :class:`FormCheck` of ``text`` given its fluency (NaN: not measured, never flagged)."""
    # rounded: the same text scored in another process (other thread count) gives the same check
    fluency = round(float(fluency), FLUENCY_DIGITS)
    flags = form_flags(text, max_words)
    if math.isfinite(fluency) and fluency < fluency_floor and "empty" not in flags:
        flags += ("disfluent",)
    return FormCheck(tuple(f for f in FORM_FLAGS if f in flags), len(words(text)), fluency)


# ---------------------------------------------------------------- repair

@dataclass(frozen=True)
class Repair:
    """One candidate changed by :func:`sasc.form.repair` before it was scored."""

    before: str
    """The candidate as cleaned from the helper's reply."""
    after: str
    """The candidate as scored ("" when it merged into an earlier candidate with that text)."""
    rules: list[str]
    """The repairs applied, among ``collapse_repeat``, ``drop_list_repeat`` and ``drop_dangling``."""


_SPACES = re.compile(r"\s+")


_SAME_SEP = re.compile(r"\s*,?\s*(?:(?:and|or|&)\s+)?", re.IGNORECASE)


def _same_words(a: Sequence[str], b: Sequence[str]) -> bool:
    """Equal word lists, a plural of the same word counting as itself."""
    return len(a) == len(b) and all(_same_word(x, y) for x, y in zip(a, b))


def _edge(text: str, spans: Sequence[tuple[int, int, str]], i: int, before: bool) -> bool:
    """Whether word ``i`` starts (``before``) or ends a conjunct: the text's edge, a comma or a function word."""
    k = i - 1 if before else i + 1
    if not 0 <= k < len(spans):
        return True
    gap = text[spans[k][1]: spans[i][0]] if before else text[spans[i][1]: spans[k][0]]
    return "," in gap or spans[k][2] in FUNCTION_WORDS


def _collapse_coordination(text: str) -> str:
    """``"Food and food"`` -> ``"Food"``: a phrase of up to 3 words followed at once by itself
    (joined by "and", "or", "&" or a comma; a plural of the same word counts as itself)."""
    spans = [(m.start(), m.end(), m.group().lower()) for m in _WORD.finditer(text)]
    for k in (3, 2, 1):
        for i, j in ((i, j) for i in range(len(spans)) for j in (i + k, i + k + 1)):
            a, b = spans[i: i + k], spans[j: j + k]
            if len(a) < k or len(b) < k:
                continue
            sep = text[a[-1][1]: b[0][0]]
            if not (_SAME_SEP.fullmatch(sep) and _same_words([w for *_, w in a], [w for *_, w in b])
                    and _content([w for *_, w in a])):
                continue
            # joined by "and": only a whole conjunct on each side ("Fresh food and food safety" stays)
            stutter = j == i + k and not sep.strip()
            if stutter or (_edge(text, spans, i, before=True) and _edge(text, spans, j + k - 1, before=False)):
                return text[: a[-1][1]] + text[b[-1][1]:]
    return text


_LEAD = re.compile(r"^\s*([^,;:]*?)\s*[,;:]\s*")


def _drop_dangling(text: str) -> str:
    """The last word dropped when it is a dangling function word and what stays neither dangles
    nor is empty of content: ``"Recipes and"`` -> ``"Recipes"``; ``"Texts that are about"`` stays
    (dropping more would lose what the phrase was going to say). A first clause of function words
    only that dangles is dropped too: ``"are about, tides, harbours"`` -> ``"tides, harbours"``
    (a summary prompt's "The texts are about" cut short; nothing with content is lost)."""
    lead = _LEAD.match(text)
    first = words(lead.group(1)) if lead else []
    if first and not _content(first) and _dangling(first) and _content(words(text[lead.end():])):
        return text[lead.end():]
    ws = words(text)
    if len(ws) < 2 or ws[-1] not in _DANGLING:
        return text
    out = re.sub(r"[\s,;:-]*[A-Za-z0-9'’-]+\W*$", "", text.rstrip()).rstrip(" ,;:-")
    rest = words(out)
    return out if rest and _content(rest) and not _dangling(rest) else text


_JOINER = re.compile(r"^(?:and|or|&)\s+", re.I)
_PAIR = re.compile(r"((?:(?!\b(?:and|or)\b)[^&])+?)\s+((?:and|or|&)\s+(?:(?!\b(?:and|or)\b)[^&])+)", re.I)
"""Two items joined by one "and", "or" or "&" and no other."""


def _drop_list_repeat(text: str) -> str:
    """A comma list with an item that repeats an earlier one (the same words, plurals counting as
    the same, vague words such as "related" or "field" aside): the repeat dropped. ``"Tides,
    harbours, boats, harbours"`` -> ``"Tides, harbours, boats"``; ``"Chess, chess-related, the chess
    field"`` -> ``"Chess"``, ``"Opera or opera-related topics"`` -> ``"Opera"``. Only whole items, so
    "Fresh bread, bread prices, bakeries" stays, and a two-item list (with a comma, or "A and B" with
    no other "and" or "or") only when the repeat adds vague words (an exact one is
    :func:`_collapse_coordination`'s). A dropped last item's "and" goes to the new last one."""
    items = [i.strip() for i in text.split(",")]
    pair = _PAIR.fullmatch(text.strip())
    if len(items) == 1 and pair:  # "A or B": two items without a comma
        items = [pair.group(1), pair.group(2)]
    if len(items) < 2 or not all(words(i) for i in items):
        return text
    seen: list[list[str]] = []
    keep = []
    for item in items:
        parts = words(_JOINER.sub("", item.replace("-", " ")))  # "and Health-related topics": and health ...
        key = [w for w in _content(parts) if w not in _VAGUE]  # -> ["health"]
        vague = len(key) < len(_content(parts))
        if key and any(_same_words(key, s) for s in seen) and (len(items) > 2 or vague):
            continue
        seen.append(key)
        keep.append(item)
    if len(keep) == len(items):
        return text
    joiner = _JOINER.match(items[-1])
    if joiner and keep[-1] != items[-1] and len(keep) > 1:
        last = f"{joiner.group().strip()} {_JOINER.sub('', keep[-1])}"
        return ", ".join(keep[:-1]) + (", " if len(keep) > 2 else " ") + last
    return ", ".join(keep)


REPAIRS: tuple[tuple[str, Callable[[str], str]], ...] = (
    ("collapse_repeat", lambda t: _collapse_coordination(t)),
    ("drop_list_repeat", _drop_list_repeat),
    ("drop_dangling", _drop_dangling),
)
"""The repairs :func:`repair` applies, in order: each keeps the meaning and removes one fault."""


def repair(text: str) -> tuple[str, tuple[str, ...]]:
    """``text`` with a repeated word collapsed and a dangling end dropped, and the names of the
    repairs that changed it: ``"Food and food"`` -> ``("Food", ("collapse_repeat",))``."""
    applied: list[str] = []
    out = _SPACES.sub(" ", text).strip()
    for _ in range(len(words(out)) + 1):  # until nothing changes: "X, X, X" needs two collapses
        before = out
        for name, fix in REPAIRS:
            new = _SPACES.sub(" ", fix(out)).strip()
            if new != out and words(new):
                applied += [name] if name not in applied else []
                out = new
        if out == before:
            break
    return (out, tuple(applied)) if applied else (text, ())


# ---------------------------------------------------------------- fluency

FLUENCY_FRAME = "Topic: "
"""Text before the explanation when its fluency is scored; the explanation is followed by a
period, so a phrase cut off mid-way ("... and") pays for an unlikely end."""

FluencyFn = Callable[[Sequence[str]], list[float]]
"""texts -> fluency of each (:func:`slor`, nats per token)."""


class LMFluency:
    """Fluency of explanations under a causal LM (:func:`slor`), batched and memoized.

    ``name``: a model for :func:`sasc.modules.causal_lm.load_causal_lm` (default: SmolLM2-135M,
    which ships offline). Scored tokens: the explanation's and the period after it, each given
    :data:`FLUENCY_FRAME` and the tokens before it. The model loads on the first call.
    """

    def __init__(self, name: str = "smollm2", batch_size: int = 32, device: str | None = "cpu"):
        self.name, self.batch_size, self.device = name, batch_size, device
        self._memo: dict[str, float] = {}
        self._lock = threading.Lock()

    def __call__(self, texts: Sequence[str]) -> list[float]:
        with self._lock:
            todo = [t for t in dict.fromkeys(texts) if t not in self._memo]
            for i in range(0, len(todo), self.batch_size):
                chunk = todo[i: i + self.batch_size]
                self._memo.update(zip(chunk, self._score(chunk)))
            return [self._memo[t] for t in texts]

    def _score(self, texts: Sequence[str]) -> list[float]:
        return [slor(lp, prior) for lp, prior in self.token_logprobs(texts)]

    def token_logprobs(self, texts: Sequence[str]) -> list[tuple[list[float], list[float]]]:
        """Per text, the log-probabilities (nats) of its tokens and the period after them, each
        given :data:`FLUENCY_FRAME` and the tokens before it, and the same tokens' log-probabilities
        given the frame alone (the prior). One batched forward pass (plus one for the prior)."""
        import torch

        from .modules.causal_lm import load_causal_lm

        lm = load_causal_lm(self.name, device=self.device)
        tok = lm.tokenizer
        frame = tok(FLUENCY_FRAME, add_special_tokens=False).input_ids
        rows = [frame + tok(" ".join(t.split()) + ".", add_special_tokens=False).input_ids for t in texts]
        width = max(len(r) for r in rows)
        pad = tok.pad_token_id if tok.pad_token_id is not None else 0
        ids = torch.tensor([r + [pad] * (width - len(r)) for r in rows])
        mask = torch.tensor([[1] * len(r) + [0] * (width - len(r)) for r in rows])
        with lm.lock, torch.inference_mode():
            logits = lm.model(input_ids=ids.to(lm.device), attention_mask=mask.to(lm.device)).logits.float().cpu()
        logp = torch.log_softmax(logits[:, :-1], dim=-1).gather(-1, ids[:, 1:, None])[..., 0]
        prior = torch.log_softmax(logits[0, len(frame) - 1], dim=-1)  # the next token given the frame alone
        out = []
        for k, r in enumerate(rows):
            targets = torch.tensor(r[len(frame):])
            out.append((logp[k, len(frame) - 1: len(r) - 1].tolist(), prior[targets].tolist()))
        return out


def slor(logprobs: Sequence[float], prior: Sequence[float]) -> float:
    """Mean gain in log-probability (nats per token) that the explanation's own earlier tokens
    give its later tokens, over the same tokens given the frame alone: a SLOR-like fluency
    (Kann et al. 2018) that does not punish rare words, only words that do not follow each other.
    The first token (no earlier token of the explanation) is left out; NaN for fewer than 2."""
    gains = [a - b for a, b in zip(logprobs, prior)][1:]
    return float(sum(gains) / len(gains)) if gains else math.nan


FLUENCY_MODELS = ("smollm2", "")
"""Fluency LMs an :class:`~sasc.config.ExplainConfig` may name: the packaged SmolLM2-135M, or none."""

_SCORERS: dict[str, LMFluency] = {}
_SCORERS_LOCK = threading.Lock()


def fluency_scorer(name: str) -> FluencyFn | None:
    """The shared :class:`LMFluency` for model ``name`` (one per process); None for ``""`` (no fluency)."""
    if not name:
        return None
    with _SCORERS_LOCK:
        if name not in _SCORERS:
            _SCORERS[name] = LMFluency(name)
        return _SCORERS[name]


def check_forms(texts: Sequence[str], fluency: FluencyFn | None = None, *, max_words: int = MAX_WORDS,
                fluency_floor: float = FLUENCY_FLOOR) -> list[FormCheck]:
    """:func:`check_form` of each text, with fluencies from ``fluency`` (None: not measured)."""
    scores = list(fluency(list(texts))) if fluency is not None and texts else [math.nan] * len(texts)
    return [check_form(t, s, max_words=max_words, fluency_floor=fluency_floor) for t, s in zip(texts, scores)]
