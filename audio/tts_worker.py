"""The speech worker: one process per batch of jobs, one fresh pyttsx3 engine per job.

Run as ``python -m audio.tts_worker``; it reads a JSON request on stdin and
writes a JSON answer on stdout.  The parent (``audio.speak``) owns timeouts,
retries and validation: pyttsx3 can hang, return before the file exists, or
drop queued files (upstream issues #126, #170, #194, #219), and a separate
process is the only thing that can be killed cleanly when it does.

Request: ``{"jobs": [{"text": ..., "voice": ..., "rate_wpm": ..., "word_gap_ms": ..., "path": ...}]}``.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import struct
import sys
import tempfile
import time
import wave

# One save_to_file + runAndWait per file (queuing several before one
# runAndWait wrote only the first, pyttsx3 2.99); a job whose child wrote
# no valid WAV is tried again in a new child, this many times in all.
_ATTEMPTS = 3
_CHILD_TIMEOUT_S = 15  # one sentence takes well under a second
_POLL_S = 0.001  # how often to look whether espeak-ng is done
_WORDGAP = 7  # espeakWORDGAP in espeak-ng's speak_lib.h (pyttsx3 names no constant for it)


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


def _append_cues(path: str, marks: list[tuple[int, int]], prefix_chars: int) -> None:
    """Append a RIFF ``cue `` chunk: one cue point per spoken word.

    Each cue's name is the word's character offset in the job's text and
    its position the sample where the word starts; audio editors show them
    as markers, and captions are timed from them.
    """
    with wave.open(path, "rb") as w:
        rate = w.getframerate()
    points = []
    for text_position, audio_ms in marks:
        # positions count from 1 and include the speed command before the text
        points.append((max(0, text_position - 1 - prefix_chars), round(audio_ms * rate / 1000)))
    body = struct.pack("<I", len(points)) + b"".join(
        struct.pack("<II4sIII", char, sample, b"data", 0, 0, sample) for char, sample in points)
    with open(path, "r+b") as f:
        f.seek(0, os.SEEK_END)
        f.write(b"cue " + struct.pack("<I", len(body)) + body)
        riff_size = f.tell() - 8
        f.seek(4)
        f.write(struct.pack("<I", riff_size))


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
    _append_cues(job["path"], events.marks, len(_speed_command(job["rate_wpm"])))
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


def _synthesise(jobs: list[dict], scratch_dir: str) -> list[dict]:
    results = []
    for n, job in enumerate(jobs):
        attempts = 0
        ok = False
        while attempts < _ATTEMPTS and not ok:
            attempts += 1
            with contextlib.suppress(FileNotFoundError):
                os.remove(job["path"])
            ok = _in_fresh_engine(job, os.path.join(scratch_dir, f"settle-{n}-{attempts}.wav"))
        results.append({"path": job["path"], "ok": ok, "attempts": attempts})
    return results


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


def main() -> int:
    request = json.loads(sys.stdin.read() or "{}")
    protocol_out = sys.stdout
    # pyttsx3's espeak driver prints "Audio saved to ..." on stdout: keep the
    # protocol channel clean by sending everything else to stderr.
    sys.stdout = sys.stderr
    import pyttsx3
    import pyttsx3.drivers.espeak  # loaded once, before the children fork

    _poll_faster(pyttsx3.drivers.espeak)

    sys.stdout.flush()
    sys.stderr.flush()  # so that no child writes the parent's buffered output again
    _list_voices_before_forking()
    with tempfile.TemporaryDirectory() as tmp:
        answer = {"results": _synthesise(request.get("jobs", []), tmp)}
    protocol_out.write(json.dumps(answer))
    protocol_out.flush()
    return 0


if __name__ == "__main__":
    sys.exit(main())
