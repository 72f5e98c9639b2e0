"""Installed espeak-ng voices, validation, and default voices per speaker.

A voice is ``BASE`` or ``BASE+VARIANT`` (``gmw/en-us+m3``): the base is an
espeak-ng voice id as pyttsx3 lists it, the variant one of espeak-ng's
``!v`` files.
"""

from __future__ import annotations

import functools
import logging
import sys
from dataclasses import dataclass, replace

from . import tools
from .errors import SynthesisError, VoiceError
from .manifest import Speaker

log = logging.getLogger(__name__)

# Distinct by base voice first, then by variant, so that any number of
# inferred speakers get voices a listener can tell apart.
DEFAULT_BASES = ("gmw/en-us", "gmw/en-gb-x-rp", "gmw/en-gb-scotland", "gmw/en-us-nyc", "gmw/en-029")
DEFAULT_VARIANTS = ("m3", "m1", "f2", "m5", "f4")


@dataclass(frozen=True)
class Voice:
    id: str
    name: str
    languages: tuple[str, ...]


def worker_command() -> list[str]:
    return [sys.executable, "-m", "audio.tts_worker"]


@functools.cache
def installed_voices() -> tuple[Voice, ...]:
    """The voices espeak-ng offers, from ``espeak-ng --voices``.

    The same library lists them to pyttsx3's espeak driver, with the same
    ids (the File column, lower-cased; 131 voices here, the same set).
    Asking the program takes 8 ms; asking through a pyttsx3 worker took
    60 ms, before every render could start speaking.
    """
    out = tools.run(["espeak-ng", "--voices"], what="listing voices").stdout.decode("utf-8", "replace")
    voices = []
    for line in out.splitlines()[1:]:
        # Pty Language Age/Gender VoiceName File Other-languages...; the program
        # writes spaces in a name as underscores, so that columns split
        fields = line.split()
        if len(fields) >= 5:
            voices.append(Voice(fields[4].lower(), fields[3].replace("_", " ").strip(), (fields[1],)))
    if not voices:
        raise SynthesisError("espeak-ng lists no voices: is espeak-ng-data installed?")
    return tuple(voices)


@functools.cache
def installed_variants() -> tuple[str, ...]:
    """Variant names (``m3``, ``f2``, ``klatt``...) from ``espeak-ng --voices=variant``."""
    out = tools.run(["espeak-ng", "--voices=variant"], what="listing variants").stdout.decode()
    names = []
    for line in out.splitlines()[1:]:
        fields = line.split()
        if len(fields) >= 5 and fields[4].startswith("!v/"):
            names.append(fields[4][3:])
    return tuple(names)


def check_voice(voice: str) -> str:
    """Return *voice* if installed, else raise VoiceError naming near matches."""
    base, _, variant = voice.partition("+")
    ids = {v.id for v in installed_voices()}
    short = {v.id.split("/")[-1]: v.id for v in installed_voices()}
    if base not in ids and base not in short:
        near = sorted(i for i in ids if base.split("/")[-1].split("-")[0] in i)[:6]
        hint = f" (similar: {', '.join(near)})" if near else " (see `episode voices`)"
        raise VoiceError(f"voice {voice!r} is not installed{hint}")
    if variant and variant not in installed_variants():
        raise VoiceError(f"voice variant {variant!r} in {voice!r} is not installed (see `episode voices`)")
    return voice


def assign_default_voices(speakers: tuple[Speaker, ...]) -> tuple[Speaker, ...]:
    """Give each speaker without a voice a distinct default voice."""
    taken = {s.voice for s in speakers if s.voice}
    out = []
    n = 0
    for s in speakers:
        if s.voice:
            out.append(s)
            continue
        while True:
            base = DEFAULT_BASES[n % len(DEFAULT_BASES)]
            variant = DEFAULT_VARIANTS[(n // len(DEFAULT_BASES) + n) % len(DEFAULT_VARIANTS)]
            n += 1
            candidate = f"{base}+{variant}"
            if candidate not in taken:
                break
        taken.add(candidate)
        out.append(replace(s, voice=candidate))
    return tuple(out)
