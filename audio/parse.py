"""Stage 1: transcript text -> ordered speaker turns and chapters.

Labels are recognised by shape, not by a fixed list: ``VOA:``, ``Zelin:``,
``Aaron Zelin, Washington Institute ... senior fellow:``, ``JOHN SMITH:``,
``Q:``/``A:`` and ``**Name:**``.  A colon inside an ordinary sentence is not a
label because a label's head must look like a name (every word capitalised).
Without a manifest, a one-word head only counts as a speaker when it is
used more than once or is unmistakably a label (capitals, bold, Q/A, a
full name of two or three words), so a stray ``Note:`` stays text.
"""

from __future__ import annotations

import logging
import re
from dataclasses import dataclass

from .errors import InputError, ParseError
from .manifest import Speaker

log = logging.getLogger(__name__)

MAX_CHAPTER_TITLE_CHARS = 50  # longer titles broke chapters in Apple Podcasts

_LABEL_RE = re.compile(
    r"^\s*(?P<bold>\*\*|__)?(?P<label>[^:\n*]{1,120}?)(?:\*\*|__)?\s*:(?:\s*(?:\*\*|__))?(?:\s+|$)(?P<rest>.*)$",
    re.S)
_NAME_WORD_RE = re.compile(r"^(?:[A-Z0-9][\w.'’\-]*|de|van|von|al|bin|da|di|del|la|le)$")
_QA = {"Q", "A"}
_ABBREV = {"Mr.", "Mrs.", "Ms.", "Dr.", "St.", "Jr.", "Sr.", "Prof.", "Gen.", "Col.", "Lt.", "vs.",
           "e.g.", "i.e.", "No.", "Sen.", "Rep.", "Gov."}
_SENTENCE_END_RE = re.compile(r"[.!?…][\"'”’)\]]*(?=\s+\S)")


@dataclass(frozen=True)
class Turn:
    index: int
    speaker_id: str
    sentences: tuple[str, ...]
    line_no: int  # 1-based line of the turn's first paragraph
    narration: bool = False

    @property
    def text(self) -> str:
        return " ".join(self.sentences)


@dataclass(frozen=True)
class Chapter:
    index: int  # 0-based
    title: str
    turn_index: int  # first turn of the chapter


@dataclass(frozen=True)
class ParsedTranscript:
    turns: tuple[Turn, ...]
    chapters: tuple[Chapter, ...]
    speakers: tuple[Speaker, ...]


@dataclass(frozen=True)
class _Label:
    head: str  # the name part, before any ", role"
    strong: bool  # unmistakably a label (bold, Q/A, capitals, long form)


def decode_text(data: bytes, *, source: str = "transcript") -> str:
    """Bytes -> text: UTF-8 (with or without BOM) or UTF-16 with a BOM."""
    if not data.strip():
        raise InputError(f"{source} is empty")
    if data.startswith((b"\xff\xfe", b"\xfe\xff")):
        try:
            return data.decode("utf-16")
        except UnicodeDecodeError as exc:
            raise InputError(f"{source}: invalid UTF-16 at byte offset {exc.start}") from None
    if b"\x00" in data:
        nul = data.index(b"\x00")
        raise InputError(f"{source} looks binary (NUL byte at offset {nul}), not text")
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise InputError(f"{source} is not UTF-8: invalid byte 0x{data[exc.start]:02x} at byte offset {exc.start}") from None


def _label_of(paragraph: str) -> tuple[_Label, str] | None:
    match = _LABEL_RE.match(paragraph)
    if not match:
        return None
    label = match.group("label").strip()
    head, _, role = label.partition(",")
    head = head.strip()
    words = head.split()
    if not words or len(words) > 5 or len(head) > 40:
        return None
    if not all(_NAME_WORD_RE.match(w) for w in words) or not words[0][0].isupper() and not words[0][0].isdigit():
        return None
    if role and (len(role) > 100 or not role.strip()):
        return None
    rest = match.group("rest").strip()
    # a name alone on its line, before the text, is a label whatever its case
    strong = (bool(match.group("bold")) or head in _QA or (head.isupper() and len(head) > 1)
              or bool(role) or not rest or len(words) in (2, 3))
    return _Label(head=head, strong=strong), rest


def _paragraphs(text: str) -> list[tuple[int, str]]:
    """Non-empty paragraphs with their 1-based line numbers.

    One paragraph a line, unless the file separates paragraphs with blank
    lines, in which case wrapped lines of a block are joined (a line that
    starts with a label always starts a paragraph).
    """
    lines = text.replace("\r\n", "\n").replace("\r", "\n").split("\n")
    blank_separated = any(not ln.strip() for ln in lines[1:-1])
    out: list[tuple[int, str]] = []
    joinable = False
    for n, line in enumerate(lines, 1):
        stripped = line.strip()
        if not stripped:
            joinable = False
            continue
        if blank_separated and joinable and _label_of(stripped) is None:
            out[-1] = (out[-1][0], out[-1][1] + " " + stripped)
        else:
            out.append((n, stripped))
        joinable = True
    return out


def split_sentences(paragraph: str) -> list[str]:
    """Split a paragraph at sentence ends, keeping abbreviations whole.

    A stop only ends a sentence when the next word does not start in lower
    case ("a U.S. drone strike") and the word is not a title ("Dr. Kim").
    """
    paragraph = " ".join(paragraph.split())
    sentences: list[str] = []
    start = 0
    for match in _SENTENCE_END_RE.finditer(paragraph):
        following = paragraph[match.end():].lstrip()
        last_word = paragraph[start:match.end()].split()[-1]
        if following[:1].islower() or last_word in _ABBREV:
            continue
        sentences.append(paragraph[start:match.end()].strip())
        start = match.end()
    tail = paragraph[start:].strip()
    if tail:
        sentences.append(tail)
    return sentences


def shorten_title(text: str, limit: int = MAX_CHAPTER_TITLE_CHARS) -> str:
    """Shorten at a word boundary to at most *limit* characters."""
    text = " ".join(text.split())
    if len(text) <= limit:
        return text
    cut = text[: limit - 1]
    if " " in cut:
        cut = cut[: cut.rfind(" ")]
    return cut.rstrip(" ,;:-–—") + "…"


class _SpeakerResolver:
    """Maps label heads to speakers, from a manifest or by inference."""

    def __init__(self, speakers: tuple[Speaker, ...] | None, heads_seen: dict[str, int]):
        self.fixed = speakers is not None
        self.speakers: list[Speaker] = list(speakers or ())
        self.heads_seen = heads_seen

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

    def resolve(self, label: _Label, line_no: int) -> Speaker | None:
        found = self._match(label.head)
        if found is not None:
            return found
        if self.fixed:
            if label.strong or self.heads_seen.get(label.head, 0) > 1:
                known = ", ".join(lb for s in self.speakers for lb in s.labels)
                raise ParseError(f"line {line_no}: label {label.head!r} names no speaker in the manifest (known: {known})")
            return None
        if not (label.strong or self.heads_seen.get(label.head, 0) > 1):
            return None
        # a long form whose words name a recurring short label ("Aaron Zelin, ..." / "Zelin:")
        for word in label.head.split():
            if word != label.head and self.heads_seen.get(word, 0) > 1:
                speaker = self._new(word, (word, label.head), display=label.head)
                return speaker
        return self._new(label.head, (label.head,))

    def _new(self, head: str, labels: tuple[str, ...], display: str | None = None) -> Speaker:
        sid = re.sub(r"[^a-z0-9]+", "-", head.casefold()).strip("-") or f"speaker-{len(self.speakers) + 1}"
        while any(s.id == sid for s in self.speakers):
            sid += "-2"
        role = "host" if not self.speakers or head == "Q" else "guest"
        speaker = Speaker(id=sid, name=display or head, labels=labels, voice="", role=role)
        self.speakers.append(speaker)
        return speaker


def parse_transcript(text: str, *, speakers: tuple[Speaker, ...] | None = None,
                     narrator: str | None = None,
                     chapter_titles: dict[int, str] | None = None,
                     intro_title: str = "Introduction") -> ParsedTranscript:
    """Parse *text* into turns and chapters.

    With *speakers* (from a manifest) labels must resolve to them; without,
    speakers are inferred and returned with an empty ``voice`` for the
    caller to assign.
    """
    paragraphs = _paragraphs(text)
    if not paragraphs:
        raise ParseError("transcript has no text")
    labelled = [(n, p, _label_of(p)) for n, p in paragraphs]
    heads_seen: dict[str, int] = {}
    for _, _, lab in labelled:
        if lab:
            heads_seen[lab[0].head] = heads_seen.get(lab[0].head, 0) + 1
            for word in lab[0].head.split():
                if word != lab[0].head:
                    heads_seen.setdefault(word, 0)
    resolver = _SpeakerResolver(speakers, heads_seen)

    # (speaker or None for narration, line, sentences)
    raw_turns: list[list] = []
    current: Speaker | None = None
    for line_no, paragraph, lab in labelled:
        speaker = resolver.resolve(lab[0], line_no) if lab else None
        if speaker is not None:
            body = lab[1]
            current = speaker
            raw_turns.append([speaker, line_no, split_sentences(body) if body else []])
        elif raw_turns:
            raw_turns[-1][2].extend(split_sentences(paragraph))
        else:
            raw_turns.append([None, line_no, split_sentences(paragraph)])
    if current is None:
        raise ParseError("no speaker labels found (expected lines like 'NAME: text')")

    known = tuple(resolver.speakers)
    narrator_id = narrator or next((s.id for s in known if s.role in ("host", "narrator")), known[0].id)
    host_ids = {s.id for s in known if s.role == "host"} or {known[0].id}
    turns: list[Turn] = []
    for speaker, line_no, sentences in raw_turns:
        if not sentences:
            log.warning("line %d: label with no text, skipped", line_no)
            continue
        turns.append(Turn(index=len(turns), speaker_id=speaker.id if speaker else narrator_id,
                          sentences=tuple(sentences), line_no=line_no, narration=speaker is None))
    if not turns:
        raise ParseError("transcript has labels but no speech")

    overrides = chapter_titles or {}
    chapters: list[Chapter] = []
    for turn in turns:
        is_intro = turn.narration and turn.index == 0
        is_question = not turn.narration and turn.speaker_id in host_ids
        if is_intro or is_question or not chapters and turn.index == 0:
            n = len(chapters) + 1
            default = intro_title if is_intro else shorten_title(turn.text)
            title = shorten_title(overrides.get(n, default))
            chapters.append(Chapter(index=n - 1, title=title, turn_index=turn.index))
    return ParsedTranscript(turns=tuple(turns), chapters=tuple(chapters), speakers=known)
