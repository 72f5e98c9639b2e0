"""Derived voices: more distinct, natural voices from the installed neural models.

Two neural models are installed offline (hibari ``heart`` and Piper
``joe``); a panel of up to six needs six voices.  A derived voice is a
model played a few semitones lower or higher with its formants moved with
the pitch (``asetrate`` then a band-limited resample, as a shorter or longer
vocal tract would move them) and the length kept (``atempo``), at a pace of
its own: ``hibari:heart~deep``.  It is a voice like any other: it goes in a
manifest or ``--voice``, it is listed by ``episode voices``, and its
settings go into the clip's cache key, because they are the job's
``pitch_st`` and ``speed``.

The method and the settings were chosen by measurement (``scripts/bench.py
--voices`` and ``scripts/voice_transforms.py``): against WORLD (pyworld)
re-synthesis, which moves F0 and the spectral envelope independently,
the resampling shift kept Distill-MOS at 4.2-4.7 where WORLD fell to
2.5-4.3 (Piper's joe worst), and WORLD's formant-only shifts stayed at a
GE2E speaker cosine of 0.86-0.98 to their base: no more distinct, only
rougher.  ``heart`` only goes down and ``joe`` only up: ``heart`` +3
semitones scored 3.45 and ``joe`` -3 scored 3.78.

``~pitch_st=-4,speed=0.9`` instead of a name gives any settings within the
ranges below.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from ..errors import VoiceError

PITCH_RANGE_ST = (-12.0, 12.0)
SPEED_RANGE = (0.5, 2.0)


@dataclass(frozen=True)
class Derived:
    base: str  # ENGINE:VOICE of the model it is made from
    name: str  # after the "~"
    pitch_st: float
    speed: float
    gender: str  # "" where the shift leaves it in between (about 125-130 Hz median F0)
    # Distill-MOS and DNSMOS P.808 of the voice on eight panel sentences,
    # levelled, 16 kHz (scripts/bench.py --voices reproduces them in panels)
    distill_mos: float
    dnsmos: float

    @property
    def voice(self) -> str:
        return f"{self.base}~{self.name}" if self.name else self.base


HEART = "hibari:heart"
JOE = "piper:en_US-joe-medium"
# Default voices in the order they are given out, best first: the two models,
# then their derived voices.  Speaker-embedding (GE2E) cosine between any two of
# the six is at most 0.77 (joe~bright and joe~brighter), and of the first four
# at most 0.72 (heart and heart~deep); heart and joe are 0.48.  joe is given
# out at a measured pace (speed 0.9 of Piper's duration scale: its sentences
# about 4% longer): at its own, tiny.en misheard it most of the six ("felt it"
# as "fell at", "where" as "or"; 6.0%, 9.9% and 8.5% WER on the bench's panels
# of 3, 4 and 6, against 1.2%, 2.5% and 7.3%), for the same Distill-MOS (4.57).
# A manifest naming piper:en_US-joe-medium (the seed's) keeps its own pace.
RANKED = (
    Derived(HEART, "", 0.0, 1.0, "female", 4.64, 4.22),
    Derived(JOE, "measured", 0.0, 0.9, "male", 4.57, 4.26),
    Derived(HEART, "deep", -3.0, 0.95, "female", 4.69, 4.26),
    Derived(JOE, "bright", 3.0, 1.05, "male", 4.45, 4.28),
    Derived(HEART, "deeper", -7.0, 1.0, "", 4.28, 4.28),
    Derived(JOE, "brighter", 6.0, 1.0, "", 4.23, 4.10),
)
NAMED = {d.voice: d for d in RANKED if d.name}


def split(voice: str) -> tuple[str, str]:
    """``hibari:heart~deep`` -> (``hibari:heart``, ``deep``); a voice without ``~`` -> (voice, "")."""
    base, _, transform = voice.partition("~")
    return base, transform


def settings(base: str, transform: str, name: str) -> tuple[float, float]:
    """The (pitch_st, speed) of a derived voice *base*~*transform*; *name* is the whole name, for messages."""
    if not transform:
        return 0.0, 1.0
    if "=" not in transform:
        found = NAMED.get(f"{base}~{transform}")
        if found is None:
            known = ", ".join(d.voice for d in RANKED if d.name and d.base == base) or "none"
            raise VoiceError(f"unknown derived voice {name!r} (derived voices of {base}: {known}; or "
                             f"{base}~pitch_st=-4,speed=0.9)")
        return found.pitch_st, found.speed
    values = {"pitch_st": 0.0, "speed": 1.0}
    for part in transform.split(","):
        key, sep, raw = (p.strip() for p in part.partition("="))
        if key not in values or not sep:
            raise VoiceError(f"unknown transform setting {key!r} in voice {name!r} (settings: pitch_st, speed)")
        try:
            values[key] = float(raw)
        except ValueError:
            raise VoiceError(f"transform setting {key} = {raw!r} in voice {name!r} is not a number") from None
        if not math.isfinite(values[key]):
            raise VoiceError(f"transform setting {key} = {raw!r} in voice {name!r} is not a number")
    low, high = PITCH_RANGE_ST
    if not low <= values["pitch_st"] <= high:
        raise VoiceError(f"pitch_st {values['pitch_st']:g} in voice {name!r} is outside {low:g}..{high:g} semitones")
    low, high = SPEED_RANGE
    if not low <= values["speed"] <= high:
        raise VoiceError(f"speed {values['speed']:g} in voice {name!r} is outside {low:g}..{high:g}")
    return values["pitch_st"], values["speed"]


def rank(voice: str) -> int | None:
    """A default voice's rank from 1 (the best), or None for a voice that is not one."""
    return next((i + 1 for i, d in enumerate(RANKED) if d.voice == voice), None)
