"""Stage 3a: validated clips + pauses -> one mono signal and its timeline.

Clips are trimmed of the engine's own leading and trailing silence so that
the pauses we add are the pauses a listener hears, and so that each
sentence's start time is where its first sound is (captions, chapter marks
and the Whisper check all rely on that).  Engines speak at different rates
(espeak-ng and Piper 22.05 kHz, hibari 24 kHz): the episode takes the
highest, and other clips go through FFmpeg's band-limited resampler.  The
signal is allocated once and each clip copied into it; nothing here holds
several copies of the episode.
"""

from __future__ import annotations

import logging
import wave
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np

from .engines.clip import read_marks, resampled, to_int16
from .errors import SynthesisError
from .manifest import Pauses
from .parse import Chapter, Turn

log = logging.getLogger(__name__)

TRIM_THRESHOLD = 200  # of 32767, about -44 dBFS: below this is the engine's silence
TRIM_MARGIN_MS = 15  # keep a little around the speech so consonants are not clipped
LEAD_IN_MS = 300  # silence before the first word
TAIL_MS = 800  # silence after the last word
CHAPTER_LEAD_MS = 250  # a chapter mark sits this far before its first word (inside the pause)


@dataclass(frozen=True)
class SentenceTiming:
    turn_index: int
    sentence_index: int  # within the turn
    speaker_id: str
    text: str  # written form (captions, reference)
    start_ms: int  # first sound
    end_ms: int  # last sound
    # when each written word starts, from the engine's word events; empty
    # when the clip carries none (then captions time words by characters)
    word_starts_ms: tuple[int, ...] = ()


@dataclass(frozen=True)
class ChapterMark:
    index: int
    element_id: str
    title: str
    start_ms: int
    end_ms: int
    toc: bool = True  # False: music ("Intro", "Outro"), left out of a table of contents (Podcasting 2.0 toc)


@dataclass(frozen=True)
class Assembly:
    samples: np.ndarray  # int16 mono: half the memory of float32 for an hour-long episode
    rate_hz: int
    sentences: tuple[SentenceTiming, ...]
    turn_starts: tuple[int, ...] = ()  # sample where each turn's pause before it begins (the first: 0)
    spans: tuple[tuple[int, int], ...] = ()  # per sentence: its first and past-its-last sample of sound

    @property
    def duration_ms(self) -> int:
        return round(len(self.samples) * 1000 / self.rate_hz)


def _read(clip: Path, rate: int) -> tuple[np.ndarray, int]:
    """A clip's samples at the episode's *rate*, and the rate it was spoken at."""
    with wave.open(str(clip), "rb") as w:
        clip_rate = w.getframerate()
        samples = np.frombuffer(w.readframes(w.getnframes()), dtype="<i2")
    if clip_rate != rate:
        samples = to_int16(resampled(samples.astype(np.float32) / 32768.0, clip_rate, rate))
    return samples, clip_rate


def _trimmed(samples: np.ndarray, rate: int) -> tuple[np.ndarray, int]:
    """The clip without the engine's silence, and the sample it now starts at."""
    loud = np.flatnonzero(np.abs(samples.astype(np.int32)) >= TRIM_THRESHOLD)
    if loud.size == 0:
        return samples, 0
    margin = rate * TRIM_MARGIN_MS // 1000
    first = max(0, loud[0] - margin)
    return samples[first: loud[-1] + margin + 1], first


def _word_starts(clip: Path, offsets: Sequence[int], first_sample: int, kept: int, rate: int,
                 start_ms: int, clip_rate: int) -> tuple[int, ...]:
    """Episode times of a sentence's written words, from the clip's word marks.

    *offsets* are where the written words start in the spoken text; a word
    that has no mark of its own (a respelling split it, or espeak-ng merged
    it with its neighbour) is placed between the marks around it.
    """
    marks = read_marks(clip)
    if not marks or not offsets:
        return ()
    # espeak-ng also reports a word at position 0 at some clause starts and
    # one at the very end: keep only marks that move forward in the text
    kept_marks = [marks[0]]
    for char, sample in marks[1:]:
        if char > kept_marks[-1][0] and sample >= kept_marks[-1][1]:
            kept_marks.append((char, sample))
    chars = np.array([m[0] for m in kept_marks], dtype=float)
    samples = np.array([m[1] for m in kept_marks], dtype=float) * rate / clip_rate
    at = np.interp(np.asarray(offsets, dtype=float), chars, samples) - first_sample
    at = np.clip(at, 0, kept)
    at[0] = 0  # the sentence starts at its first sound
    return tuple(int(start_ms + a * 1000 // rate) for a in np.maximum.accumulate(at))


def _pause_before(turn: Turn, sentence_index: int, chapter_turns: set[int], pauses: Pauses) -> int:
    if sentence_index > 0:
        return pauses.sentence_pause_ms
    if turn.index in chapter_turns or turn.section_break:
        return pauses.chapter_pause_ms
    return pauses.turn_pause_ms


def _allocate(clips: Sequence[Path], pauses_ms: Sequence[int], tail_ms: int) -> tuple[int, np.ndarray]:
    """The episode's rate (the highest of its clips') and room for all of it, from the clips' WAV headers."""
    headers = []
    for clip in clips:
        try:
            with wave.open(str(clip), "rb") as w:
                headers.append((w.getframerate(), w.getnframes()))
        except (OSError, EOFError, wave.Error) as exc:
            raise SynthesisError(f"clip {Path(clip).name} cannot be read: {exc}") from None
    rate = max(r for r, _ in headers)
    bound = sum(rate * pause_ms // 1000 + -(-frames * rate // clip_rate) + 1
                for (clip_rate, frames), pause_ms in zip(headers, pauses_ms, strict=True))
    return rate, np.empty(bound + rate * tail_ms // 1000, dtype="<i2")


def _pauses_before(turns: Sequence[Turn], chapters: Sequence[Chapter], pauses: Pauses,
                   room_ms: Mapping[int, int] | None) -> list[int]:
    chapter_turns = {c.turn_index for c in chapters}
    pause_before = [_pause_before(turn, s_index, chapter_turns, pauses)
                    for turn in turns for s_index in range(len(turn.sentences))]
    pause_before[:1] = [LEAD_IN_MS]
    for n, ms in (room_ms or {}).items():
        pause_before[n] = max(pause_before[n], ms)
    return pause_before


class Assembler:
    """The assembly turn by turn, in order: what :func:`assemble` joins, and what a render that
    masters early turns while later ones are spoken takes one turn at a time (audio.streaming).

    ``turn(k, clips)`` gives turn *k*'s samples, in pieces to be put end to
    end (the pause before each of its sentences, then the sentence's
    trimmed clip; the last turn also has the tail), and keeps its timeline; :meth:`assembly` is the whole once every
    turn has been given.
    """

    def __init__(self, turns: Sequence[Turn], chapters: Sequence[Chapter], pauses: Pauses,
                 word_offsets: Sequence[Sequence[int]] | None, rate_hz: int, *,
                 room_ms: Mapping[int, int] | None = None, tail_ms: int = TAIL_MS):
        self.turns, self.rate_hz, self.tail_ms = list(turns), rate_hz, tail_ms
        count = sum(len(t.sentences) for t in turns)
        self.pause_before = _pauses_before(turns, chapters, pauses, room_ms)
        self.offsets = list(word_offsets or [()] * count)
        self.first_clip = [0]
        for turn in turns:
            self.first_clip.append(self.first_clip[-1] + len(turn.sentences))
        self.timings: list[SentenceTiming] = []
        self.spans: list[tuple[int, int]] = []
        self.turn_starts: list[int] = []
        self.cursor = 0  # samples so far
        self.highest_clip_rate_hz = 0  # of the clips given so far (each resampled to rate_hz)

    def turn(self, k: int, clips: Sequence[Path]) -> Iterator[np.ndarray]:
        turn, rate = self.turns[k], self.rate_hz
        if k != len(self.turn_starts) or len(clips) != len(turn.sentences):
            raise ValueError(f"turn {k} given out of order or with {len(clips)} clips")
        self.turn_starts.append(self.cursor)
        for s_index, (text, clip) in enumerate(zip(turn.sentences, clips, strict=True)):
            n = self.first_clip[k] + s_index
            samples, clip_rate = _read(clip, rate)
            self.highest_clip_rate_hz = max(self.highest_clip_rate_hz, clip_rate)
            start = self.cursor + rate * self.pause_before[n] // 1000
            speech, first_sample = _trimmed(samples, rate)
            words = _word_starts(clip, self.offsets[n], first_sample, len(speech), rate, start * 1000 // rate,
                                 clip_rate)
            self.timings.append(SentenceTiming(turn.index, s_index, turn.speaker_id, text,
                                               start_ms=start * 1000 // rate,
                                               end_ms=(start + len(speech)) * 1000 // rate, word_starts_ms=words))
            self.spans.append((start, start + len(speech)))
            pause, self.cursor = start - self.cursor, start + len(speech)
            yield np.zeros(pause, dtype="<i2")
            yield speech  # one clip at a time: a caller copying them into place holds no more
        if k == len(self.turns) - 1:
            tail = rate * self.tail_ms // 1000
            self.cursor += tail
            yield np.zeros(tail, dtype="<i2")

    def assembly(self, samples: np.ndarray) -> Assembly:
        log.info("assembled %d sentences, %.1f s at %d Hz", len(self.timings), self.cursor / self.rate_hz,
                 self.rate_hz)
        return Assembly(samples=samples, rate_hz=self.rate_hz, sentences=tuple(self.timings),
                        turn_starts=tuple(self.turn_starts), spans=tuple(self.spans))


def assemble(turns: Sequence[Turn], chapters: Sequence[Chapter], clips: Sequence[Path],
             pauses: Pauses, word_offsets: Sequence[Sequence[int]] | None = None, *,
             room_ms: Mapping[int, int] | None = None, tail_ms: int = TAIL_MS) -> Assembly:
    """Join one clip per sentence (in turn order) with pauses between them.

    *word_offsets* (one sequence per clip: where each written word starts in
    the text the engine read) lets the timeline say when each word starts.
    *room_ms* lengthens the pause before some sentences (by their index in
    the episode), and *tail_ms* is the silence after the last: where the
    sound layer plays music (audio.sound.plan).
    """
    expected = sum(len(t.sentences) for t in turns)
    if len(clips) != expected:
        raise SynthesisError(f"expected {expected} clips, got {len(clips)}")
    # The episode is allocated once, as long as the clips untrimmed and the
    # pauses make it, and each clip is copied into place and let go: the
    # signal never exists twice, and the pages past its end (the engine's
    # trimmed silence) are never written, so never resident.
    rate, signal = _allocate(clips, _pauses_before(turns, chapters, pauses, room_ms), tail_ms)
    assembler = Assembler(turns, chapters, pauses, word_offsets, rate, room_ms=room_ms, tail_ms=tail_ms)
    position = 0
    for k in range(len(turns)):
        for piece in assembler.turn(k, clips[assembler.first_clip[k]:assembler.first_clip[k + 1]]):
            signal[position:position + len(piece)] = piece
            position += len(piece)
    return assembler.assembly(signal[:position])


def chapter_marks(chapters: Sequence[Chapter], sentences: Sequence[SentenceTiming],
                  duration_ms: int) -> tuple[ChapterMark, ...]:
    """Chapter start/end times from the sentence timeline.

    A chapter starts a little before its first word (never before the end of
    the previous chapter's speech); the first starts at 0; each ends where
    the next starts and the last at the end of the audio.
    """
    first_sentence = {}
    last_end_before = {}
    previous_end = 0
    for s in sentences:
        if s.sentence_index == 0 and s.turn_index not in first_sentence:
            first_sentence[s.turn_index] = s.start_ms
            last_end_before[s.turn_index] = previous_end
        previous_end = s.end_ms
    starts = []
    for n, ch in enumerate(chapters):
        if n == 0:
            starts.append(0)
        else:
            word = first_sentence[ch.turn_index]
            starts.append(max(last_end_before[ch.turn_index], word - CHAPTER_LEAD_MS))
    ends = [*starts[1:], duration_ms]
    return tuple(ChapterMark(index=ch.index, element_id=f"chp{ch.index}", title=ch.title,
                             start_ms=s, end_ms=e)
                 for ch, s, e in zip(chapters, starts, ends, strict=True))


def moved(sentences: Sequence[SentenceTiming], turn_starts_ms: Sequence[int],
          new_starts_ms: Sequence[int]) -> tuple[SentenceTiming, ...]:
    """The timeline with each turn moved from where it was assembled to where it is heard."""
    order: dict[int, int] = {}
    for s in sentences:
        order.setdefault(s.turn_index, len(order))
    out = []
    for s in sentences:
        k = order[s.turn_index]
        delta = new_starts_ms[k] - turn_starts_ms[k]
        out.append(replace(s, start_ms=s.start_ms + delta, end_ms=s.end_ms + delta,
                           word_starts_ms=tuple(w + delta for w in s.word_starts_ms)))
    return tuple(out)
