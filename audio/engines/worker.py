"""The speech worker: one process per engine, alive for as long as its synthesizer.

Run as ``python -m audio.engines.worker ENGINE``.  It reads one JSON request
per line on stdin and answers each with one JSON line on stdout, so a
neural voice is loaded once and then speaks every batch it is sent.  The
parent (:mod:`audio.speak`) owns timeouts, retries and validation: a
worker that hangs or crashes is killed and its jobs tried once more in a
fresh one.

Request: ``{"jobs": [{"text": ..., "voice": ..., "path": ..., SETTINGS...}]}``;
answer: ``{"results": [{"path": ..., "ok": ..., "attempts": ..., "error": ...}]}``.
"""

from __future__ import annotations

import json
import os
import sys
import tempfile

THREADS_ENV = "EPISODE_ENGINE_THREADS"


def main(argv: list[str]) -> int:
    if len(argv) != 1:
        sys.stderr.write("usage: python -m audio.engines.worker ENGINE\n")
        return 2
    protocol_out = sys.stdout
    # pyttsx3's espeak driver prints "Audio saved to ..." on stdout, and
    # libraries may print too: keep the protocol channel clean.
    sys.stdout = sys.stderr
    from . import engine

    worker = engine(argv[0]).Worker(threads=int(os.environ.get(THREADS_ENV, "1")))
    with tempfile.TemporaryDirectory(prefix="episode-worker-") as scratch:
        for line in sys.stdin:
            if not line.strip():
                continue
            results = []
            for job in json.loads(line).get("jobs", []):
                sys.stderr.flush()  # a forked child must not write the parent's buffered output again
                try:
                    attempts = worker.speak(job, scratch)
                    results.append({"path": job["path"], "ok": True, "attempts": attempts})
                except Exception as exc:  # noqa: BLE001 - reported per job; the parent decides
                    message = f"{type(exc).__name__}: {exc}".splitlines()[0][:300]
                    sys.stderr.write(f"episode worker: {message}\n")
                    results.append({"path": job["path"], "ok": False, "error": message})
            protocol_out.write(json.dumps({"results": results}) + "\n")
            protocol_out.flush()
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
