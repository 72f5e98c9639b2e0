"""Stage 6a: caption cues from the render's sentence timeline.

A cue is at most two lines of at most 42 characters and at most about 7 s
(the usual caption conventions).  A sentence longer than that is cut at word
boundaries; each piece starts where its first word starts (the engine's
word marks, or for clips without them a time shared out by characters: see
``wordtiming.word_starts``).  Everything is timed from the actual rendered
audio.  WebVTT cues also carry a timestamp before each word after the first,
so that players which support it can highlight words as they are spoken.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

from .wordtiming import word_starts

if TYPE_CHECKING:  # numpy stays unloaded until the render needs it
    from ..assemble import SentenceTiming

MAX_LINE_CHARS = 42
MAX_LINES = 2
MAX_CUE_MS = 7000


@dataclass(frozen=True)
class Cue:
    index: int
    start_ms: int
    end_ms: int
    speaker: str
    text: str
    turn_index: int
    first_of_turn: bool
    word_starts_ms: tuple[int, ...] = ()  # one per word of text, strictly increasing

    @property
    def lines(self) -> list[str]:
        return wrap(self.text)


def wrap(text: str, width: int = MAX_LINE_CHARS) -> list[str]:
    """Greedy word wrap; a word longer than *width* gets a line of its own."""
    lines: list[str] = []
    for word in text.split():
        if lines and len(lines[-1]) + 1 + len(word) <= width:
            lines[-1] += " " + word
        else:
            lines.append(word)
    return lines


def _pieces(words: list[str], max_pieces_chars: int) -> list[list[str]]:
    """Split words into runs that each wrap into at most MAX_LINES lines."""
    pieces: list[list[str]] = []
    for word in words:
        if pieces and len(wrap(" ".join(pieces[-1] + [word]))) <= MAX_LINES \
                and len(" ".join(pieces[-1] + [word])) <= max_pieces_chars:
            pieces[-1].append(word)
        else:
            pieces.append([word])
    return pieces


def _balanced(words: list[str], duration_ms: int) -> list[list[str]]:
    """Pieces that fit the line limits and the duration limit, evenly sized."""
    total = len(" ".join(words))
    parts = max(1, -(-duration_ms // MAX_CUE_MS))
    while True:
        pieces = _pieces(words, max(1, -(-total // parts)) + 8)
        if len(pieces) >= min(parts, len(words)):
            return pieces
        parts += 1


def build_cues(sentences: Sequence[SentenceTiming], names: dict[str, str]) -> list[Cue]:
    cues: list[Cue] = []
    for s in sentences:
        name = names.get(s.speaker_id, s.speaker_id)
        words = s.text.split()
        duration = s.end_ms - s.start_ms
        first = s.sentence_index == 0
        # Leave room in a turn's first cue for the "Name:" that SRT puts there.
        pieces = _balanced([f"{name}:", *words] if first else words, duration)
        if first:
            pieces[0] = pieces[0][1:]
            if not pieces[0]:
                pieces.pop(0)
        starts = word_starts(s)
        first_word = 0
        for n, piece in enumerate(pieces):
            words_ms = starts[first_word:first_word + len(piece)]
            first_word += len(piece)
            end = starts[first_word] if n + 1 < len(pieces) else s.end_ms
            cues.append(Cue(index=len(cues) + 1, start_ms=words_ms[0], end_ms=end, speaker=name,
                            text=" ".join(piece), turn_index=s.turn_index, first_of_turn=first and n == 0,
                            word_starts_ms=words_ms))
    return cues


def timestamp(ms: int, sep: str = ".") -> str:
    hours, rest = divmod(ms, 3_600_000)
    minutes, rest = divmod(rest, 60_000)
    seconds, millis = divmod(rest, 1000)
    return f"{hours:02d}:{minutes:02d}:{seconds:02d}{sep}{millis:03d}"


def _vtt_escape(text: str) -> str:
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def vtt_payload(cue: Cue) -> str:
    """A cue's text as WebVTT: its voice span, and a timestamp before each word after the first.

    WebVTT wants each timestamp after the cue's start, after the one before
    and before the cue's end; a word whose start is not (a timeline without
    word marks can give two words one start) goes without, and is then
    highlighted with the word before it.
    """
    starts = iter(cue.word_starts_ms if len(cue.word_starts_ms) == len(cue.text.split()) else ())
    previous = cue.start_ms
    lines = []
    for line in cue.lines:
        words = []
        for word in line.split():
            at = next(starts, None)
            if at is not None and previous < at < cue.end_ms:
                words.append(f"<{timestamp(at)}>{_vtt_escape(word)}")
                previous = at
            else:
                words.append(_vtt_escape(word))
        lines.append(" ".join(words))
    return f"<v {_vtt_escape(cue.speaker)}>" + "\n".join(lines) + "</v>"


def to_vtt(cues: Sequence[Cue]) -> str:
    """WebVTT with ``<v Name>`` voice spans (Apple takes speaker names from them) and word timestamps."""
    blocks = ["WEBVTT\n"]
    for cue in cues:
        blocks.append(f"{cue.index}\n{timestamp(cue.start_ms)} --> {timestamp(cue.end_ms)}\n{vtt_payload(cue)}\n")
    return "\n".join(blocks)


def to_srt(cues: Sequence[Cue]) -> str:
    """SubRip, with ``Name:`` before the first cue of each speaker's turn."""
    blocks = []
    for cue in cues:
        lines = wrap(f"{cue.speaker}: {cue.text}") if cue.first_of_turn else cue.lines
        blocks.append(f"{cue.index}\n{timestamp(cue.start_ms, ',')} --> {timestamp(cue.end_ms, ',')}\n"
                      + "\n".join(lines) + "\n")
    return "\n".join(blocks)


def chapters_vtt(chapters) -> str:
    """A WebVTT chapters track for the HTML player."""
    blocks = ["WEBVTT\n"]
    for ch in chapters:
        blocks.append(f"{ch.element_id}\n{timestamp(ch.start_ms)} --> {timestamp(ch.end_ms)}\n"
                      f"{_vtt_escape(ch.title)}\n")
    return "\n".join(blocks)
