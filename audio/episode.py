"""An episode to render: the manifest plus the parsed transcript.

With no manifest, one is inferred from the transcript: speakers from its
labels, each with a distinct default voice, and metadata from the file name.
"""

from __future__ import annotations

import datetime as _dt
import logging
from dataclasses import dataclass, replace
from pathlib import Path

from .engines import ENGINES, canonical, parse_voice
from .errors import InputError, VoiceError
from .lexicon import spoken_text, word_offsets
from .manifest import Manifest, Metadata, Speaker, load_manifest, manifest_beside
from .parse import Chapter, Turn, decode_text, parse_transcript
from .speak import SpeechJob
from .voices import assign_default_voices, check_voice

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Episode:
    manifest: Manifest
    turns: tuple[Turn, ...]
    chapters: tuple[Chapter, ...]
    source: Path

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
            for sentence in turn.sentences:
                jobs.append(SpeechJob(text=spoken_text(sentence, lexicon), voice=canonical(speaker.voice),
                                      rate_wpm=speaker.rate_wpm, word_gap_ms=speaker.word_gap_ms,
                                      speed=speaker.speed, pitch_st=speaker.pitch_st))
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
            check_voice(speaker.voice)


def read_transcript_file(path: Path) -> str:
    try:
        data = Path(path).read_bytes()
    except FileNotFoundError:
        raise InputError(f"transcript not found: {path}") from None
    except IsADirectoryError:
        raise InputError(f"{path} is a folder, not a transcript") from None
    except OSError as exc:
        raise InputError(f"cannot read {path}: {exc.strerror}") from None
    return decode_text(data, source=str(path))


def _inferred_manifest(path: Path, speakers: tuple[Speaker, ...]) -> Manifest:
    title = path.stem.replace("-", " ").replace("_", " ").strip().capitalize() or "Episode"
    metadata = Metadata(title=title, show=title, author="", date=_dt.date.today().isoformat())
    hosts = [s.id for s in speakers if s.role == "host"]
    return Manifest(metadata=metadata, speakers=assign_default_voices(speakers),
                    narrator=hosts[0] if hosts else speakers[0].id)


def load_episode(transcript: Path, manifest: Path | None = None, *,
                 voices: dict[str, str] | None = None, find_manifest: bool = True,
                 engine: str | None = None) -> Episode:
    """Read and parse a transcript with its manifest (given, beside it, or inferred).

    *engine* puts every speaker on that engine (``--engine``); *voices*
    (``--voice SPEAKER=VOICE``) then overrides single speakers.
    """
    transcript = Path(transcript)
    text = read_transcript_file(transcript)
    if manifest is None and find_manifest:
        manifest = manifest_beside(transcript)
    if manifest is not None:
        man = load_manifest(Path(manifest))
        parsed = parse_transcript(text, speakers=man.speakers, narrator=man.narrator,
                                  chapter_titles=dict(man.chapter_titles))
    else:
        parsed = parse_transcript(text)
        man = _inferred_manifest(transcript, parsed.speakers)
    if engine is not None:
        if engine not in ENGINES:
            raise VoiceError(f"unknown speech engine {engine!r} (engines: {', '.join(ENGINES)})")
        man = replace(man, speakers=assign_default_voices(man.speakers, engine))
    if voices:
        man = man.with_voices(voices)
    log.info("parsed %d turns, %d chapters from %s", len(parsed.turns), len(parsed.chapters), transcript)
    return Episode(manifest=man, turns=parsed.turns, chapters=parsed.chapters, source=transcript)
