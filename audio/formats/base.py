"""The common form every transcript format is read into (stage 1a's output).

A reader turns its format into a :class:`Document`: paragraphs in order, each
with the speaker label its format gives (or none), the section breaks and
headings between them, the lines it dropped and why, and the metadata it
found.  Stage 1b (``audio/parse.py``) decides from this who speaks, the
turns, the host and the chapters, the same way whatever the format was.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field, replace

from ..errors import ParseError


@dataclass(frozen=True, slots=True)
class Label:
    head: str  # the name part, before any ", role"
    strong: bool  # unmistakably a label: bold, Q/A, capitals, a full name, a name alone on its line
    explicit: bool = False  # the format's structure says so (a voice tag, an export's header line)


@dataclass(frozen=True, slots=True)
class Paragraph:
    line_no: int  # 1-based, of its first line
    text: str  # the words after the label, cleaned of markup
    label: Label | None = None
    prefix: str = ""  # the label as written ("Zelin:"), spoken before the text if it names no speaker
    section_break: bool = False  # a longer pause before it (`***`, `---`, `* * *`)
    heading: str = ""  # a section heading just before it: a chapter starts here


@dataclass(frozen=True, slots=True)
class Dropped:
    line_no: int
    text: str
    reason: str  # "page clutter (a link line)", "timestamp", "footer"...


@dataclass(frozen=True)
class FoundMetadata:
    """Episode metadata a transcript carries; empty strings where it says nothing."""

    title: str = ""
    show: str = ""
    author: str = ""
    date: str = ""  # ISO 8601
    description: str = ""
    language: str = ""
    episode_number: int = 0
    origins: tuple[tuple[str, str], ...] = ()  # (field, where it was found), for `init` and `inspect`

    def origin(self, name: str) -> str:
        return next((where for key, where in self.origins if key == name), "")

    def merged(self, **found: tuple[object, str]) -> FoundMetadata:
        """A copy with fields this one lacks filled: name=(value, where)."""
        changes, origins = {}, list(self.origins)
        for name, (value, where) in found.items():
            if value and not getattr(self, name):
                changes[name] = value
                origins.append((name, where))
        return replace(self, **changes, origins=tuple(origins)) if changes else self


@dataclass(frozen=True)
class Document:
    format: str  # "text", "markdown", "webvtt", "srt", "podcast-json"; "+"-joined features after it
    paragraphs: tuple[Paragraph, ...]
    dropped: tuple[Dropped, ...] = ()
    metadata: FoundMetadata = field(default_factory=FoundMetadata)
    context: str = ""  # text read but not spoken (show notes), where full names may be introduced


def refuse(source: str, line_no: int, message: str) -> ParseError:
    return ParseError(f"{source}: line {line_no}: {message}")


# Sounds and timestamps that transcribers and captioners write in brackets:
# never speech.  Other bracketed words ("[Iranian]", an editor's insertion)
# are the speaker's meaning and stay.
_NOISE_WORDS = (r"inaudible|unintelligible|indistinct|crosstalk|cross-talk|overlapping(?: speech)?|overtalk"
                r"|laugh(?:s|ter|ing)?|chuckl(?:es?|ing)|giggl(?:es?|ing)|sighs?|cough(?:s|ing)?|clears throat"
                r"|applause|cheer(?:s|ing)|music(?: playing| plays| fades| ends)?|theme music|silence|pause"
                r"|noise|background noise|static|beep|phone rings|foreign language|speaking foreign language"
                r"|upbeat music|dramatic music|soft music")
TIMESTAMP = r"(?:\d{1,2}:)?\d{1,2}:\d{2}(?:[.,]\d{1,3})?"  # [H:]MM:SS[.mmm], as exports write it
# One leading bracket, so that the regex engine skips to brackets instead
# of trying the pattern at every character of a 10 MB transcript.
_NOISE_RE = re.compile(rf"[\[(](?:(?:{_NOISE_WORDS})(?:[ ,:-]+{TIMESTAMP})?|{TIMESTAMP})[\])]", re.I)
_MUSIC_RE = re.compile(r"♪[^♪\n]*♪|♪")


def strip_noise(text: str) -> str:
    """*text* without sound descriptions, bracketed timestamps and music notes."""
    n = m = 0
    if "[" in text or "(" in text:
        text, n = _NOISE_RE.subn("", text)
    if "♪" in text:
        text, m = _MUSIC_RE.subn("", text)
    return " ".join(text.split()) if n or m else text


_NO_SPACE_BEFORE = frozenset(",.;:!?)]}…”’%")


def merge_cues(cues, source_label) -> list[Paragraph]:
    """Consecutive cues of one voice as one paragraph, so a sentence split
    across cues is whole again.

    *cues* yields ``(line_no, voice, text)``; a voice of None means the cue
    names no one and continues the current voice, unless *source_label*
    (the text formats' label reader) finds ``NAME:`` at its start.
    """
    out: list[Paragraph] = []
    parts: list[str] = []
    start, head, label, prefix = 0, None, None, ""
    labels: dict[tuple[str, bool], Label] = {}  # one Label per voice, not one per cue
    heads: dict[str, str | None] = {}  # "Grace Liu" -> its head: a caption file repeats a few labels
    for line_no, voice, text in cues:
        new_head, explicit, new_prefix = voice, True, ""
        colon = text.find(":", 0, 130) if voice is None and source_label is not None else -1
        if colon >= 0:
            before = text[:colon]
            if before not in heads:
                found = source_label(before + ":")
                heads[before] = found[0].head if found is not None else None
            if heads[before] is not None:  # "Name:" opening a cue is the captioner's convention: a label
                new_head, explicit, new_prefix = heads[before], False, before + ":"
                text = text[colon + 1:].strip()
                if text[:2] in ("**", "__") and before[:2] == text[:2]:  # the closing half of "**Name:**"
                    text = text[2:].lstrip()
        if new_head is not None and (new_head != head or not parts):
            if parts:
                out.append(Paragraph(start, " ".join(parts), label, prefix))
            label = labels.get((new_head, explicit))
            if label is None:
                label = labels[(new_head, explicit)] = Label(new_head, True, explicit)
            head, parts, start, prefix = new_head, [], line_no, new_prefix
        elif not parts:
            start = line_no
        if text:
            if parts and text[0] in _NO_SPACE_BEFORE:  # word-level segments: punctuation as its own segment
                parts[-1] += text
            else:
                parts.append(text)
    if parts:
        out.append(Paragraph(start, " ".join(parts), label, prefix))
    return out
