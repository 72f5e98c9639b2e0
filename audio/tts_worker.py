"""The speech worker: one process, one pyttsx3 engine, one batch of jobs.

Run as ``python -m audio.tts_worker``; it reads a JSON request on stdin and
writes a JSON answer on stdout.  The parent (``audio.speak``) owns timeouts,
retries and validation: pyttsx3 can hang, return before the file exists, or
drop queued files (upstream issues #126, #170, #194, #219), and a separate
process is the only thing that can be killed cleanly when it does.

Request: ``{"jobs": [{"text": ..., "voice": ..., "rate_wpm": ..., "word_gap_ms": ..., "path": ...}]}``
or ``{"list_voices": true}``.
"""

from __future__ import annotations

import contextlib
import json
import os
import sys
import tempfile
import wave

# One save_to_file + runAndWait per file: queuing several before one
# runAndWait wrote only the first (seen here with pyttsx3 2.99).
_ATTEMPTS = 3
_WORDGAP = 7  # espeakWORDGAP in espeak-ng's speak_lib.h (pyttsx3 names no constant for it)


def _wav_ok(path: str) -> bool:
    try:
        with wave.open(path, "rb") as w:
            return w.getnframes() > 0
    except (OSError, EOFError, wave.Error):
        return False


def _apply(engine, espeak, job: dict) -> None:
    espeak.SetParameter(_WORDGAP, round(job.get("word_gap_ms", 0) / 10), 0)
    espeak.SetParameter(espeak.RATE, int(job["rate_wpm"]), 0)
    engine.setProperty("voice", job["voice"])


def _say(engine, text: str, rate_wpm: int, path: str) -> None:
    # espeak-ng's embedded speed command travels with the text, so it cannot
    # lag behind the way the rate parameter does (see _settle).
    engine.save_to_file(f"\x01{int(rate_wpm)}S {text}", path)
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


def _synthesise(engine, jobs: list[dict], scratch: str) -> list[dict]:
    from pyttsx3.drivers import _espeak as espeak

    results = []
    settings = None
    for job in jobs:
        wanted = (job["voice"], job["rate_wpm"], job.get("word_gap_ms", 0))
        if wanted != settings:
            _settle(engine, espeak, job, scratch)
            settings = wanted
        attempts = 0
        ok = False
        while attempts < _ATTEMPTS and not ok:
            attempts += 1
            with contextlib.suppress(FileNotFoundError):
                os.remove(job["path"])
            _apply(engine, espeak, job)
            _say(engine, job["text"], job["rate_wpm"], job["path"])
            ok = _wav_ok(job["path"])
        results.append({"path": job["path"], "ok": ok, "attempts": attempts})
    return results


def main() -> int:
    request = json.loads(sys.stdin.read() or "{}")
    protocol_out = sys.stdout
    # pyttsx3's espeak driver prints "Audio saved to ..." on stdout: keep the
    # protocol channel clean by sending everything else to stderr.
    sys.stdout = sys.stderr
    import pyttsx3

    engine = pyttsx3.init("espeak")
    if request.get("list_voices"):
        voices = [{"id": v.id, "name": v.name, "languages": [str(x) for x in v.languages or []]}
                  for v in engine.getProperty("voices")]
        answer: dict = {"voices": voices}
    else:
        # The first runAndWait of a fresh engine sometimes returns before
        # anything is written (seen here): _settle's throwaway utterance
        # takes that hit too.
        with tempfile.TemporaryDirectory() as tmp:
            answer = {"results": _synthesise(engine, request.get("jobs", []), os.path.join(tmp, "settle.wav"))}
    protocol_out.write(json.dumps(answer))
    protocol_out.flush()
    return 0


if __name__ == "__main__":
    sys.exit(main())
