"""Stage 6a: caption cues from the render's sentence timeline.

A cue is at most two lines of at most 42 characters and at most about 7 s
(the usual caption conventions).  A sentence longer than that is cut at word
boundaries; each piece starts where the engine said its first word starts
(espeak-ng word events), or, for clips without them, at a time shared out
by characters.  Everything is timed from the actual rendered audio.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:  # numpy stays unloaded until the render needs it
    from .assemble import SentenceTiming

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
        starts = _piece_starts(s, pieces)
        for n, piece in enumerate(pieces):
            end = starts[n + 1] if n + 1 < len(pieces) else s.end_ms
            cues.append(Cue(index=len(cues) + 1, start_ms=starts[n], end_ms=end, speaker=name,
                            text=" ".join(piece), turn_index=s.turn_index, first_of_turn=first and n == 0))
    return cues


def _piece_starts(s: SentenceTiming, pieces: list[list[str]]) -> list[int]:
    """When each piece of a sentence starts: at its first word's sound when
    the engine reported word times, else shared out by characters."""
    if len(s.word_starts_ms) == len(s.text.split()):
        first_words = [0]
        for piece in pieces[:-1]:
            first_words.append(first_words[-1] + len(piece))
        return [s.word_starts_ms[i] for i in first_words]
    weights = [len(" ".join(p)) + 1 for p in pieces]
    total = sum(weights)
    starts, acc = [s.start_ms], 0
    for w in weights[:-1]:
        acc += w
        starts.append(s.start_ms + round((s.end_ms - s.start_ms) * acc / total))
    return starts


def timestamp(ms: int, sep: str = ".") -> str:
    hours, rest = divmod(ms, 3_600_000)
    minutes, rest = divmod(rest, 60_000)
    seconds, millis = divmod(rest, 1000)
    return f"{hours:02d}:{minutes:02d}:{seconds:02d}{sep}{millis:03d}"


def _vtt_escape(text: str) -> str:
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def to_vtt(cues: Sequence[Cue]) -> str:
    """WebVTT with ``<v Name>`` voice spans (Apple takes speaker names from them)."""
    blocks = ["WEBVTT\n"]
    for cue in cues:
        lines = "\n".join(_vtt_escape(line) for line in cue.lines)
        blocks.append(f"{cue.index}\n{timestamp(cue.start_ms)} --> {timestamp(cue.end_ms)}\n"
                      f"<v {_vtt_escape(cue.speaker)}>{lines}</v>\n")
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
