"""Align what Whisper heard with what the transcript says.

Both sides are normalised the same way: Whisper's English normaliser
(``whisper-normalizer``'s ``EnglishTextNormalizer``), after three fixes of
our own that it would otherwise get wrong for interviews:
  * curly apostrophes become straight ones (it splits ``Iran’s`` otherwise);
  * editorial brackets lose their bracket characters but keep their words
    (it deletes bracketed text, and the seed's brackets are spoken);
  * dotted and spelled-out acronyms are joined (``U.S.``, ``I S K P``), as
    Whisper writes them either way;
  * ordinals lose their suffix (``3rd``, ``third`` -> ``3``): "January 3"
    is said "January third", which the normaliser writes ``3rd``;
  * ``4,200`` is ``4200`` and ``80 percent`` is ``80%`` before words are
    normalised one by one, which would otherwise miss both.
Words are normalised one by one so every normalised token keeps the time of
the word it came from.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Sequence
from dataclasses import dataclass

from .transcribe import HeardWord

NORMALISER = ("whisper-normalizer EnglishTextNormalizer (curly quotes straightened, brackets kept as words, acronyms "
              "joined, ordinal suffixes dropped, thousands and percent joined)")

_DOTTED = re.compile(r"\b(?:[A-Za-z]\s?\.\s?){2,}")
_THOUSANDS = re.compile(r"(?<=\d),(?=\d{3}\b)")
_PERCENT = re.compile(r"(?<=\d)\s*(?:per ?cent)\b", re.I)
_ORDINAL = re.compile(r"^(\d+)(?:st|nd|rd|th)$")
_SPELLED = re.compile(r"\b[A-Z](?: [A-Z]\b)+")


@functools.cache
def _whisper_normaliser():
    from whisper_normalizer.english import EnglishTextNormalizer

    return EnglishTextNormalizer()


def prepare(text: str) -> str:
    """The fixes applied before Whisper's normaliser (see module doc)."""
    text = text.translate(str.maketrans({"’": "'", "‘": "'", "“": '"', "”": '"', "[": " ", "]": " "}))
    text = _DOTTED.sub(lambda m: re.sub(r"[\s.]", "", m.group(0)) + " ", text)
    text = _PERCENT.sub("%", _THOUSANDS.sub("", text))
    return _SPELLED.sub(lambda m: m.group(0).replace(" ", ""), text)


def normalise_words(words: Sequence[str]) -> list[tuple[str, int]]:
    """Normalised tokens, each with the index of the word it came from."""
    norm = _whisper_normaliser()
    out = []
    for i, word in enumerate(words):
        for token in norm(word).split():
            out.append((_ORDINAL.sub(r"\1", token), i))
    return out


def normalise(text: str) -> list[str]:
    return [t for t, _ in normalise_words(prepare(text).split())]


def join_heard_acronyms(words: Sequence[HeardWord]) -> list[HeardWord]:
    """Whisper splits ``U.S.`` into ``U`` + ``.S.`` and ``4,200`` into ``4,`` + ``200``; put such pieces back together."""
    out: list[HeardWord] = []
    for w in words:
        if out and (re.fullmatch(r"\.?[A-Za-z]\.?", out[-1].text) and re.fullmatch(r"\.[A-Za-z]\.?[,;:.?!]?", w.text)
                    or re.fullmatch(r"\d{1,3}(?:,\d{3})*,", out[-1].text) and re.fullmatch(r"\d{3}\b.*", w.text)):
            prev = out.pop()
            w = HeardWord(prev.text + w.text, prev.start_ms, w.end_ms, min(prev.probability, w.probability))
        out.append(w)
    return out


@dataclass(frozen=True)
class RefToken:
    text: str
    turn_index: int


@dataclass(frozen=True)
class HypToken:
    text: str
    start_ms: int
    end_ms: int


@dataclass(frozen=True)
class Alignment:
    """For each reference token, the hypothesis token it aligns to, or None."""

    ref: tuple[RefToken, ...]
    hyp: tuple[HypToken, ...]
    ref_to_hyp: tuple[int | None, ...]
    correct: tuple[bool, ...]  # per reference token
    insertions_after: tuple[int, ...]  # per reference token (index -1 -> slot 0 via insertions_before_first)
    insertions_before_first: int

    @property
    def substitutions(self) -> int:
        return sum(1 for h, ok in zip(self.ref_to_hyp, self.correct) if h is not None and not ok)

    @property
    def deletions(self) -> int:
        return sum(1 for h in self.ref_to_hyp if h is None)

    @property
    def insertions(self) -> int:
        return self.insertions_before_first + sum(self.insertions_after)


def reference_tokens(turn_texts: Sequence[str]) -> list[RefToken]:
    out = []
    for index, text in enumerate(turn_texts):
        out += [RefToken(t, index) for t in normalise(text)]
    return out


def hypothesis_tokens(words: Sequence[HeardWord]) -> list[HypToken]:
    words = join_heard_acronyms(words)
    text = prepare(" ".join(w.text for w in words)).split()
    # prepare() keeps one output word per input word except for joins of
    # spelled letters; fall back to per-word preparation when counts differ.
    if len(text) != len(words):
        text = [prepare(w.text).strip() or w.text for w in words]
    return [HypToken(tok, words[i].start_ms, words[i].end_ms) for tok, i in normalise_words(text)]


def align(ref: Sequence[RefToken], hyp: Sequence[HypToken]) -> Alignment:
    """Minimum-edit alignment (Levenshtein, as WER counts it)."""
    # imported here: every command imports this module (cli's verify defaults), and rapidfuzz
    # takes 13 ms of the 0.3 s a render's start costs
    from rapidfuzz.distance import Levenshtein

    ref_words = [r.text for r in ref]
    hyp_words = [h.text for h in hyp]
    ref_to_hyp: list[int | None] = [None] * len(ref)
    correct = [False] * len(ref)
    insertions_after = [0] * len(ref)
    before_first = 0
    for tag, r0, r1, h0, h1 in Levenshtein.opcodes(ref_words, hyp_words):
        if tag in ("equal", "replace"):
            for k in range(r1 - r0):
                ref_to_hyp[r0 + k] = h0 + k
                correct[r0 + k] = tag == "equal"
        elif tag == "insert":
            if r0 == 0:
                before_first += h1 - h0
            else:
                insertions_after[r0 - 1] += h1 - h0
    return Alignment(tuple(ref), tuple(hyp), tuple(ref_to_hyp), tuple(correct),
                     tuple(insertions_after), before_first)


def locate(ref_tokens: Sequence[str], hyp_words: Sequence[str], n: int = 3) -> tuple[float, list[int]]:
    """Where a passage is heard, independent of order.

    Returns the fraction of its n-grams heard anywhere, and the hypothesis
    positions of the n-grams heard exactly once (so the position is not
    ambiguous).
    """
    if len(ref_tokens) < n:
        n = max(1, len(ref_tokens))
    grams = [tuple(ref_tokens[i:i + n]) for i in range(len(ref_tokens) - n + 1)]
    index: dict[tuple[str, ...], list[int]] = {}
    for i in range(len(hyp_words) - n + 1):
        index.setdefault(tuple(hyp_words[i:i + n]), []).append(i)
    heard = [g for g in grams if g in index]
    unique = sorted(index[g][0] for g in heard if len(index[g]) == 1)
    return (len(heard) / len(grams) if grams else 0.0), unique


def longest_increasing(values: Sequence[float]) -> set[int]:
    """Indices of one longest strictly increasing subsequence (patience sort)."""
    import bisect

    tails: list[float] = []
    tail_idx: list[int] = []
    prev: list[int] = [-1] * len(values)
    for i, v in enumerate(values):
        k = bisect.bisect_left(tails, v)
        if k == len(tails):
            tails.append(v)
            tail_idx.append(i)
        else:
            tails[k] = v
            tail_idx[k] = i
        prev[i] = tail_idx[k - 1] if k else -1
    keep = set()
    i = tail_idx[-1] if tail_idx else -1
    while i != -1:
        keep.add(i)
        i = prev[i]
    return keep
