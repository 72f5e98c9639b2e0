"""The episode manifest: metadata, speakers, voices, lexicon, as data.

A manifest is a TOML file beside the transcript.  Everything that changes
how an episode sounds or is labelled lives here, not in code, so a producer
can re-voice or re-title an episode without touching Python.
"""

from __future__ import annotations

import datetime as _dt
import logging
import tomllib
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from .engines import ENGINES
from .errors import ManifestError
from .hygiene import Removal, clean_data
from .sound.settings import SoundSettings, merged, sound_from_dict

log = logging.getLogger(__name__)

ROLES = ("host", "guest", "narrator")
GENDERS = ("female", "male")  # what a voice is chosen by; never guessed from a name

# ISO 639-1 -> ISO 639-2/B, which ID3 COMM/USLT/TLAN want.
_LANG3 = {"en": "eng", "fr": "fre", "de": "ger", "es": "spa", "it": "ita", "pt": "por",
          "nl": "dut", "fa": "per", "ar": "ara", "ru": "rus", "zh": "chi", "ja": "jpn"}


@dataclass(frozen=True)
class Speaker:
    id: str
    name: str
    labels: tuple[str, ...]
    voice: str
    rate_wpm: int = 160
    role: str = "guest"
    word_gap_ms: int = 40
    gender: str = ""  # "female", "male" or "" (not said): default voices honour it
    speed: float = 1.0  # neural engines: 1 is the voice's own pace (pyttsx3 takes rate_wpm)
    pitch_st: float = 0.0  # neural engines: semitones up or down, so one model can voice two people
    voices: tuple[tuple[str, str], ...] = ()  # (engine, voice) to use with `--engine ENGINE`
    description: str = ""  # who they are ("Historian, Lakeside College"), from a label's role or the manifest

    def voice_for(self, engine: str) -> str | None:
        return dict(self.voices).get(engine)


@dataclass(frozen=True)
class Pronunciation:
    """One lexicon entry: how to say a written word, for every engine or for one.

    A respelling is text the engine reads instead of the word; an IPA
    pronunciation is given to each engine in its own form (espeak-ng's
    ``[[...]]`` phonemes, Piper's espeak phonemes, hibari's ``/.../``).
    """

    word: str
    respelling: str = ""
    ipa: str = ""
    engine: str = ""  # "" for every engine


@dataclass(frozen=True)
class Metadata:
    title: str
    show: str
    author: str
    date: str
    language: str = "en"
    description: str = ""
    genre: str = "Podcast"
    image: str = ""  # the episode's own cover art, a path (resolved against the manifest's folder)
    number: int | None = None  # itunes:episode, or "Episode N: ..." in the transcript; a catalogue numbers by date when absent

    @property
    def language3(self) -> str:
        """The ISO 639-2 code that ID3 language fields take."""
        lang = self.language.lower().split("-")[0]
        return _LANG3.get(lang, lang if len(lang) == 3 else "und")


@dataclass(frozen=True)
class Pauses:
    """Silence inserted between pieces of speech, in milliseconds."""

    sentence_pause_ms: int = 280
    turn_pause_ms: int = 650
    chapter_pause_ms: int = 1300


@dataclass(frozen=True)
class Manifest:
    metadata: Metadata
    speakers: tuple[Speaker, ...]
    narrator: str | None = None
    chapter_titles: tuple[tuple[int, str], ...] = ()
    lexicon: tuple[Pronunciation, ...] = ()
    pauses: Pauses = field(default_factory=Pauses)
    target_lufs: float = -16.0
    true_peak_dbtp: float = -1.0
    bitrate_kbps: int = 64
    m4b_bitrate_kbps: int = 64  # AAC (--m4b)
    opus_bitrate_kbps: int = 32  # Opus (--opus), transparent for speech at about half the MP3's rate
    episode_keys: frozenset[str] = frozenset()  # the [episode] keys the file gave; the transcript may fill the others
    removed: tuple[Removal, ...] = ()  # characters taken out of its strings (audio.hygiene), for `episode inspect`
    sound: SoundSettings | None = None  # [sound] over [show.sound]; None: speech alone, as always

    def speaker(self, speaker_id: str) -> Speaker:
        for s in self.speakers:
            if s.id == speaker_id:
                return s
        known = ", ".join(s.id for s in self.speakers)
        raise ManifestError(f"unknown speaker {speaker_id!r} (known: {known})")

    def lexicon_for(self, engine: str) -> tuple[tuple[str, str], ...]:
        """(written word, what *engine* is given instead): its own entries over everyone's."""
        from .engines import engine as engine_module

        chosen: dict[str, Pronunciation] = {}
        for entry in self.lexicon:
            if entry.engine in ("", engine) and (entry.engine or entry.word not in chosen):
                chosen[entry.word] = entry
        module = engine_module(engine) if any(e.ipa for e in chosen.values()) else None
        return tuple((w, e.respelling or module.phonemes(w, e.ipa)) for w, e in chosen.items())

    def with_voices(self, overrides: dict[str, str]) -> Manifest:
        """A copy with some speakers' voices replaced (``--voice id=voice``)."""
        speakers = list(self.speakers)
        for key, voice in overrides.items():
            matches = [i for i, s in enumerate(speakers)
                       if key.lower() in {s.id.lower(), s.name.lower(), *(lb.lower() for lb in s.labels)}]
            if not matches:
                known = ", ".join(s.id for s in speakers)
                raise ManifestError(f"--voice names unknown speaker {key!r} (known: {known})")
            for i in matches:
                speakers[i] = replace(speakers[i], voice=voice, pitch_st=0.0)  # the voice as it is
        return replace(self, speakers=tuple(speakers))


# The schema as data: table -> {key: type}.  Unknown keys are refused so a
# typo ("rate_wmp") is reported instead of silently ignored.
_SCHEMA: dict[str, dict[str, type | tuple[type, ...]]] = {
    "episode": {"title": str, "show": str, "author": str, "date": (str, _dt.date),
                "language": str, "description": str, "genre": str, "narrator": str, "image": str,
                "number": int},
    "speaker": {"id": str, "name": str, "labels": list, "voice": str, "rate_wpm": int, "role": str,
                "word_gap_ms": int, "gender": str, "speed": (int, float), "pitch_st": (int, float),
                "voices": dict, "description": str},
    "render": {"sentence_pause_ms": int, "turn_pause_ms": int, "chapter_pause_ms": int,
               "target_lufs": (int, float), "true_peak_dbtp": (int, float), "bitrate_kbps": int,
               "m4b_bitrate_kbps": int, "opus_bitrate_kbps": int},
}
# [show] is read by audio.show: an episode's manifest may carry its show's settings.
_TOP_LEVEL = {"episode", "speakers", "lexicon", "chapter_titles", "render", "show", "sound"}


def _check_table(table: dict[str, Any], kind: str, where: str) -> None:
    schema = _SCHEMA[kind]
    for key, value in table.items():
        if key not in schema:
            raise ManifestError(f"{where}: unknown key {key!r} (allowed: {', '.join(schema)})")
        if not isinstance(value, schema[key]) or isinstance(value, bool):
            raise ManifestError(f"{where}: {key!r} has the wrong type ({type(value).__name__})")


def _speaker(raw: dict[str, Any], n: int, source: str) -> Speaker:
    where = f"{source}: speakers[{n}]"
    _check_table(raw, "speaker", where)
    for required in ("id", "voice"):
        if not raw.get(required):
            raise ManifestError(f"{where}: {required!r} is required")
    name = raw.get("name", raw["id"])
    labels = tuple(str(x) for x in raw.get("labels", [name]))
    rate = raw.get("rate_wpm", 160)
    if not 80 <= rate <= 450:
        raise ManifestError(f"{where}: rate_wpm {rate} is outside 80..450 words per minute")
    role = raw.get("role", "guest")
    if role not in ROLES:
        raise ManifestError(f"{where}: role {role!r} is not one of {', '.join(ROLES)}")
    gap = raw.get("word_gap_ms", 40)
    if not 0 <= gap <= 500:
        raise ManifestError(f"{where}: word_gap_ms {gap} is outside 0..500")
    gender = raw.get("gender", "")
    if gender and gender not in GENDERS:
        raise ManifestError(f"{where}: gender {gender!r} is not one of {', '.join(GENDERS)}")
    speed = float(raw.get("speed", 1.0))
    if not 0.5 <= speed <= 2.0:
        raise ManifestError(f"{where}: speed {speed:g} is outside 0.5..2")
    pitch = float(raw.get("pitch_st", 0.0))
    if not -12 <= pitch <= 12:
        raise ManifestError(f"{where}: pitch_st {pitch:g} is outside -12..12 semitones")
    alternatives = raw.get("voices", {})
    for engine, voice in alternatives.items():
        if engine not in ENGINES or not isinstance(voice, str) or not voice:
            raise ManifestError(f"{where}: voices maps an engine ({', '.join(ENGINES)}) to one of its voices, "
                                f"not {engine!r} = {voice!r}")
    return Speaker(id=raw["id"], name=name, labels=labels, voice=raw["voice"],
                   rate_wpm=rate, role=role, word_gap_ms=gap, gender=gender, speed=speed, pitch_st=pitch,
                   voices=tuple((e, v if ":" in v else f"{e}:{v}") for e, v in alternatives.items()),
                   description=raw.get("description", ""))


def _lexicon(table: dict[str, Any], source: str, engine: str = "") -> list[Pronunciation]:
    """``word = "respelling"``, ``word = { ipa = "..." }``, and ``[lexicon.ENGINE]`` tables of those."""
    where = f"{source}: [lexicon{'.' + engine if engine else ''}]"
    out = []
    for word, value in table.items():
        if not engine and word in ENGINES and isinstance(value, dict) and "ipa" not in value:
            out += _lexicon(value, source, word)
        elif isinstance(value, str) and value.strip():
            out.append(Pronunciation(word, respelling=value, engine=engine))
        elif isinstance(value, dict) and set(value) == {"ipa"} and isinstance(value["ipa"], str) \
                and value["ipa"].strip():
            out.append(Pronunciation(word, ipa=value["ipa"].strip(), engine=engine))
        else:
            raise ManifestError(f"{where}: {word!r} must map to a respelling (a string) or {{ ipa = \"...\" }}")
    return out


def manifest_from_dict(data: dict[str, Any], *, source: str = "manifest", folder: Path | None = None) -> Manifest:
    """Validate a parsed TOML document and build a :class:`Manifest` (its files relative to *folder*)."""
    for key in data:
        if key not in _TOP_LEVEL:
            raise ManifestError(f"{source}: unknown table {key!r} (allowed: {', '.join(sorted(_TOP_LEVEL))})")
    episode = data.get("episode", {})
    _check_table(episode, "episode", f"{source} [episode]")
    raw_speakers = data.get("speakers", [])
    if not isinstance(raw_speakers, list) or not raw_speakers:
        raise ManifestError(f"{source}: at least one [[speakers]] entry is required")
    speakers = tuple(_speaker(s, i, source) for i, s in enumerate(raw_speakers))
    ids = [s.id for s in speakers]
    dupes = sorted({i for i in ids if ids.count(i) > 1})
    if dupes:
        raise ManifestError(f"{source}: duplicate speaker id {dupes[0]!r}")
    narrator = episode.get("narrator")
    if narrator is not None and narrator not in ids:
        raise ManifestError(f"{source}: narrator {narrator!r} is an unknown speaker (known: {', '.join(ids)})")
    if narrator is None:
        hosts = [s.id for s in speakers if s.role in ("narrator", "host")]
        narrator = hosts[0] if hosts else None

    render = data.get("render", {})
    _check_table(render, "render", f"{source} [render]")
    pauses = Pauses(**{k: v for k, v in render.items() if k.endswith("_pause_ms")})
    if min(pauses.sentence_pause_ms, pauses.turn_pause_ms, pauses.chapter_pause_ms) < 0:
        raise ManifestError(f"{source}: pauses cannot be negative")

    lexicon = _lexicon(data.get("lexicon", {}), source)
    titles_raw = data.get("chapter_titles", {})
    try:
        titles = tuple(sorted((int(k), str(v)) for k, v in titles_raw.items()))
    except ValueError as exc:
        raise ManifestError(f"{source}: [chapter_titles] keys are chapter numbers from 1") from exc

    show_table = data.get("show", {})
    show_sound = show_table.get("sound") if isinstance(show_table, dict) else None
    sound = merged(sound_from_dict(show_sound, source=source, folder=folder, name="[show.sound]")
                   if show_sound is not None else None,
                   sound_from_dict(data["sound"], source=source, folder=folder) if "sound" in data else None)

    date = str(episode.get("date", _dt.date.today().isoformat()))
    try:  # the feed's pubDate, the show's order and <time> all read it as a day
        _dt.date.fromisoformat(date[:10])
    except ValueError:
        raise ManifestError(f"{source}: [episode] date {date!r} is not a date: write it as YYYY-MM-DD") from None
    number = episode.get("number")
    if number is not None and number < 1:
        raise ManifestError(f"{source}: [episode] number {number} is not a positive episode number")
    # A title (and so the show's default) left out is the transcript's, or its file name's: audio.episode fills it.
    title = episode.get("title", "")
    metadata = Metadata(title=title, show=episode.get("show", title),
                        author=episode.get("author", ""), date=str(date),
                        language=episode.get("language", "en"),
                        description=episode.get("description", ""),
                        genre=episode.get("genre", "Podcast"), image=episode.get("image", ""),
                        number=number)
    return Manifest(metadata=metadata, speakers=speakers, narrator=narrator,
                    chapter_titles=titles, lexicon=tuple(lexicon), pauses=pauses,
                    target_lufs=float(render.get("target_lufs", -16.0)),
                    true_peak_dbtp=float(render.get("true_peak_dbtp", -1.0)),
                    bitrate_kbps=render.get("bitrate_kbps", 64),
                    m4b_bitrate_kbps=render.get("m4b_bitrate_kbps", 64),
                    opus_bitrate_kbps=render.get("opus_bitrate_kbps", 32), episode_keys=frozenset(episode),
                    sound=sound)


def load_manifest(path: Path) -> Manifest:
    """Read and validate a manifest file."""
    try:
        raw = Path(path).read_bytes()
    except FileNotFoundError:
        raise ManifestError(f"manifest not found: {path}") from None
    except OSError as exc:
        raise ManifestError(f"cannot read manifest {path}: {exc.strerror}") from None
    try:
        data = tomllib.loads(raw.decode("utf-8"))
    except UnicodeDecodeError as exc:
        raise ManifestError(f"{path}: not UTF-8 (byte offset {exc.start})") from None
    except tomllib.TOMLDecodeError as exc:
        raise ManifestError(f"{path}: invalid TOML: {exc}") from None
    removed: list[Removal] = []
    data = clean_data(data, removals=removed)  # before anything reads a string: no output gets them
    manifest = replace(manifest_from_dict(data, source=str(path), folder=Path(path).parent), removed=tuple(removed))
    image = manifest.metadata.image
    if image and not Path(image).is_absolute():  # relative to the manifest, as a producer writes it
        manifest = replace(manifest, metadata=replace(manifest.metadata, image=str(Path(path).parent / image)))
    return manifest


def manifest_beside(transcript: Path) -> Path | None:
    """The conventional manifest for a transcript: same stem, ``.toml``."""
    candidate = Path(transcript).with_suffix(".toml")
    return candidate if candidate.is_file() else None
