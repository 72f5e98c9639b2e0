"""An episode to render: the manifest plus the parsed transcript.

With no manifest, one is inferred from the transcript: speakers from its
labels, each with a distinct default voice, and metadata from what the
transcript says (front matter, a heading, show notes, a date line) or else
from the file name.  A manifest always wins, but the transcript fills the
[episode] keys it leaves out.
"""

from __future__ import annotations

import datetime as _dt
import logging
from dataclasses import dataclass, replace
from pathlib import Path

from .engines import derived_settings, parse_voice
from .errors import InputError, VoiceError
from .formats import FoundMetadata
from .formats.docx import document_kind
from .lexicon import spoken_text, word_offsets
from .manifest import Manifest, Metadata, Speaker, load_manifest, manifest_beside
from .hygiene import Removal, clean_fields
from .precheck import chapter_warning
from .parse import Chapter, Decision, ParsedTranscript, SoundCue, Turn, decode_text, parse_transcript
from .speak import SpeechJob
from .voices import assign_voices, check_voice

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Episode:
    manifest: Manifest
    turns: tuple[Turn, ...]
    chapters: tuple[Chapter, ...]
    source: Path
    format: str = "text"  # as read: "markdown+front matter", "webvtt"...
    decisions: tuple[Decision, ...] = ()  # what the parser decided, some doubtful: `episode inspect` shows them
    warnings: tuple[str, ...] = ()  # one line each, for the user
    found: FoundMetadata = FoundMetadata()  # metadata the transcript itself gave
    cues: tuple[SoundCue, ...] = ()  # sounds the transcript marks, never spoken (the [sound] table plays them)

    @property
    def metadata(self) -> Metadata:
        return self.manifest.metadata

    def speaker(self, speaker_id: str) -> Speaker:
        return self.manifest.speaker(speaker_id)

    def transcript_turns(self) -> list[tuple[str, str]]:
        """(speaker name, written text) per turn."""
        return [(self.speaker(t.speaker_id).name, t.text) for t in self.turns]

    def lexicon_of(self, speaker_id: str) -> tuple[tuple[str, str], ...]:
        """The lexicon as the speaker's engine takes it (its own entries over everyone's)."""
        return self.manifest.lexicon_for(parse_voice(self.speaker(speaker_id).voice).engine)

    def speech_jobs(self) -> list[SpeechJob]:
        """One job per sentence, in order, with the speaker's engine's lexicon applied."""
        jobs = []
        for turn in self.turns:
            speaker = self.speaker(turn.speaker_id)
            lexicon = self.lexicon_of(speaker.id)
            spec = parse_voice(speaker.voice)
            # a derived voice is its model with settings: the job's, so the clip's key holds them
            pitch_st, speed = derived_settings(spec)
            for sentence in turn.sentences:
                jobs.append(SpeechJob(text=spoken_text(sentence, lexicon), voice=spec.base,
                                      rate_wpm=speaker.rate_wpm, word_gap_ms=speaker.word_gap_ms,
                                      speed=round(speed * speaker.speed, 6), pitch_st=pitch_st + speaker.pitch_st))
        return jobs

    def word_offsets(self) -> list[tuple[int, ...]]:
        """Per sentence (in speech_jobs order): where each written word starts in the spoken text."""
        return [word_offsets(sentence, self.lexicon_of(turn.speaker_id))
                for turn in self.turns for sentence in turn.sentences]

    def engines(self) -> set[str]:
        return {parse_voice(s.voice).engine for s in self.manifest.speakers}

    def check_voices(self) -> None:
        """Refuse, before anything is spoken, a voice that cannot be spoken offline here."""
        for speaker in self.manifest.speakers:
            spec = check_voice(speaker.voice)
            shift, speed = derived_settings(spec)
            if shift and not -12 <= shift + speaker.pitch_st <= 12:  # the manifest's pitch_st on a derived one's
                raise VoiceError(f"speaker {speaker.id}: {spec.name} at pitch_st {speaker.pitch_st:g} is "
                                 f"{shift + speaker.pitch_st:+g} semitones, outside -12..12")
            if speed != 1 and not 0.5 <= speed * speaker.speed <= 2:
                raise VoiceError(f"speaker {speaker.id}: {spec.name} at speed {speaker.speed:g} is speed "
                                 f"{speed * speaker.speed:g}, outside 0.5..2")


def _transcript_bytes(path: Path) -> bytes:
    try:
        return Path(path).read_bytes()
    except FileNotFoundError:
        raise InputError(f"transcript not found: {path}") from None
    except IsADirectoryError:
        raise InputError(f"{path} is a folder, not a transcript") from None
    except OSError as exc:
        raise InputError(f"cannot read {path}: {exc.strerror}") from None


def read_transcript_file(path: Path) -> str:
    return decode_text(_transcript_bytes(path), source=str(path))


def read_word_file(path: Path) -> bytes | None:
    """A Word transcript's bytes (a .docx, a zip: known by its bytes before any text is decoded), else None."""
    try:
        with open(path, "rb") as file:
            if file.read(4) not in (b"PK\x03\x04", b"PK\x05\x06"):
                return None
    except OSError:
        return None  # read_transcript_file says what is wrong
    data = _transcript_bytes(path)
    return data if document_kind(data, str(path)) == "docx" else None


# [episode] key -> FoundMetadata field
_FOUND_FIELDS = {"title": "title", "show": "show", "author": "author", "date": "date", "description": "description",
                 "language": "language", "number": "episode_number"}


def _title_from_name(path: Path) -> str:
    return path.stem.replace("-", " ").replace("_", " ").strip().capitalize() or "Episode"


def _inferred_metadata(path: Path, found: FoundMetadata) -> Metadata:
    title = found.title or _title_from_name(path)
    return Metadata(title=title, show=found.show or title, author=found.author,
                    date=found.date or _dt.date.today().isoformat(), language=found.language or "en",
                    description=found.description, number=found.episode_number or None)


def _fill_gaps(metadata: Metadata, found: FoundMetadata, given: frozenset[str], path: Path) -> Metadata:
    """The manifest's metadata, with what it leaves out taken from the transcript.

    A title neither gives is the file name's, as without a manifest; a show
    neither gives is the title, as a manifest's own default is.
    """
    changes = {key: getattr(found, field) for key, field in _FOUND_FIELDS.items()
               if key not in given and getattr(found, field)}
    if not changes.get("title", metadata.title):
        changes["title"] = _title_from_name(path)
    if "show" not in given and "show" not in changes:
        changes["show"] = changes.get("title", metadata.title)
    return replace(metadata, **changes)


def _inferred_manifest(path: Path, speakers: tuple[Speaker, ...], found: FoundMetadata,
                       words: dict[str, int]) -> tuple[Manifest, tuple[str, ...]]:
    hosts = [s.id for s in speakers if s.role in ("host", "narrator")]
    voiced = assign_voices(speakers, words=words)
    return Manifest(metadata=_inferred_metadata(path, found), speakers=voiced.speakers,
                    narrator=hosts[0] if hosts else speakers[0].id), voiced.warnings


def words_spoken(turns) -> dict[str, int]:
    """Speaker id -> words in their turns: who talks most chooses a voice first."""
    words: dict[str, int] = {}
    for turn in turns:
        words[turn.speaker_id] = words.get(turn.speaker_id, 0) + len(turn.text.split())
    return words


def load_episode(transcript: Path, manifest: Path | None = None, *,
                 voices: dict[str, str] | None = None, find_manifest: bool = True,
                 engine: str | None = None) -> Episode:
    """Read and parse a transcript with its manifest (given, beside it, or inferred).

    *engine* puts every speaker on that engine (``--engine``); *voices*
    (``--voice SPEAKER=VOICE``) then overrides single speakers.
    """
    transcript = Path(transcript)
    word = read_word_file(transcript)
    text = read_transcript_file(transcript) if word is None else word
    guarded: list[Removal] = []  # a Word file's text is cleaned here, as what the readers decode is
    voiced: tuple[str, ...] = ()  # warnings of the default voices given out
    if manifest is None and find_manifest:
        manifest = manifest_beside(transcript)
    if manifest is not None:
        man = load_manifest(Path(manifest))
        parsed = _guarded(parse_transcript(text, speakers=man.speakers, narrator=man.narrator,
                                           chapter_titles=dict(man.chapter_titles), source=str(transcript)), guarded)
        man = replace(man, metadata=_fill_gaps(man.metadata, parsed.metadata, man.episode_keys, transcript))
    else:
        parsed = _guarded(parse_transcript(text, source=str(transcript)), guarded)
        man, voiced = _inferred_manifest(transcript, parsed.speakers, parsed.metadata, words_spoken(parsed.turns))
    if engine is not None:
        assigned = assign_voices(man.speakers, engine, words_spoken(parsed.turns))
        man, voiced = replace(man, speakers=assigned.speakers), assigned.warnings
    if voices:
        man = man.with_voices(voices)
    log.info("parsed %d turns, %d chapters from %s (%s)", len(parsed.turns), len(parsed.chapters), transcript,
             parsed.format)
    removed = _removed(transcript, (*getattr(text, "removals", ()), *guarded), man.removed)
    return Episode(manifest=man, turns=parsed.turns, chapters=parsed.chapters, source=transcript,
                   format=parsed.format, decisions=removed + parsed.decisions,
                   warnings=(parsed.warnings + voiced + _removed_warning(removed)
                             + _nesting_warning(len(parsed.chapters))),
                   found=parsed.metadata, cues=parsed.cues)


def _guarded(parsed: ParsedTranscript, removals: list[Removal]) -> ParsedTranscript:
    """What the readers made of escapes (JSON's \\u001b, HTML's &#27;, ...) cleaned as the decoded text was."""
    return replace(parsed, turns=tuple(clean_fields(t, removals, t.line_no) for t in parsed.turns),
                   chapters=tuple(clean_fields(c, removals, where=f"chapter {c.index + 1} title")
                                  for c in parsed.chapters),
                   speakers=tuple(clean_fields(s, removals, where=f"speaker {s.id}") for s in parsed.speakers),
                   metadata=clean_fields(parsed.metadata, removals, where="transcript's metadata"))


def _removed(transcript: Path, text: tuple, manifest: tuple) -> tuple[Decision, ...]:
    """What hygiene took out of the transcript (by line) and the manifest (by key), as decisions to check."""
    return (tuple(Decision(r.line_no, r.message, doubtful=True) for r in text)
            + tuple(Decision(0, f"manifest {r.message}", doubtful=True) for r in manifest))


def _nesting_warning(chapters: int) -> tuple[str, ...]:
    line = chapter_warning(chapters)
    return (line,) if line else ()


def _removed_warning(removed: tuple[Decision, ...]) -> tuple[str, ...]:
    if not removed:
        return ()
    return (f"removed {len(removed)} control character(s), ESC sequence(s), noncharacter(s) or bidi override(s), "
            "which no output carries (`episode inspect` lists each)",)
