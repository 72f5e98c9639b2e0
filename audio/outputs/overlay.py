"""Stage 4: the read-aloud book's timeline: which sentence is heard when, chapter by chapter.

EPUB Media Overlays pair each text element with a clip of the audio
(``<par>``: ``<text>`` and ``<audio clipBegin clipEnd>``).  Reading systems
play only the clips, so audio no clip covers (the lead-in, the pauses,
music) would be skipped: here the clips are contiguous.  Each sentence's
clip runs from its first sound to the next sentence's first sound (the pause
after it is its own), a chapter's first clip from the chapter's start and
the book's last to the end of the MP3.  EPUBCheck checks none of that, so
:func:`check_clips` does, in the render and in the tests.

The times are the render's own timeline (``SentenceTiming``, as the captions
and the words JSON use it) and its chapter marks.
"""

from __future__ import annotations

import bisect
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

from ..errors import OutputError

if TYPE_CHECKING:
    from ..assemble import ChapterMark, SentenceTiming


@dataclass(frozen=True)
class Clip:
    text_id: str  # the element of the content document it highlights
    begin_ms: int
    end_ms: int


@dataclass(frozen=True)
class Passage:
    """One turn's sentences inside one chapter: (element id, text) each."""

    speaker: str  # display name
    sentences: tuple[tuple[str, str], ...]


@dataclass(frozen=True)
class OverlayChapter:
    """A content document and its SMIL: the chapter's text and its clips."""

    number: int  # 1-based, for file names
    title: str
    heading_id: str
    start_ms: int
    end_ms: int
    passages: tuple[Passage, ...]
    clips: tuple[Clip, ...]

    @property
    def duration_ms(self) -> int:
        return self.end_ms - self.start_ms


@dataclass(frozen=True)
class ClipCheck:
    """What is wrong with a sequence of clips over an audio file (all zero when nothing is)."""

    gaps: int = 0  # audio between two clips, before the first or after the last
    overlaps: int = 0
    past_end: int = 0  # a clip ending after the audio does
    empty: int = 0  # a clip that does not end after it begins
    first_problem: str = ""

    @property
    def ok(self) -> bool:
        return not (self.gaps or self.overlaps or self.past_end or self.empty)


def overlay_chapters(sentences: Sequence[SentenceTiming], chapters: Sequence[ChapterMark], duration_ms: int,
                     names: Mapping[str, str], title: str = "") -> tuple[OverlayChapter, ...]:
    """The book's chapters: each sentence in the chapter its first sound falls in, clips contiguous.

    A chapter that holds no sentence (music alone) gets one clip on its
    heading, so that its audio is still played.  Without chapters the book
    is one chapter, titled *title*.
    """
    # A chapter that starts where the next one does holds no sentence and no audio: it has no page.
    marks = sorted(chapters, key=lambda m: m.start_ms)
    ends_of = [*(m.start_ms for m in marks[1:]), duration_ms]
    marks = [m for m, end in zip(marks, ends_of) if end > m.start_ms] or marks[-1:]
    starts = [0, *(m.start_ms for m in marks[1:])] if marks else [0]
    titles = [m.title for m in marks] if marks else [title]
    ends = [*starts[1:], duration_ms]
    groups: list[list[SentenceTiming]] = [[] for _ in starts]
    for s in sorted(sentences, key=lambda s: s.start_ms):
        groups[max(0, bisect.bisect_right(starts, s.start_ms) - 1)].append(s)
    out, n_sentence = [], 0
    for k, (group, start, end) in enumerate(zip(groups, starts, ends, strict=True)):
        heading = f"c{k + 1}"
        ids = [f"s{n_sentence + i + 1}" for i in range(len(group))]
        n_sentence += len(group)
        if group:
            begins = [start, *(s.start_ms for s in group[1:])]
            clips = tuple(Clip(i, b, e) for i, b, e in zip(ids, begins, [*begins[1:], end], strict=True))
        else:
            clips = (Clip(heading, start, end),)
        passages: list[Passage] = []
        turn = None
        for sid, s in zip(ids, group, strict=True):
            if s.turn_index != turn:
                passages.append(Passage(names.get(s.speaker_id, s.speaker_id), ()))
                turn = s.turn_index
            passages[-1] = Passage(passages[-1].speaker, (*passages[-1].sentences, (sid, s.text)))
        out.append(OverlayChapter(k + 1, titles[k], heading, start, end, tuple(passages), clips))
    return tuple(out)


def check_clips(clips: Sequence[Clip], duration_ms: int) -> ClipCheck:
    """Count gaps, overlaps, clips past the end and empty clips, in the order the book plays them."""
    gaps = overlaps = past_end = empty = 0
    first = ""

    def problem(message: str) -> None:
        nonlocal first
        first = first or message

    position = 0
    for clip in clips:
        if clip.begin_ms > position:
            gaps += 1
            problem(f"a gap of {clip.begin_ms - position} ms before {clip.text_id}")
        elif clip.begin_ms < position:
            overlaps += 1
            problem(f"{clip.text_id} begins {position - clip.begin_ms} ms before the clip before it ends")
        if clip.end_ms <= clip.begin_ms:
            empty += 1
            problem(f"{clip.text_id} ends at {clip.end_ms} ms, not after it begins ({clip.begin_ms} ms)")
        if clip.end_ms > duration_ms:
            past_end += 1
            problem(f"{clip.text_id} ends at {clip.end_ms} ms, past the audio's end ({duration_ms} ms)")
        position = max(position, clip.end_ms)
    if position < duration_ms:
        gaps += 1
        problem(f"the last {duration_ms - position} ms are in no clip")
    return ClipCheck(gaps, overlaps, past_end, empty, first)


def checked(chapters: Sequence[OverlayChapter], duration_ms: int) -> Sequence[OverlayChapter]:
    """*chapters*, or an OutputError naming the first clip a reading system would mis-play."""
    result = check_clips([c for ch in chapters for c in ch.clips], duration_ms)
    if not result.ok:
        raise OutputError(f"the read-aloud book's clips are not contiguous: {result.first_problem}")
    return chapters
