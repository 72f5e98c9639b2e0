"""The `[sound]` table: intro and outro music, a ducked bed, chapter stingers, transcript cues, as data.

A manifest's ``[sound]`` (and a show's ``[show.sound]``, for every episode
of a batch) says which music plays where and how far it is ducked under
speech; this module only reads and checks it.  What it means on the
timeline is :mod:`audio.sound.plan`, the music's samples
:mod:`audio.sound.music`, the gain envelope :mod:`audio.sound.duck` and the mix
:mod:`audio.sound.mix`.  An episode without the table is rendered exactly as
before: nothing here is consulted.

Files are paths relative to the manifest that names them.  Levels are
relative to the episode's loudness target: a ``gain_db`` of 0 plays the
music as loud as the speech (intros and outros loudness-matched, as
Auphonic does), and under speech a bed is held ``duck_db`` under it.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field, fields, replace
from pathlib import Path
from typing import Any

from ..errors import ManifestError
from ..formats.directions import CUE_KINDS

NAMED = ("intro", "outro", "stinger")  # sounds a cue may name instead of a file
DEFAULT_DUCK_DB = 20.0  # WCAG 2.2 SC 1.4.7: background sound 20 dB under speech
INTRO_FADE_S = 2.0


@dataclass(frozen=True)
class Music:
    """One music file and how it plays: *gain_db* over the speech's loudness; cut at *length_s* (0: whole)."""

    path: Path
    gain_db: float = 0.0
    length_s: float = 0.0
    fade_s: float = 0.0  # fade-out over the end of what plays


@dataclass(frozen=True)
class Intro:
    """Music from the episode's first sample: *lead_s* of it before the first word, then *bed_s* under the
    opening speech (ducked), then a fade-out over *fade_s*."""

    music: Music
    lead_s: float = 3.0
    bed_s: float = 0.0


@dataclass(frozen=True)
class Outro:
    """Music at the end: under the last turn (ducked, rising after its last word), or after it."""

    music: Music
    under_last_turn: bool = False


@dataclass(frozen=True)
class SoundSettings:
    intro: Intro | None = None
    outro: Outro | None = None
    stinger: Music | None = None  # at each chapter start after the first, in the chapter pause
    # cue kind -> a Music, a NAMED sound ("intro": its file), or None: the cue plays nothing
    cues: tuple[tuple[str, Music | str | None], ...] = ()
    duck_db: float = DEFAULT_DUCK_DB
    ramp_ms: int = 500  # the bed's rise after speech
    ramp_down_ms: int = 150  # its fall, ending where speech starts
    hold_ms: int = 200  # ducked this long after the last word before it rises
    chapters: bool = False  # "Intro" and "Outro" chapters (toc false in the chapters JSON)
    given: frozenset[str] = field(default=frozenset(), compare=False)  # keys the table gave (for merging)

    def cue_sound(self, kind: str) -> Music | None:
        """What a transcript cue of *kind* plays (None: nothing, or the kind is not in the table)."""
        value = dict(self.cues).get(kind)
        if isinstance(value, str):
            named = getattr(self, value)
            return named if isinstance(named, Music) or named is None else named.music
        return value

    def files(self) -> list[tuple[str, Music]]:
        """Every (what, music) the settings name, once per use."""
        out = []
        if self.intro:
            out.append(("intro", self.intro.music))
        if self.outro:
            out.append(("outro", self.outro.music))
        if self.stinger:
            out.append(("stinger", self.stinger))
        out += [(f"cues.{kind}", v) for kind, v in self.cues if isinstance(v, Music)]
        return out


_NUMBER = (int, float)
_RANGES = {  # key: (low, high, unit said in a message)
    "gain_db": (-40.0, 10.0, "dB"), "length_s": (0.0, 3600.0, "s"), "fade_s": (0.0, 60.0, "s"),
    "lead_s": (0.0, 600.0, "s"), "bed_s": (0.0, 3600.0, "s"),
    "duck_db": (0.0, 60.0, "dB"), "ramp_ms": (0, 5000, "ms"), "ramp_down_ms": (0, 2000, "ms"),
    "hold_ms": (0, 5000, "ms"),
}
_MUSIC_KEYS = {"file": str, "gain_db": _NUMBER, "length_s": _NUMBER, "fade_s": _NUMBER}
_TABLES: dict[str, dict[str, Any]] = {
    "intro": {**_MUSIC_KEYS, "lead_s": _NUMBER, "bed_s": _NUMBER},
    "outro": {**_MUSIC_KEYS, "under_last_turn": bool},
    "stinger": _MUSIC_KEYS,
    "cue": _MUSIC_KEYS,
}
_TOP = {"intro": (str, dict), "outro": (str, dict), "stinger": (str, dict), "cues": dict,
        "duck_db": _NUMBER, "ramp_ms": int, "ramp_down_ms": int, "hold_ms": int, "chapters": bool}


def _typed(value: Any, want, where: str, key: str) -> None:
    wrong = not isinstance(value, want) or (isinstance(value, bool) and want is not bool
                                            and not (isinstance(want, tuple) and bool in want))
    if wrong:
        raise ManifestError(f"{where}: {key!r} has the wrong type ({type(value).__name__})")


def _ranged(value: float, key: str, where: str) -> float:
    low, high, unit = _RANGES[key]
    if key == "duck_db" and value < 0:
        raise ManifestError(f"{where}: duck_db {value:g} is below 0 (how far under the speech the music is "
                            "held, in dB; 20 is the accessible default)")
    if not low <= value <= high:
        raise ManifestError(f"{where}: {key} {value:g} is outside {low:g}..{high:g} {unit}")
    return value


def _path(raw: str, folder: Path | None, where: str) -> Path:
    if not raw.strip():
        raise ManifestError(f"{where}: 'file' is empty")
    path = Path(raw)
    return path if path.is_absolute() or folder is None else folder / path


def _music(raw: Any, kind: str, folder: Path | None, where: str) -> tuple[Music, dict[str, Any]]:
    """A sound's table (or a bare file name): its Music and the table's other keys, checked."""
    table = {"file": raw} if isinstance(raw, str) else raw
    schema = _TABLES[kind]
    for key, value in table.items():
        if key not in schema:
            raise ManifestError(f"{where}: unknown key {key!r} (allowed: {', '.join(schema)})")
        _typed(value, schema[key], where, key)
    if "file" not in table:
        raise ManifestError(f"{where}: 'file' is required")
    numbers = {k: float(_ranged(v, k, where)) for k, v in table.items() if k in _RANGES}
    music = Music(_path(table["file"], folder, where), **{k: numbers[k] for k in ("gain_db", "length_s", "fade_s")
                                                         if k in numbers})
    rest = {k: numbers.get(k, v) for k, v in table.items() if k not in _MUSIC_KEYS}
    return music, rest


def _cue(kind: str, raw: Any, folder: Path | None, where: str) -> Music | str | None:
    if kind not in CUE_KINDS:
        raise ManifestError(f"{where}: {kind!r} is not a kind of sound cue ({', '.join(CUE_KINDS)})")
    if raw == "" or raw is False:
        return None  # the cue plays nothing, said so
    if isinstance(raw, str) and raw in NAMED:
        return raw
    if not isinstance(raw, (str, dict)):
        raise ManifestError(f"{where}: {kind} maps to a file, a table {{ file = ... }}, one of "
                            f"{', '.join(map(repr, NAMED))}, or \"\" for nothing")
    return _music(raw, "cue", folder, f"{where}.{kind}")[0]


def sound_from_dict(table: Any, *, source: str, folder: Path | None, name: str = "[sound]") -> SoundSettings:
    """Validate a ``[sound]`` table; paths are taken relative to *folder* (the manifest's)."""
    where = f"{source} {name}"
    if not isinstance(table, dict):
        raise ManifestError(f"{where} must be a table")
    for key, value in table.items():
        if key not in _TOP:
            raise ManifestError(f"{where}: unknown key {key!r} (allowed: {', '.join(_TOP)})")
        _typed(value, _TOP[key], where, key)
    values: dict[str, Any] = {k: _ranged(v, k, where) for k, v in table.items() if k in _RANGES}
    if "chapters" in table:
        values["chapters"] = table["chapters"]
    if "intro" in table:
        music, rest = _music(table["intro"], "intro", folder, f"{where} intro")
        if not isinstance(table["intro"], dict) or "fade_s" not in table["intro"]:
            music = replace(music, fade_s=INTRO_FADE_S)
        values["intro"] = Intro(music, **rest)
    if "outro" in table:
        music, rest = _music(table["outro"], "outro", folder, f"{where} outro")
        values["outro"] = Outro(music, **rest)
    if "stinger" in table:
        values["stinger"] = _music(table["stinger"], "stinger", folder, f"{where} stinger")[0]
    if "cues" in table:
        values["cues"] = tuple((kind, _cue(kind, raw, folder, f"{where} cues"))
                               for kind, raw in table["cues"].items())
    for key in ("ramp_ms", "ramp_down_ms", "hold_ms"):
        if key in values:
            values[key] = int(values[key])
    if "duck_db" in values:
        values["duck_db"] = float(values["duck_db"])
    return SoundSettings(**values, given=frozenset(table))


def merged(base: SoundSettings | None, over: SoundSettings | None) -> SoundSettings | None:
    """*over*'s keys over *base*'s (an episode's [sound] over its show's); cues merge kind by kind."""
    if base is None or over is None:
        return over or base
    changes = {k: getattr(over, k) for k in over.given if k != "cues"}
    if "cues" in over.given:
        changes["cues"] = tuple({**dict(base.cues), **dict(over.cues)}.items())
    return replace(base, **changes, given=base.given | over.given)


def _file_digest(path: Path) -> str:
    from ..files import file_digest

    try:
        return file_digest(path)
    except OSError:
        return "missing"  # the render refuses it; the key only needs to differ


def fingerprint(settings: SoundSettings | None) -> str:
    """What the episode's audio takes from its sound settings and their files, as one hash ("" without)."""
    if settings is None:
        return ""

    def plain(value: Any) -> Any:
        if isinstance(value, Path):
            return [str(value), _file_digest(value)]
        if hasattr(value, "__dataclass_fields__"):
            return {f.name: plain(getattr(value, f.name)) for f in fields(value) if f.name != "given"}
        if isinstance(value, tuple):
            return [plain(v) for v in value]
        return value

    return hashlib.sha256(json.dumps(plain(settings), sort_keys=True).encode()).hexdigest()
