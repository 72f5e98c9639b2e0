"""The speech worker: one process, one pyttsx3 engine, one batch of jobs.

Run as ``python -m audio.tts_worker``; it reads a JSON request on stdin and
writes a JSON answer on stdout.  The parent (``audio.speak``) owns timeouts,
retries and validation: pyttsx3 can hang, return before the file exists, or
drop queued files (upstream issues #126, #170, #194, #219), and a separate
process is the only thing that can be killed cleanly when it does.

Request: ``{"jobs": [{"text": ..., "voice": ..., "rate_wpm": ..., "path": ...}]}``
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


def _wav_ok(path: str) -> bool:
    try:
        with wave.open(path, "rb") as w:
            return w.getnframes() > 0
    except (OSError, EOFError, wave.Error):
        return False


def _synthesise(engine, jobs: list[dict]) -> list[dict]:
    results = []
    for job in jobs:
        attempts = 0
        ok = False
        while attempts < _ATTEMPTS and not ok:
            attempts += 1
            with contextlib.suppress(FileNotFoundError):
                os.remove(job["path"])
            engine.setProperty("voice", job["voice"])
            engine.setProperty("rate", int(job["rate_wpm"]))
            engine.save_to_file(job["text"], job["path"])
            engine.runAndWait()
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
        # anything is written (seen here); spend it on a throwaway utterance.
        with tempfile.TemporaryDirectory() as tmp:
            warm = os.path.join(tmp, "warmup.wav")
            engine.save_to_file("ready", warm)
            engine.runAndWait()
        answer = {"results": _synthesise(engine, request.get("jobs", []))}
    protocol_out.write(json.dumps(answer))
    protocol_out.flush()
    return 0


if __name__ == "__main__":
    sys.exit(main())
