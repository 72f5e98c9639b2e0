"""Stage 6a: when each written word is spoken, and how well that agrees with Whisper.

Read-along (the words JSON, the WebVTT word timestamps, the player page)
times *written* words: where the lexicon respells a word ("ISKP" read as
"I-S-K-P"), the written word spans the whole of its spoken form, because
``lexicon.word_offsets`` put its start at the start of the respelling and
the next written word starts after it.

Everything here works from ``assemble.SentenceTiming`` alone: its
``word_starts_ms`` are the marks of whichever engine spoke the sentence,
already placed on the final timeline (after pauses, levelling and the
encoder's delay).  A sentence whose clip carried no marks has its words
timed by characters instead.

``verify`` reads the words back from ``STEM.words.json`` and measures their
starts against the words Whisper heard.
"""

from __future__ import annotations

import json
import statistics
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from ..errors import VerifyError

if TYPE_CHECKING:  # numpy stays unloaded until the render needs it
    from ..assemble import SentenceTiming
    from ..transcribe import Recognition

WORST_KEPT = 10  # words listed in the report with the largest differences


@dataclass(frozen=True)
class TimedWord:
    text: str  # as written in the transcript, punctuation included
    start_ms: int
    end_ms: int
    speaker: str  # display name
    turn_index: int = -1  # -1 when read back from a words file


def word_starts(s: SentenceTiming) -> tuple[int, ...]:
    """When each written word of *s* starts, strictly increasing inside the sentence.

    The engine's marks when it reported one per word, else the sentence's
    time shared out by characters (as a reader's eye would pace it).  Each
    start is at least 1 ms after the one before and before the sentence
    ends, so that every word has a span and WebVTT's word timestamps, which
    must increase within a cue, are valid.
    """
    words = s.text.split()
    if len(s.word_starts_ms) == len(words):
        starts = list(s.word_starts_ms)
    else:
        weights = [len(w) + 1 for w in words]
        total, acc, starts = sum(weights), 0, []
        for w in weights:
            starts.append(s.start_ms + (s.end_ms - s.start_ms) * acc // total)
            acc += w
    for k in range(1, len(starts)):
        starts[k] = max(starts[k], starts[k - 1] + 1)
    for k in range(len(starts) - 1, -1, -1):
        ceiling = starts[k + 1] - 1 if k + 1 < len(starts) else s.end_ms - 1
        starts[k] = max(s.start_ms, min(starts[k], ceiling))
    return tuple(starts)


def word_ends(s: SentenceTiming, starts: Sequence[int]) -> tuple[int, ...]:
    """When each written word ends: where the next starts, the last at the sentence's end.

    The one place word ends are decided, so that ends an engine reports
    can be taken here when there are some.
    """
    return (*starts[1:], s.end_ms) if starts else ()


def timed_words(sentences: Sequence[SentenceTiming], names: Mapping[str, str]) -> list[TimedWord]:
    """Every written word of the episode, in order, with its span on the final timeline."""
    out: list[TimedWord] = []
    for s in sentences:
        starts = word_starts(s)
        speaker = names.get(s.speaker_id, s.speaker_id)
        out += [TimedWord(text, start, end, speaker, s.turn_index)
                for text, start, end in zip(s.text.split(), starts, word_ends(s, starts), strict=True)]
    return out


def read_words(path: Path) -> list[TimedWord]:
    """The words of a Podcasting 2.0 transcript JSON with one segment per word (``STEM.words.json``)."""
    try:
        data = json.loads(Path(path).read_text(encoding="utf-8"))
        segments = data["segments"]
        words = [TimedWord(str(seg["body"]), round(float(seg["startTime"]) * 1000),
                           round(float(seg["endTime"]) * 1000), str(seg.get("speaker", "")))
                 for seg in segments]
    except FileNotFoundError:
        raise VerifyError(f"word timeline not found: {path}") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise VerifyError(f"cannot read {path}: {exc}") from None
    except (ValueError, KeyError, TypeError, AttributeError):
        raise VerifyError(f"{path} is not a transcript JSON with timed segments") from None
    if not words:
        raise VerifyError(f"{path} has no words")
    return words


@dataclass(frozen=True)
class WordDelta:
    text: str
    start_ms: int  # in the word timeline
    heard_start_ms: int  # where Whisper heard it begin


@dataclass(frozen=True)
class WordTimingResult:
    """How far the timeline's word starts are from where Whisper heard them."""

    source: str  # the words file
    words: int
    heard_right: int  # words whose first token Whisper heard as written: the ones measured
    median_ms: int | None  # of |heard start - timeline start|
    p90_ms: int | None
    max_ms: int | None
    bias_ms: int | None  # median of heard minus timeline: positive when Whisper hears words later
    worst: tuple[WordDelta, ...] = ()


def heard_starts(words: Sequence[TimedWord], heard: Recognition) -> list[int | None]:
    """Per word, where Whisper heard it start, when it heard the word's first token right.

    Uses the verify alignment (Levenshtein over normalised tokens, each
    keeping its time), with each written word as its own reference passage.
    """
    from .. import align as al

    ref = al.reference_tokens([w.text for w in words])
    a = al.align(ref, al.hypothesis_tokens(heard.words))
    out: list[int | None] = [None] * len(words)
    seen: set[int] = set()
    for i, tok in enumerate(ref):
        if tok.turn_index in seen:
            continue  # only a word's first token says where it starts
        seen.add(tok.turn_index)
        if a.correct[i]:
            out[tok.turn_index] = a.hyp[a.ref_to_hyp[i]].start_ms
    return out


def measure(words: Sequence[TimedWord], heard: Recognition, source: str = "") -> WordTimingResult:
    """Median and 90th percentile of |Δ start| over the words Whisper heard right."""
    deltas = [WordDelta(w.text, w.start_ms, h) for w, h in zip(words, heard_starts(words, heard)) if h is not None]
    if not deltas:
        return WordTimingResult(source, len(words), 0, None, None, None, None)
    size = sorted(abs(d.heard_start_ms - d.start_ms) for d in deltas)
    p90 = statistics.quantiles(size, n=10, method="inclusive")[-1] if len(size) > 1 else size[0]
    worst = sorted(deltas, key=lambda d: -abs(d.heard_start_ms - d.start_ms))[:WORST_KEPT]
    return WordTimingResult(source, len(words), len(deltas), round(statistics.median(size)), round(p90),
                            size[-1], round(statistics.median(d.heard_start_ms - d.start_ms for d in deltas)),
                            tuple(worst))
