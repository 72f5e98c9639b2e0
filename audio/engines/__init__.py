"""Speech engines: one module per engine behind one small interface.

A voice is named ``ENGINE:VOICE`` (``hibari:heart``, ``piper:en_US-joe-medium``,
``pyttsx3:gmw/en-us+m3``); a bare espeak-ng id (``gmw/en-us``) still means
pyttsx3.  Each engine module is imported only when one of its voices is
used or listed, and its own packages (onnxruntime, piper, hibari) only
inside the worker process that speaks, so a render that uses only pyttsx3
never pays for the neural engines, and a missing package is a one-line
error naming what to install.

Every engine module provides, on the rendering side:

* ``NAME``, ``LICENCE`` and ``SETTINGS`` (the speaker settings its sound
  depends on, which go into the clip cache key);
* ``voices()``: the :class:`VoiceInfo` of every voice it knows, installed or not;
* ``check(voice_id)``: raise :class:`~audio.errors.VoiceError` for a voice it
  cannot speak offline, :class:`~audio.errors.EngineMissingError` when its
  package is missing;
* ``fingerprint(voice_id)``: everything besides the text and settings that
  the sound depends on (package versions, the model file's hash);

and, inside the speech worker, ``Worker(threads)`` whose ``speak(job)``
writes one clip (see :mod:`audio.engines.clip`).
"""

from __future__ import annotations

import contextlib
import functools
import hashlib
import importlib
import importlib.util
import json
from dataclasses import dataclass
from pathlib import Path
from types import ModuleType

from ..errors import EngineMissingError, VoiceError

ENGINES = ("hibari", "piper", "pyttsx3")  # in the order `episode voices` lists them
# Which engines are neural (natural-sounding, slower) and so preferred for default voices.
NEURAL = ("hibari", "piper")


@dataclass(frozen=True)
class VoiceInfo:
    engine: str
    id: str
    language: str  # BCP 47, e.g. "en-US"
    accent: str
    gender: str  # "female", "male" or "" (not known)
    sample_rate_hz: int
    licence: str
    installed: bool  # False: it would need a download, which a render refuses
    source: str = ""  # where it comes from (package, file)

    @property
    def name(self) -> str:
        return f"{self.engine}:{self.id}"


@dataclass(frozen=True)
class WorkCost:
    """What an engine's work costs one core, in ms of CPU: each engine module's ``COST`` (see audio/schedule.py)."""

    load_ms: float  # loading a voice in a fresh worker
    per_char_ms: float
    per_job_ms: float = 0.0  # a fixed cost per sentence (a fresh engine, the clip's file)


@dataclass(frozen=True)
class VoiceSpec:
    """A parsed voice name."""

    engine: str
    voice: str  # the engine's own id, e.g. "heart", "gmw/en-us+m3"
    transform: str = ""  # a derived voice's, after "~": "deep", "pitch_st=-4,speed=0.9"

    @property
    def base(self) -> str:
        """The model's ``ENGINE:VOICE``, without a derived voice's transform."""
        return f"{self.engine}:{self.voice}"

    @property
    def name(self) -> str:
        return f"{self.base}~{self.transform}" if self.transform else self.base


def parse_voice(name: str) -> VoiceSpec:
    """``ENGINE:VOICE`` -> VoiceSpec; a name without an engine is an espeak-ng id (pyttsx3)."""
    name = name.strip()
    engine, sep, voice = name.partition(":")
    if not sep:
        engine, voice = "pyttsx3", name
    engine = engine.strip().lower()
    voice, _, transform = voice.strip().partition("~")
    voice, transform = voice.strip(), transform.strip().replace(" ", "")
    if engine not in ENGINES:
        raise VoiceError(f"unknown speech engine {engine!r} in voice {name!r} (engines: {', '.join(ENGINES)})")
    if not voice:
        raise VoiceError(f"voice {name!r} names no voice of {engine} (see `episode voices`)")
    if "~" in name and not transform:
        raise VoiceError(f"voice {name!r} names no derived voice after '~' (see `episode voices`)")
    if transform and engine not in NEURAL:
        raise VoiceError(f"voice {name!r}: derived voices are made from the neural engines' models; "
                         f"espeak-ng's own variants are VOICE+VARIANT (see `episode voices --engine pyttsx3`)")
    return VoiceSpec(engine, voice, transform)


def derived_settings(spec: VoiceSpec) -> tuple[float, float]:
    """(pitch_st, speed) of *spec*'s transform: (0, 1) for a model as it is."""
    from .derived import settings

    return settings(spec.base, spec.transform, spec.name)


def canonical(name: str) -> str:
    """The full ``ENGINE:VOICE`` form of a voice name."""
    return parse_voice(name).name


def engine(name: str) -> ModuleType:
    """The engine's module (``audio.engines.NAME``), imported on first use."""
    if name not in ENGINES:
        raise VoiceError(f"unknown speech engine {name!r} (engines: {', '.join(ENGINES)})")
    return importlib.import_module(f"{__name__}.{name}")


def check_voice(name: str) -> VoiceSpec:
    """Refuse, before anything is spoken, a voice that cannot be spoken here and now."""
    spec = parse_voice(name)
    derived_settings(spec)  # an unknown name or a setting out of range, before the engine loads anything
    engine(spec.engine).check(spec.voice)
    return spec


def all_voices() -> list[VoiceInfo]:
    out: list[VoiceInfo] = []
    for name in ENGINES:
        out.extend(engine(name).voices())
    return out


def fingerprint(voices) -> str:
    """What the speech of *voices* depends on besides text and settings, as one string.

    A catalogue compares it with the one an episode was rendered with to
    tell whether it would sound the same today.
    """
    parts = []
    for name in sorted({canonical(v) for v in voices}):
        spec = parse_voice(name)
        # a derived voice's settings too: a name keeps its meaning only while its settings stay
        derived = "|pitch_st={:g},speed={:g}".format(*derived_settings(spec)) if spec.transform else ""
        parts.append(f"{spec.name}={engine(spec.engine).fingerprint(spec.voice)}{derived}")
    return ";".join(parts)


def require_packages(engine_name: str, modules: dict[str, str]) -> None:
    """Raise EngineMissingError naming the PyPI packages to install for modules that are missing.

    Looked up without importing them: onnxruntime alone takes a third of a
    second to import, which the rendering process never needs.
    """
    missing = [pypi for module, pypi in modules.items() if importlib.util.find_spec(module) is None]
    if missing:
        raise EngineMissingError(f"the {engine_name} engine is not installed: pip install {' '.join(missing)}")


def file_sha256(path: str | Path) -> str:
    """The SHA-256 of a model file, computed once per version of the file.

    Remembered on disk (``digests.json`` in tools.models_dir()) by the
    file's path, size, mtime and inode, as the kept models are: hashing
    Piper's 63 MB voice took 0.06 s of every render before its first
    worker could start.  A reinstalled package writes new files, and so new
    entries.
    """
    st = Path(path).stat()
    return _sha256(str(path), st.st_size, st.st_mtime_ns, st.st_ino)


@functools.cache
def _sha256(path: str, size: int, mtime_ns: int, inode: int) -> str:
    from .. import files, tools

    store = tools.models_dir() / "digests.json"
    key = f"{path}|{size}|{mtime_ns}|{inode}"
    known = _read_digests(store)
    if key in known:
        return known[key]
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        while chunk := f.read(1 << 20):
            digest.update(chunk)
    # the entries of files gone, and of this file's earlier versions, are dropped
    known = {k: v for k, v in _read_digests(store).items()
             if k.rsplit("|", 3)[0] != path and Path(k.rsplit("|", 3)[0]).exists()}
    known[key] = digest.hexdigest()
    with contextlib.suppress(OSError):  # not kept (a read-only cache): computed again next time
        store.parent.mkdir(parents=True, exist_ok=True)
        files.write_atomic(store, json.dumps(known, indent=0, sort_keys=True))
    return known[key]


def _read_digests(store: Path) -> dict[str, str]:
    try:
        known = json.loads(store.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}
    return {k: v for k, v in known.items() if isinstance(k, str) and isinstance(v, str)} \
        if isinstance(known, dict) else {}
