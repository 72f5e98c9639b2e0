"""Stage 1: transcript text -> ordered speaker turns and chapters.

The text is read by its format's reader (``audio/formats``: plain text,
Markdown, transcription exports, web pages, WebVTT, SRT, Podcasting 2.0
JSON) into paragraphs with labels.  This module decides the rest the same
way for every format: which labels are speakers (``audio/speakers.py``),
the turns and their sentences, the host, and the chapters: the
introduction (with any cold open), then one per host question, or one per
section heading when the transcript has headings.
"""

from __future__ import annotations

import bisect
import codecs
import gc
import itertools
import re
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field, replace

from . import hygiene
from .errors import InputError, ParseError
from .formats import Document, FoundMetadata, read_document
from .formats.base import Label, Paragraph
from .formats.docx import document_kind
from .manifest import Speaker
# (split_sentences, shorten_title and MAX_CHAPTER_TITLE_CHARS are imported from here too)
from .sentences import MAX_CHAPTER_TITLE_CHARS, extend, sentences_of, shorten_title, split_sentences  # noqa: F401
from .speakers import INTRO_TURNS, asks, choose_host, infer_speakers, introduces_show, renumber_diarised

NO_LABELS_WARNING = "no speaker labels found: the whole transcript is read as narration in one voice"
_NARRATOR = Speaker(id="narrator", name="Narrator", labels=(), voice="", role="narrator")

_EMPHASIS_RE = re.compile(r"(?<!\w)[*_]+|[*_]+(?!\w)")


@dataclass(frozen=True)
class Turn:
    index: int
    speaker_id: str
    sentences: tuple[str, ...]
    line_no: int  # 1-based line of the turn's first paragraph
    narration: bool = False
    section_break: bool = False  # a longer pause before this turn (`***` in the transcript)

    @property
    def text(self) -> str:
        return " ".join(self.sentences)


@dataclass(frozen=True)
class Chapter:
    index: int  # 0-based
    title: str
    turn_index: int  # first turn of the chapter


@dataclass(frozen=True)
class SoundCue:
    """A sound the transcript marks but no one speaks: ``(SOUNDBITE OF MUSIC)``, ``[THEME MUSIC]``.

    Kept so that a later stage can play something there (the manifest's
    ``[sound] cues`` say what) or leave a pause; never spoken.
    """

    line_no: int
    kind: str  # "theme", "music", "outro", or "sound" (any other: traffic, a door, an archive clip)
    text: str  # as written, brackets included
    turn_index: int  # it comes before this turn's sentence_index-th sentence; len(turns): after the last turn
    sentence_index: int = 0


@dataclass(frozen=True)
class Decision:
    """Something the parser decided that a person may want to check."""

    line_no: int  # 0: no one line
    message: str
    doubtful: bool = False
    dropped: bool = False  # about text that is not spoken (a stage direction, a sound cue, a footer)


@dataclass(frozen=True)
class ParsedTranscript:
    turns: tuple[Turn, ...]
    chapters: tuple[Chapter, ...]
    speakers: tuple[Speaker, ...]
    metadata: FoundMetadata = field(default_factory=FoundMetadata)
    format: str = "text"
    decisions: tuple[Decision, ...] = ()
    warnings: tuple[str, ...] = ()
    cues: tuple[SoundCue, ...] = ()  # in order of where they come


def decode_text(data: bytes, *, source: str = "transcript") -> str:
    """Bytes -> text: UTF-8 (with or without BOM) or UTF-16 with a BOM.  Documents (PDF, Word, a zip) are refused.

    What no output should carry (control characters, ESC sequences,
    noncharacters, bidi overrides: audio.hygiene) is removed here, once; the
    text returned says what went (``removals``).  A NUL is refused.
    """
    if not data.strip():
        raise InputError(f"{source} is empty")
    if document_kind(data, source) is not None:  # a Word file is read from its bytes (load_episode)
        raise InputError(f"{source} is a Word file: read it with audio.episode.load_episode")
    if data.startswith((b"\xff\xfe", b"\xfe\xff")):
        try:
            text = data.decode("utf-16")
        except UnicodeDecodeError as exc:
            raise InputError(f"{source}: invalid UTF-16 at byte offset {exc.start}") from None
        if "\x00" in text:
            nul = text.index("\x00")
            raise InputError(f"{source} looks binary (NUL at line {text.count(chr(10), 0, nul) + 1}), not text")
        return hygiene.clean(text)
    if b"\x00" in data:
        nul = data.index(b"\x00")
        raise InputError(f"{source} looks binary (NUL byte at offset {nul}), not text")
    try:
        return hygiene.clean(data.decode("utf-8-sig"))
    except UnicodeDecodeError as exc:
        declared = _declared_charset(data)
        if declared is not None:
            try:
                return hygiene.clean(data.decode(declared))
            except UnicodeDecodeError as inner:
                raise InputError(f"{source} is not {declared} as its page declares: invalid byte "
                                 f"0x{data[inner.start]:02x} at byte offset {inner.start}") from None
        raise InputError(f"{source} is not UTF-8: invalid byte 0x{data[exc.start]:02x} at byte offset {exc.start}") from None


# A saved page that is not UTF-8 says what it is in a <meta> near its start (older newsroom sites
# still serve windows-1252); the HTML standard's prescan reads the first 1024 bytes for it.
_META_CHARSET_RE = re.compile(rb"<meta[^>]+charset\s*=\s*[\"']?\s*([A-Za-z0-9_.:-]+)", re.I)
# ...and decodes the Latin-1 and ASCII labels as windows-1252, as every browser does
_AS_WINDOWS_1252 = {"iso8859_1", "ascii", "cp1252"}


def _declared_charset(data: bytes) -> str | None:
    """The charset a page's <meta> declares in its first 1024 bytes (a Python codec name), else None."""
    match = _META_CHARSET_RE.search(data[:1024])
    if match is None:
        return None
    try:
        name = codecs.lookup(match.group(1).decode("ascii")).name
    except LookupError:
        return None
    name = name.replace("-", "_")
    if name in ("utf_8", "utf_8_sig", "utf_16", "utf_16_le", "utf_16_be"):
        return None  # declared UTF-8 but not: the byte that is wrong is what to report
    return "cp1252" if name in _AS_WINDOWS_1252 else name


class _ManifestSpeakers:
    """Labels resolved against a manifest's speakers: a strong label that names none of them is an error."""

    def __init__(self, speakers: tuple[Speaker, ...], paragraphs: tuple[Paragraph, ...]):
        self.speakers = speakers
        self.uses: dict[str, int] = {}
        for p in paragraphs:
            if p.label is not None:
                self.uses[p.label.head] = self.uses.get(p.label.head, 0) + 1
        self._cache: dict[str, Speaker | None] = {}

    def _match(self, head: str) -> Speaker | None:
        h = head.casefold()
        for s in self.speakers:
            if h in {lb.casefold() for lb in s.labels} or h == s.name.casefold() or h == s.id.casefold():
                return s
        words = set(h.split())
        for s in self.speakers:  # long form: "Aaron Zelin" for label "Zelin"
            names = {w.casefold() for lb in (*s.labels, s.name) for w in lb.split()}
            if len(words) > 1 and words & names or len(words) == 1 and h in names:
                return s
        return None

    def resolve(self, label: Label, line_no: int) -> Speaker | None:
        if label.head not in self._cache:
            self._cache[label.head] = self._match(label.head)
        found = self._cache[label.head]
        if found is None and (label.strong or self.uses.get(label.head, 0) > 1):
            known = ", ".join(lb for s in self.speakers for lb in s.labels)
            raise ParseError(f"line {line_no}: label {label.head!r} names no speaker in the manifest (known: {known})")
        return found


def _unmarked(prefix: str) -> str:
    """A label that names no one, as words to speak: "**Note:**" -> "Note:"."""
    return _EMPHASIS_RE.sub("", prefix) if "*" in prefix or "_" in prefix else prefix


def _question_title(turn: Turn) -> str:
    asks = [s for s in turn.sentences if "?" in s[-3:]]
    full = next((s for s in asks if len(s.split(None, 2)) == 3), None)  # three words or more
    return shorten_title(full or (asks or [turn.text])[0])


def _chapters(turns: list[Turn], headings: dict[int, str], host_ids: set[str],
              intro_title: str, overrides: dict[int, str]) -> list[Chapter]:
    starts: list[tuple[int, str]] = []
    if any(index > 0 for index in headings):  # the transcript has sections: a chapter each
        if 0 not in headings:
            starts.append((0, shorten_title(intro_title)))
        starts += sorted((index, shorten_title(title)) for index, title in headings.items())
    else:
        host_turns = [t for t in turns if t.speaker_id in host_ids and not t.narration]
        asking = {t.index for t in host_turns if asks(t.sentences)} or {t.index for t in host_turns}
        # the host's first turn, when it introduces the show, belongs with any cold open before it
        intro = next((t.index for t in host_turns[:1] if t.index < 8 and introduces_show(t.text)), None)
        for turn in turns:
            if turn.index == 0:
                opening = turn.narration or turn.speaker_id not in host_ids or turn.index == intro
                title = headings.get(0) or (intro_title if opening else _question_title(turn))
                starts.append((0, shorten_title(title)))
            elif turn.index in asking and turn.index != intro:
                starts.append((turn.index, _question_title(turn)))
    if overrides:
        starts = [(index, shorten_title(overrides[n + 1]) if n + 1 in overrides else title)
                  for n, (index, title) in enumerate(starts)]
    return [Chapter(n, title, index) for n, (index, title) in enumerate(starts)]  # index, title, turn_index


def parse_transcript(text: str | bytes | Document, *, speakers: tuple[Speaker, ...] | None = None,
                     narrator: str | None = None,
                     chapter_titles: dict[int, str] | None = None,
                     intro_title: str = "Introduction",
                     source: str = "transcript", format: str | None = None) -> ParsedTranscript:
    """Parse *text* (in *format*, else the format detected; bytes: a Word file) into turns and chapters.

    With *speakers* (from a manifest) labels must resolve to them; without,
    speakers are inferred and returned with an empty ``voice`` for the
    caller to assign.  *source* names the file in error messages and hints
    at its format by its extension.
    """
    with _collector_paused():
        if isinstance(text, bytes):
            from .formats.docx import read_docx
            document = read_docx(text, source=source)
        elif isinstance(text, Document):
            document = text
        else:
            document = read_document(text, source=source, format=format)
        return parse_document(document, speakers=speakers,
                              narrator=narrator, chapter_titles=chapter_titles, intro_title=intro_title)


_PAUSE_LOCK = threading.Lock()
_pauses = 0  # parses running with the collector paused


@contextmanager
def _collector_paused() -> Iterator[None]:
    """Hold off the cyclic garbage collector while a transcript is parsed.

    Parsing a 10 MB transcript makes some 10^6 small objects (lines,
    tuples, labels, paragraphs, sentences, turns) that stay alive until it
    ends and form no reference cycles, so the collector's repeated passes
    over them free nothing; they took 15-20% of the parse of the text
    formats (text: 0.84 -> 0.70 s CPU).  Reference counting frees memory
    as usual meanwhile.  The collector is the process's, so parses on
    several threads share one pause: the last to end turns it back on.
    """
    global _pauses
    with _PAUSE_LOCK:
        ours = _pauses > 0 or gc.isenabled()  # off, and not by a parse: the caller has its reasons
        if ours:
            _pauses += 1
            gc.disable()
    try:
        yield
    finally:
        if ours:
            with _PAUSE_LOCK:
                _pauses -= 1
                if not _pauses:
                    gc.enable()


def _dropped_decisions(document: Document) -> list[Decision]:
    out: list[Decision] = []
    notes = [d.line_no for d in document.dropped if d.reason.startswith("show notes")]
    if notes:
        out.append(Decision(notes[0], f"lines {notes[0]}-{notes[-1]}: show notes before the transcript marker, "
                                      "taken as the description (not spoken)", dropped=True))
    for d in document.dropped:
        if not d.reason.startswith(("show notes", "a timestamp")):
            doubtful = d.reason.startswith("page clutter")
            what = f"dropped as {d.reason}" if doubtful else f"{d.reason}, not spoken"
            out.append(Decision(d.line_no, f"{what}: {shorten_title(d.text, 60)}", doubtful, dropped=True))
    return out


def _group(paragraphs: tuple[Paragraph, ...], lookup) -> tuple[list[list], list[tuple[Paragraph, int]]]:
    """``[speaker (None: narration), line, sentences, section break, heading]`` per turn to be, and the
    sound cues, each with the number of sentences before it (in all turns: the same once empty turns go)."""
    raw_turns: list[list] = []
    cues: list[tuple[Paragraph, int]] = []
    count = 0  # sentences so far
    carried_break, carried_heading = False, ""  # from a cue, or a paragraph that was all stage directions
    after_cue = False  # a cue came since the last sentence: it is a boundary, the sentence is not joined across it
    for p in paragraphs:
        if p.cue or not p.text and p.label is None and (p.section_break or p.heading):
            if p.cue:
                cues.append((p, count))
                after_cue = True
            carried_break, carried_heading = carried_break or p.section_break, carried_heading or p.heading
            continue
        speaker = lookup(p) if p.label is not None else None
        text = p.text if speaker is not None or not p.prefix else f"{_unmarked(p.prefix)} {p.text}".rstrip()
        brk, heading = p.section_break or carried_break, p.heading or carried_heading
        carried_break, carried_heading = False, ""
        if raw_turns and not brk and not heading and (speaker is None or speaker is raw_turns[-1][0]):
            sentences = raw_turns[-1][2]  # a paragraph that goes on with the same speaker
            before = len(sentences)
            extend(sentences, text, not after_cue)
            count += len(sentences) - before
        else:
            who = speaker if speaker is not None or not raw_turns else raw_turns[-1][0]
            sentences = sentences_of(text) if text else []
            raw_turns.append([who, p.line_no, sentences, brk, heading])
            count += len(sentences)
        if text:
            after_cue = False
    return raw_turns, cues


def _turns(raw_turns: list[list], decisions: list[Decision]) -> tuple[list[Turn], dict[int, str]]:
    """The turns that have sentences, and the section headings before them (by turn index)."""
    turns: list[Turn] = []
    headings: dict[int, str] = {}
    carried_break, carried_heading = False, ""  # from a label with no text, to the turn after it
    for speaker, line_no, sentences, brk, heading in raw_turns:
        if not sentences:
            if speaker is not None:
                label = speaker.labels[0] if speaker.labels else speaker.name
                decisions.append(Decision(line_no, f"label {label!r} has no text: skipped", True))
            carried_break, carried_heading = carried_break or brk, carried_heading or heading
            continue
        index = len(turns)
        # index, speaker_id, sentences, line_no, narration, section_break (by position: a little faster)
        turns.append(Turn(index, speaker.id if speaker else "", tuple(sentences), line_no, speaker is None,
                          (brk or carried_break) and index > 0))
        if heading or carried_heading:
            headings[index] = heading or carried_heading
        carried_break, carried_heading = False, ""
    if not turns:
        raise ParseError("transcript has labels but no speech")
    return turns, headings


def _sound_cues(cues: list[tuple[Paragraph, int]], turns: list[Turn]) -> tuple[SoundCue, ...]:
    """Each cue before the first sentence after it: (turn, sentence), or (len(turns), 0) after the last."""
    starts = list(itertools.accumulate((len(t.sentences) for t in turns), initial=0))
    out = []
    for p, before in cues:
        index = bisect.bisect_right(starts, before) - 1
        if index >= len(turns):
            out.append(SoundCue(p.line_no, p.cue, p.text, len(turns), 0))
        else:
            out.append(SoundCue(p.line_no, p.cue, p.text, index, before - starts[index]))
    return tuple(out)


def parse_document(document: Document, *, speakers: tuple[Speaker, ...] | None = None,
                   narrator: str | None = None, chapter_titles: dict[int, str] | None = None,
                   intro_title: str = "Introduction") -> ParsedTranscript:
    """Speakers, turns and chapters from a document any reader made."""
    paragraphs = document.paragraphs
    if not any(p.label or p.text and not p.cue for p in paragraphs):
        raise ParseError("transcript has no text")
    decisions = _dropped_decisions(document)
    if speakers is None:
        inference = infer_speakers(paragraphs, document.context)
        by_head = inference.by_head
        decisions += [Decision(line, message, doubtful) for line, message, doubtful in inference.notes]

        def lookup(p: Paragraph) -> Speaker | None:
            return by_head.get(p.label.head.casefold())
    else:
        manifest_speakers = _ManifestSpeakers(speakers, paragraphs)

        def lookup(p: Paragraph) -> Speaker | None:
            return manifest_speakers.resolve(p.label, p.line_no)

    raw_turns, cues = _group(paragraphs, lookup)
    warnings: list[str] = []
    known = list(inference.speakers if speakers is None else speakers)
    if all(t[0] is None for t in raw_turns):
        warnings.append(NO_LABELS_WARNING)
        if speakers is None:
            known = [_NARRATOR]
    turns, headings = _turns(raw_turns, decisions)

    speaking = {t.speaker_id for t in turns}
    if speakers is None:
        first_line = {s.id: next((t[1] for t in raw_turns if t[0] is s), 0) for s in known}
        for s in known:
            if s.id not in speaking and s.id != "narrator":
                decisions.append(Decision(first_line[s.id], f"speaker {s.name!r} has no sentences: left out", True))
        known = [s for s in known if s.id in speaking or s.id == "narrator"]
        if not known:  # labels, but none with text: the narration still needs a voice
            known = [_NARRATOR]
        known, turns = renumber_diarised(known, turns)
        labelled = [(t.speaker_id, t.sentences, t.line_no) for t in turns if not t.narration]
        if labelled:
            opening = [(t.speaker_id if not t.narration else "", t.sentences, t.line_no) for t in turns[:INTRO_TURNS]]
            host_id, why, line = choose_host(labelled, known, opening)
            # (hosts a label names are all hosts: a show may have two)
            known = [replace(s, role="host" if s.id == host_id or s.role == "host" else "guest") for s in known]
            decisions.append(Decision(line, f"host: {next(s.name for s in known if s.id == host_id)} ({why})"))

    narrator_id = narrator or next((s.id for s in known if s.role in ("host", "narrator")), known[0].id)
    host_ids = {s.id for s in known if s.role == "host"} or {known[0].id}
    turns = [replace(t, speaker_id=narrator_id) if t.narration else t for t in turns]
    if speakers is not None:
        speaking = {t.speaker_id for t in turns}
        for s in known:
            if s.id not in speaking:
                decisions.append(Decision(0, f"speaker {s.id!r} in the manifest has no sentences", True))
    chapters = _chapters(turns, headings, host_ids, intro_title, chapter_titles or {})
    sound_cues = _sound_cues(cues, turns)
    decisions += [Decision(c.line_no, f"a sound cue ({c.kind}), not spoken: {shorten_title(c.text, 60)}", dropped=True)
                  for c in sound_cues]
    decisions.sort(key=lambda d: d.line_no)
    return ParsedTranscript(turns=tuple(turns), chapters=tuple(chapters), speakers=tuple(known),
                            metadata=document.metadata, format=document.format, decisions=tuple(decisions),
                            warnings=tuple(warnings), cues=sound_cues)
