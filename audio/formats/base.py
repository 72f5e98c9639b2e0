"""The common form every transcript format is read into (stage 1a's output).

A reader turns its format into a :class:`Document`: paragraphs in order, each
with the speaker label its format gives (or none), the section breaks and
headings between them, the lines it dropped and why, and the metadata it
found.  Stage 1b (``audio/parse.py``) decides from this who speaks, the
turns, the host and the chapters, the same way whatever the format was.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace

from ..errors import ParseError


@dataclass(frozen=True, slots=True)
class Label:
    head: str  # the name part, without an honorific or a role ("SAMUEL ARDEN" of "Mr. SAMUEL ARDEN (Historian):")
    strong: bool  # unmistakably a label: bold, Q/A, capitals, a full name, a name alone on its line
    explicit: bool = False  # the format's structure says so (a voice tag, an export's header line)
    role: str = ""  # as written after the name: "HOST", "BYLINE", "Historian, Lakeside College"


@dataclass(frozen=True, slots=True)
class Paragraph:
    line_no: int  # 1-based, of its first line
    text: str  # the words after the label, cleaned of markup
    label: Label | None = None
    prefix: str = ""  # the label as written ("Zelin:"), spoken before the text if it names no speaker
    section_break: bool = False  # a longer pause before it (`***`, `---`, `* * *`)
    heading: str = ""  # a section heading just before it: a chapter starts here
    cue: str = ""  # not speech but a sound cue of this kind ("theme", "music", "outro", "sound"); text as written


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


TIMESTAMP = r"(?:\d{1,2}:)?\d{1,2}:\d{2}(?:[.,]\d{1,3})?"  # [H:]MM:SS[.mmm], as exports write it


_NO_SPACE_BEFORE = frozenset(",.;:!?)]}…”’%")


def merge_cues(cues, source_label, dropped: list[Dropped] | None = None) -> list[Paragraph]:
    """Consecutive cues of one voice as one paragraph, so a sentence split
    across cues is whole again.

    *cues* yields ``(line_no, voice, text)``; a voice of None means the cue
    names no one and continues the current voice, unless *source_label*
    (the text formats' label reader) finds ``NAME:`` at its start.  Stage
    directions in the text are dropped (into *dropped*); a sound cue ends
    the paragraph and is a paragraph of its own, and the voice goes on after it.
    """
    from .directions import DIRECTION, split
    from .labels import without_honorific

    out: list[Paragraph] = []
    parts: list[str] = []
    start, head, label, prefix = 0, None, None, ""
    resumed = False  # the paragraph being built goes on after a sound cue: no label of its own
    labels: dict[tuple[str, bool, str], Label] = {}  # one Label per voice, not one per cue
    heads: dict[str, Label | None] = {}  # "Grace Liu" -> its label: a caption file repeats a few labels
    for line_no, voice, text in cues:
        new_head, explicit, new_prefix, role = voice, True, "", ""
        if voice is not None and voice[:1].isalpha():  # "<v Dr. Kim>": the name without the honorific, as in text
            new_head, role = without_honorific(voice)
        colon = text.find(":", 0, 130) if voice is None and source_label is not None else -1
        if colon >= 0:
            before = text[:colon]
            if before not in heads:
                found = source_label(before + ":")
                heads[before] = found[0] if found is not None else None
            found_label = heads[before]
            if found_label is not None:  # "Name:" opening a cue is the captioner's convention: a label
                new_head, explicit, new_prefix, role = found_label.head, False, before + ":", found_label.role
                text = text[colon + 1:].strip()
                if text[:2] in ("**", "__") and before[:2] == text[:2]:  # the closing half of "**Name:**"
                    text = text[2:].lstrip()
        if new_head is not None and (new_head != head or not parts and not resumed):
            if parts:
                out.append(Paragraph(start, " ".join(parts), label, prefix))
            label = labels.get((new_head, explicit, role))
            if label is None:
                label = labels[(new_head, explicit, role)] = Label(new_head, True, explicit, role)
            head, parts, start, prefix, resumed = new_head, [], line_no, new_prefix, False
        elif not parts:
            start = line_no
        pieces = split(text) if text else None
        for piece in (text,) if pieces is None else pieces:
            if isinstance(piece, tuple):
                kind, written, _ = piece
                if kind == DIRECTION:
                    if dropped is not None:
                        dropped.append(Dropped(line_no, written, "a stage direction"))
                    continue
                if parts:
                    out.append(Paragraph(start, " ".join(parts), label, prefix))
                    parts, label, prefix, resumed = [], None, "", True
                out.append(Paragraph(line_no, written, cue=kind))
                start = line_no
                continue
            if pieces is not None:
                piece = " ".join(piece.split())
            if piece:
                if not parts:
                    start = line_no
                if parts and piece[0] in _NO_SPACE_BEFORE:  # word-level segments: punctuation as its own segment
                    parts[-1] += piece
                else:
                    parts.append(piece)
    if parts:
        out.append(Paragraph(start, " ".join(parts), label, prefix))
    return out
