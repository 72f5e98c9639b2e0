"""Voices: validation, and default voices for speakers the manifest gives none.

Defaults are distinct (no two speakers share a voice and pitch), honour a
speaker's ``gender`` when the manifest says it (never guessed from a
name), and are given out by talk time: the host first, then speakers by
the words they speak, each taking the most natural voice left.  The
neural models and the voices derived from them come first
(``engines/derived.py``: six, ranked by measured naturalness); espeak-ng's
voices that Whisper understands best (``scripts/voice_survey.py``) only
beyond them, with a warning naming the speaker.  ``--engine ENGINE`` puts every speaker on that
engine: a speaker's own ``voices.ENGINE`` if the manifest has one, else
the engine's defaults.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace

from . import engines
from .engines import derived, parse_voice
from .errors import EngineMissingError, VoiceError
from .manifest import Speaker

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Candidate:
    voice: str  # ENGINE:VOICE, or a derived voice ENGINE:VOICE~NAME
    gender: str
    rank: int = 0  # 1 the most natural; 0 for a voice outside the ranked neural list


@dataclass(frozen=True)
class Assignment:
    speakers: tuple[Speaker, ...]
    warnings: tuple[str, ...] = ()  # one line each: a speaker on espeak-ng, a gender no voice was left for


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
def check_voice(voice: str) -> engines.VoiceSpec:
    """*voice* parsed, if it can be spoken here and now, else raise VoiceError."""
    return engines.check_voice(voice)


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

    The neural models and their derived voices first, by rank, then any
    other installed neural voice, then espeak-ng's.  With *engine*
    (``--engine``), only that engine's; an unknown engine or its missing
    package is an error.
    """
    out: list[Candidate] = []
    names = [engine] if engine else [*engines.NEURAL, "pyttsx3"]
    out += [Candidate(d.voice, d.gender, i + 1) for i, d in enumerate(derived.RANKED)
            if parse_voice(d.base).engine in names and _usable(d.voice, engine is not None)]
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
        ranked = {d.base for d in derived.RANKED}
        out += [Candidate(v.name, v.gender) for v in installed if v.name not in ranked]
    return out


def _sound(voice: str, pitch_st: float) -> tuple[str, float]:
    """What a voice sounds as: its model and its pitch (two names for one sound are one voice)."""
    spec = parse_voice(voice)
    if spec.engine not in engines.NEURAL:
        return spec.name, 0.0  # pyttsx3 takes no pitch_st
    shift, _ = engines.derived_settings(spec)
    return spec.base, round(shift + pitch_st, 3)


def talk_order(speakers: Sequence[Speaker], words: Mapping[str, int]) -> list[int]:
    """Indices of *speakers* in the order they choose voices: hosts first, then by words spoken, most first.

    A one-line caller never takes a better voice from a main panelist.
    """
    return sorted(range(len(speakers)), key=lambda i: (speakers[i].role not in ("host", "narrator"),
                                                       -words.get(speakers[i].id, 0), i))


def assign_voices(speakers: tuple[Speaker, ...], engine: str | None = None,
                  words: Mapping[str, int] | None = None) -> Assignment:
    """Give each speaker without a voice a distinct default voice, the best to those who speak most.

    With *engine*, every speaker gets a voice of that engine: its own
    ``voices.ENGINE`` from the manifest if it has one, else a default.
    *words* (speaker id -> words spoken) orders who chooses first.
    """
    if engine is not None:
        # a speaker's own pitch step goes with its own voice, where the engine takes one (pyttsx3 does not:
        # two speakers on one espeak-ng voice must not count as distinct by a pitch never applied)
        pitched = "pitch_st" in engines.engine(engine).SETTINGS
        speakers = tuple(replace(s, voice=s.voice_for(engine) or "",
                                 pitch_st=s.pitch_st if s.voice_for(engine) and pitched else 0.0) for s in speakers)
    pool = candidates(engine)
    taken = {_sound(s.voice, s.pitch_st) for s in speakers if s.voice}
    out = list(speakers)
    warnings: list[str] = []
    natural = sum(1 for c in pool if parse_voice(c.voice).engine in engines.NEURAL)
    for i in talk_order(speakers, words or {}):
        s = speakers[i]
        if s.voice:
            continue
        free = [c for c in pool if _sound(c.voice, 0.0) not in taken]
        if not free:
            if engine is not None:
                raise VoiceError(f"no distinct {engine} voice is left for speaker {s.name!r}: {engine} has "
                                 f"{len(pool)} here; give it another engine's voice with --voice, or render "
                                 f"without --engine")
            raise VoiceError(f"no distinct default voice is left for speaker {s.name!r}: give it a voice in the "
                             f"manifest (see `episode voices`)")
        pick = free[0]
        if s.gender:
            # a voice of unknown gender can serve anyone
            pick = next((c for c in free if c.gender == s.gender), None) or \
                next((c for c in free if not c.gender), None) or free[0]
            if pick.gender and pick.gender != s.gender:
                warnings.append(f"no {s.gender} voice is left for {s.name}: {pick.voice}")
        if engine is None and natural and parse_voice(pick.voice).engine not in engines.NEURAL:
            warnings.append(f"{s.name} gets the espeak-ng voice {pick.voice}: the {natural} natural voices are "
                            f"taken by speakers who talk more (give one a voice in the manifest)")
        taken.add(_sound(pick.voice, 0.0))
        out[i] = replace(s, voice=pick.voice, pitch_st=0.0)
    return Assignment(tuple(out), tuple(warnings))


def assign_default_voices(speakers: tuple[Speaker, ...], engine: str | None = None,
                          words: Mapping[str, int] | None = None) -> tuple[Speaker, ...]:
    """:func:`assign_voices`'s speakers, its warnings logged."""
    assignment = assign_voices(speakers, engine, words)
    for line in assignment.warnings:
        log.warning("%s", line)
    return assignment.speakers


def listing(engine: str | None = None) -> list[str]:
    """``episode voices``: every engine's voices, then the derived voices and the order defaults go out in."""
    from .engines import pyttsx3

    lines = []
    names = [engine] if engine else list(engines.ENGINES)
    for name in names:
        module = engines.engine(name)
        listed = module.voices()
        lines.append(f"{name}: {len(listed)} voices; licence: {module.LICENCE}")
        for v in listed:
            state = "installed" if v.installed else "not installed"
            lines.append(f"  {v.name:<34} {v.language:<8} {v.accent[:24]:<24} {v.gender or '-':<7} "
                         f"{v.sample_rate_hz:>6} Hz  {state}  ({v.source})")
        if name == "pyttsx3":
            lines.append("  variants (append as VOICE+VARIANT): " + " ".join(n for n, _ in pyttsx3.variants()))
    ranked = [d for d in derived.RANKED if engine is None or parse_voice(d.base).engine == engine]
    if ranked:
        lines.append("derived voices: a model at a pitch and pace of its own (ENGINE:VOICE~NAME, or "
                     "~pitch_st=N,speed=X); the licence is the model's")
        for d in ranked:
            if d.name:
                lines.append(f"  {d.voice:<34} from {d.base}, pitch_st {d.pitch_st:+g}, speed {d.speed:g}, "
                             f"{d.gender or 'either gender'}")
    lines.append("default voices, in the order they are given out (host first, then by words spoken):")
    for n, c in enumerate(candidates(engine), 1):
        scored = next((d for d in derived.RANKED if d.voice == c.voice), None)
        score = f"  Distill-MOS {scored.distill_mos:.2f}, DNSMOS {scored.dnsmos:.2f}" if scored else ""
        lines.append(f"  {n:>2}. {c.voice:<34} {c.gender or '-':<7}{score}")
    return lines
