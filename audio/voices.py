"""Voices: validation, and default voices for speakers the manifest gives none.

Defaults are distinct (no two speakers share a voice and pitch), honour a
speaker's ``gender`` when the manifest says it (never guessed from a
name), and come from a list of voices that Whisper understands well: the
neural voices first, then espeak-ng voices measured with
``scripts/voice_survey.py``.  ``--engine ENGINE`` puts every speaker on that
engine: a speaker's own ``voices.ENGINE`` if the manifest has one, else
the engine's defaults.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, replace

from . import engines
from .errors import EngineMissingError, VoiceError
from .manifest import Speaker

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Candidate:
    voice: str  # ENGINE:VOICE
    gender: str
    pitch_st: float = 0.0


# espeak-ng voices in the order they are given out: the eight that tiny.en
# understood best at 160 wpm with a 40 ms word gap among 79 surveyed
# (scripts/voice_survey.py: 3.0-7.6% WER on three passages, where the
# Scottish and Caribbean voices defaulted to before scored 17-18%), male and
# female by turns, and no two sharing both accent and variant family.
PYTTSX3_DEFAULTS = (
    Candidate("pyttsx3:gmw/en-us+m1", "male"),  # 3.0%
    Candidate("pyttsx3:gmw/en-gb-x-rp+steph", "female"),  # 5.5%
    Candidate("pyttsx3:gmw/en-gb-x-rp+m4", "male"),  # 4.9%
    Candidate("pyttsx3:gmw/en-us+f2", "female"),  # 6.7%
    Candidate("pyttsx3:gmw/en-gb-x-gbclan", "male"),  # 5.7%
    Candidate("pyttsx3:gmw/en-us+Annie", "female"),  # 7.6%
    Candidate("pyttsx3:gmw/en-us+m3", "male"),  # 3.6%
    Candidate("pyttsx3:gmw/en+f2", "female"),  # 7.0%
)
# One neural model voices further speakers a few semitones up or down:
# enough to tell apart, not so far that it sounds processed.
PITCH_STEPS_ST = (0.0, -3.0, 3.0)


def check_voice(voice: str) -> str:
    """Return *voice* if it can be spoken here and now, else raise VoiceError."""
    engines.check_voice(voice)
    return voice


def _usable(voice: str, engine_asked: bool) -> bool:
    try:
        engines.check_voice(voice)
    except EngineMissingError:
        if engine_asked:  # `--engine X` without X installed: say what to install
            raise
        return False  # among all engines, a missing one just offers no voices
    except VoiceError:
        return False
    return True


def candidates(engine: str | None = None) -> list[Candidate]:
    """Default voices in the order they are given out (only those usable here).

    With *engine* (``--engine``), an unknown engine or its missing package is an error.
    """
    out: list[Candidate] = []
    names = [engine] if engine else [*engines.NEURAL, "pyttsx3"]
    for name in names:
        if name == "pyttsx3":
            out += [c for c in PYTTSX3_DEFAULTS if _usable(c.voice, engine is not None)]
            continue
        try:
            installed = [v for v in engines.engine(name).voices()
                         if v.installed and _usable(v.name, engine is not None)]
        except EngineMissingError:
            if engine is not None:
                raise
            continue  # the engine's package is missing: its voices are not candidates
        for pitch in PITCH_STEPS_ST if engine else (0.0,):
            out += [Candidate(v.name, v.gender, pitch) for v in installed]
    return out


def assign_default_voices(speakers: tuple[Speaker, ...], engine: str | None = None) -> tuple[Speaker, ...]:
    """Give each speaker without a voice a distinct default voice.

    With *engine*, every speaker gets a voice of that engine: its own
    ``voices.ENGINE`` from the manifest if it has one, else a default.
    """
    if engine is not None:
        # a speaker's own pitch step goes with its own voice, where the engine takes one (pyttsx3 does not:
        # two speakers on one espeak-ng voice must not count as distinct by a pitch never applied)
        pitched = "pitch_st" in engines.engine(engine).SETTINGS
        speakers = tuple(replace(s, voice=s.voice_for(engine) or "",
                                 pitch_st=s.pitch_st if s.voice_for(engine) and pitched else 0.0) for s in speakers)
    pool = candidates(engine)
    taken = {(engines.canonical(s.voice), s.pitch_st) for s in speakers if s.voice}
    out: list[Speaker] = []
    last_gender = ""
    for s in speakers:
        if s.voice:
            out.append(s)
            continue
        free = [c for c in pool if (c.voice, c.pitch_st) not in taken]
        if not free:
            raise VoiceError(f"no distinct default voice is left for speaker {s.name!r}: give it a voice in the "
                             f"manifest (see `episode voices`)")
        if s.gender:
            # a voice of unknown gender can serve anyone; failing both, the
            # nearest a pitch step can make (up for a woman, down for a man)
            pick = next((c for c in free if c.gender == s.gender), None) or \
                next((c for c in free if not c.gender), None)
            if pick is None:
                toward = 1 if s.gender == "female" else -1
                pick = max(free, key=lambda c: toward * c.pitch_st)
                log.warning("no %s voice left for %s: %s at %+g semitones", s.gender, s.name, pick.voice,
                            pick.pitch_st)
        else:  # alternate, so that a host and a guest sound unlike each other
            pick = next((c for c in free if c.gender and c.gender != last_gender), free[0])
        taken.add((pick.voice, pick.pitch_st))
        last_gender = pick.gender
        out.append(replace(s, voice=pick.voice, pitch_st=pick.pitch_st))
    return tuple(out)
