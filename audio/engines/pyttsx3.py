"""The pyttsx3 engine: espeak-ng's formant voices, every language espeak-ng speaks.

A voice is an espeak-ng id as pyttsx3 lists it, optionally with a variant:
``gmw/en-us``, ``gmw/en-us+m3``.  Speech runs in the isolated worker
(:mod:`audio.engines.worker`), one fresh engine per sentence in a forked
child: pyttsx3 can hang, return before the file exists, or drop queued
files (upstream issues #126, #170, #194, #219), and a separate process is
the only thing that can be killed cleanly when it does.
"""

from __future__ import annotations

import contextlib
import functools
import os
import signal
import time
import wave
from importlib import metadata

from .. import tools
from ..errors import EngineMissingError, SynthesisError, VoiceError
from . import VoiceInfo, WorkCost
from .clip import append_cues

NAME = "pyttsx3"
LICENCE = "pyttsx3 MPL-2.0; espeak-ng GPL-3.0-or-later"
SAMPLE_RATE_HZ = 22050
SETTINGS = ("rate_wpm", "word_gap_ms")  # what of a speaker changes the sound
VERSION = 5  # bump when the worker changes how it speaks (invalidates cached clips)
COST = WorkCost(load_ms=0, per_char_ms=0.2, per_job_ms=25)  # a fresh engine per job, no model

# One save_to_file + runAndWait per file (queuing several before one
# runAndWait wrote only the first, pyttsx3 2.99); a job whose child wrote
# no valid WAV is tried again in a new child, this many times in all.
_ATTEMPTS = 3
_CHILD_TIMEOUT_S = 15  # one sentence takes well under a second
_POLL_S = 0.001  # how often to look whether espeak-ng is done
_WORDGAP = 7  # espeakWORDGAP in espeak-ng's speak_lib.h (pyttsx3 names no constant for it)


# ---------------------------------------------------------------- the rendering side

def phonemes(word: str, ipa: str) -> str:
    """A pronunciation in IPA as espeak-ng's ``[[...]]`` phoneme input."""
    from .ipa import to_espeak_mnemonics

    return "[[" + to_espeak_mnemonics(word, ipa) + "]]"


@functools.cache
def _espeak_voices() -> tuple[tuple[str, str, str, str], ...]:
    """(id, language, name, gender letter) from ``espeak-ng --voices``.

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
            voices.append((fields[4].lower(), fields[1], fields[3].replace("_", " ").strip(), fields[2][-1:]))
    if not voices:
        raise SynthesisError("espeak-ng lists no voices: is espeak-ng-data installed?")
    return tuple(voices)


@functools.cache
def variants() -> tuple[tuple[str, str], ...]:
    """(variant name, gender letter): ``m3``, ``f2``, ``klatt``... from ``espeak-ng --voices=variant``."""
    out = tools.run(["espeak-ng", "--voices=variant"], what="listing variants").stdout.decode()
    names = []
    for line in out.splitlines()[1:]:
        # Pty Language Age/Gender VoiceName File; a file name may hold a
        # space ("!v/Mr serious"), so it runs from "!v/" to two spaces or the end
        fields = line.split()
        if len(fields) >= 5 and fields[4].startswith("!v/"):
            names.append((line.split("!v/", 1)[1].split("  ")[0].strip(), fields[2][-1:]))
    return tuple(names)


_GENDER = {"M": "male", "F": "female"}


def _accent(name: str) -> str:
    inside = name.partition("(")[2].rstrip(")")
    return inside.replace(",", ";").strip()


def voices() -> list[VoiceInfo]:
    return [VoiceInfo(NAME, vid, lang, _accent(name), _GENDER.get(g, ""), SAMPLE_RATE_HZ, LICENCE, True,
                      "espeak-ng (Debian package espeak-ng)") for vid, lang, name, g in _espeak_voices()]


def gender_of(voice_id: str) -> str:
    """A voice's gender as espeak-ng gives it; a variant's wins over its base voice's."""
    base, _, variant = voice_id.partition("+")
    for name, g in variants():
        if variant and name == variant:
            return _GENDER.get(g, "")
    for vid, _, _, g in _espeak_voices():
        if vid == base or vid.split("/")[-1] == base:
            return _GENDER.get(g, "")
    return ""


def check(voice_id: str) -> None:
    """Refuse a voice espeak-ng does not have, naming near matches."""
    tools.require("espeak-ng")
    try:
        import pyttsx3  # noqa: F401 - only whether it is there
    except ImportError:
        raise EngineMissingError("the pyttsx3 engine is not installed: pip install pyttsx3==2.99") from None
    base, _, variant = voice_id.partition("+")
    ids = {v[0] for v in _espeak_voices()}
    short = {v.split("/")[-1] for v in ids}
    if base not in ids and base not in short:
        near = sorted(i for i in ids if base.split("/")[-1].split("-")[0] in i)[:6]
        hint = f" (similar: {', '.join(near)})" if near else " (see `episode voices`)"
        raise VoiceError(f"voice {voice_id!r} is not installed{hint}")
    if variant and variant not in {name for name, _ in variants()}:
        raise VoiceError(f"voice variant {variant!r} in {voice_id!r} is not installed (see `episode voices`)")


@functools.cache
def fingerprint(voice_id: str) -> str:
    return f"v{VERSION}/pyttsx3-{metadata.version('pyttsx3')}/{tools.espeak_version()}"


# ---------------------------------------------------------------- the worker side

def _wav_ok(path: str) -> bool:
    try:
        with wave.open(path, "rb") as w:
            return w.getnframes() > 0
    except (OSError, EOFError, wave.Error):
        return False


class _WordEvents:
    """espeak-ng's word events for the utterance being spoken.

    pyttsx3 passes on a word's place in the text but not where it falls in
    the audio, so the synthesis callback is wrapped to keep
    ``audio_position`` (ms from the start of the utterance) as well.
    """

    def __init__(self, engine, espeak) -> None:
        self.marks: list[tuple[int, int]] = []  # (text_position, audio_position_ms)
        driver = engine.proxy._driver
        word, end = espeak.EVENT_WORD, espeak.EVENT_LIST_TERMINATED

        def callback(wav, numsamples, events):
            i = 0
            while events[i].type != end:
                if events[i].type == word:
                    self.marks.append((events[i].text_position, events[i].audio_position))
                i += 1
            return driver._onSynth(wav, numsamples, events)

        self._callback = callback  # ctypes keeps no reference of its own
        espeak.SetSynthCallback(callback)


def _append_word_cues(path: str, marks: list[tuple[int, int]], prefix_chars: int) -> None:
    """One cue point per spoken word: its character offset in the job's text, its first sample."""
    with wave.open(path, "rb") as w:
        rate = w.getframerate()
    # positions count from 1 and include the speed command before the text
    append_cues(path, [(max(0, pos - 1 - prefix_chars), round(ms * rate / 1000)) for pos, ms in marks])


def _apply(engine, espeak, job: dict) -> None:
    espeak.SetParameter(_WORDGAP, round(job.get("word_gap_ms", 0) / 10), 0)
    espeak.SetParameter(espeak.RATE, int(job["rate_wpm"]), 0)
    engine.setProperty("voice", job["voice"])
    _until_applied(espeak)


def _until_applied(espeak) -> None:
    """Wait until espeak-ng's own thread has applied the queued parameter changes.

    In pyttsx3's mode (AUDIO_OUTPUT_RETRIEVAL) SetParameter only queues a
    command for that thread.  An utterance started while one was still
    queued now and then came out without its word gap, 18% shorter: 1 clip
    in 1000, and 9 in 500 once children started faster (see
    _list_voices_before_forking).  With this wait: none in 1500.
    """
    while espeak.IsPlaying():
        time.sleep(_POLL_S)


def _speed_command(rate_wpm: int) -> str:
    # espeak-ng's embedded speed command travels with the text, so it cannot
    # lag behind the way the rate parameter does (see _settle).
    return f"\x01{int(rate_wpm)}S "


def _say(engine, text: str, rate_wpm: int, path: str) -> None:
    engine.save_to_file(_speed_command(rate_wpm) + text, path)
    engine.runAndWait()


def _settle(engine, espeak, job: dict, scratch: str) -> None:
    """Make the job's voice, rate and word gap take effect.

    espeak-ng applies a changed parameter only from the utterance after the
    one it was set for: the first sentence after a change came out with the
    previous word gap or rate (seen here, pyttsx3 2.99, espeak-ng 1.51).  A
    throwaway utterance with the new settings absorbs that lag.
    """
    _apply(engine, espeak, job)
    _say(engine, "ready", job["rate_wpm"], scratch)


def _speak_one(job: dict, scratch: str) -> bool:
    """In a fresh engine: settle the job's settings, speak it, mark its words."""
    import pyttsx3
    from pyttsx3.drivers import _espeak as espeak

    engine = pyttsx3.init("espeak")
    events = _WordEvents(engine, espeak)
    # The first runAndWait of a fresh engine sometimes returns before
    # anything is written (seen here): the settling utterance takes that hit.
    _settle(engine, espeak, job, scratch)
    _apply(engine, espeak, job)
    events.marks.clear()
    _say(engine, job["text"], job["rate_wpm"], job["path"])
    if not _wav_ok(job["path"]):
        return False
    _append_word_cues(job["path"], events.marks, len(_speed_command(job["rate_wpm"])))
    return True


def _in_fresh_engine(job: dict, scratch: str) -> bool:
    """Speak *job* in a child forked before any engine exists.

    espeak-ng carries synthesis state from one utterance to the next (the
    same sentence said five times in one process gave five different
    files), so a clip would depend on what its worker spoke before it: on
    how jobs were batched, and so on whether it came from the cache.  A
    child that starts from the same state every time makes each clip a
    function of its job alone.  Forking an initialised engine hangs (its
    audio thread does not survive the fork), so each child makes its own.
    """
    pid = os.fork()
    if pid == 0:  # the child: never return into the parent's code
        code = 1
        try:
            signal.alarm(_CHILD_TIMEOUT_S)  # a hung engine dies; the parent retries
            code = 0 if _speak_one(job, scratch) else 1
        except BaseException:  # noqa: BLE001 - reported through the exit code
            code = 1
        finally:
            os._exit(code)
    _, status = os.waitpid(pid, 0)
    return os.waitstatus_to_exitcode(status) == 0 and _wav_ok(job["path"])


def _poll_faster(driver_module) -> None:
    """Make the espeak driver's wait loop look every 1 ms instead of every 10 ms.

    runAndWait polls for the end of synthesis with ``time.sleep(0.01)``; a
    sentence takes about as long to synthesise, so half of each job was
    spent asleep (two waits a job: the settling utterance and the sentence).
    Only the wait changes, not what is spoken.
    """
    real_time = driver_module.time

    class _Time:
        def __getattr__(self, name):
            return getattr(real_time, name)

        @staticmethod
        def sleep(seconds: float) -> None:
            real_time.sleep(min(seconds, _POLL_S))

    driver_module.time = _Time()


def _list_voices_before_forking() -> None:
    """Have espeak-ng read its voice list once, here, for every child to inherit.

    A fresh engine's first SetVoiceByName finds the voice list empty and
    reads every voice file (about 400 opens and 700 reads), in every child:
    that was a third of a sentence's time.  Setting the data path and
    listing the voices starts no thread (unlike Initialize, which is why
    children cannot inherit an engine), so forking stays safe, and the
    clips are byte for byte the same.  Faster children exposed the race
    that _until_applied closes.  A library without the call just scans in
    each child, as before.
    """
    from pyttsx3.drivers import _espeak

    initialize_path = getattr(_espeak.dll, "espeak_ng_InitializePath", None)
    if initialize_path is not None:
        initialize_path(None)  # espeak-ng's default data folder, as Initialize(path=NULL) uses
        _espeak.ListVoices(None)


def _read_phoneme_input() -> None:
    """Let the text carry ``[[...]]`` phonemes (the lexicon's IPA entries).

    pyttsx3 synthesises without espeak-ng's phoneme-input flag, which the
    espeak-ng program sets by default; text without ``[[`` sounds the same.
    """
    from pyttsx3.drivers import _espeak

    synth = _espeak.Synth

    def with_phonemes(text, *args, flags=0, **kwargs):
        return synth(text, *args, flags=flags | _espeak.PHONEMES, **kwargs)

    _espeak.Synth = with_phonemes


class Worker:
    """Speaks jobs in the worker process, each in a freshly forked engine."""

    def __init__(self, threads: int = 1) -> None:
        import pyttsx3.drivers.espeak  # loaded once, before the children fork

        _poll_faster(pyttsx3.drivers.espeak)
        _read_phoneme_input()
        _list_voices_before_forking()

    def speak(self, job: dict, scratch_dir: str) -> int:
        """Write ``job["path"]``; return the attempts it took (a failure raises)."""
        for attempt in range(1, _ATTEMPTS + 1):
            with contextlib.suppress(FileNotFoundError):
                os.remove(job["path"])
            if _in_fresh_engine(job, os.path.join(scratch_dir, f"settle-{attempt}.wav")):
                return attempt
        raise SynthesisError(f"espeak-ng wrote no audio in {_ATTEMPTS} fresh engines")
