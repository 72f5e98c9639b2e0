"""The speech worker: one process per engine, alive for as long as its synthesizer.

Both sides of its protocol are here: :func:`main` runs in the worker,
:class:`WorkerProcess` in the parent.

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
import select
import subprocess
import sys
import tempfile
import time
from collections.abc import Sequence

from ..errors import SynthesisError

THREADS_ENV = "EPISODE_ENGINE_THREADS"
# Voices a worker loads before it reads its first request (a JSON list): the
# parent starts a worker as soon as it knows its sentences, and the voice is
# then loaded while the render prepares everything else.  An environment
# variable, not a request, so that a worker command that does not know it
# (a test's fault injection, an older worker) simply ignores it.
PRELOAD_ENV = "EPISODE_PRELOAD_VOICES"


def worker_command() -> list[str]:
    """The speech worker, without its engine argument (the synthesizer appends it)."""
    return [sys.executable, "-m", "audio.engines.worker"]


class WorkerProcess:
    """The parent's side: one worker process of one engine, spoken to one request line at a time."""

    def __init__(self, argv: list[str], threads: int, preload: Sequence[str] = ()) -> None:
        env = {**os.environ, THREADS_ENV: str(threads), "OMP_NUM_THREADS": str(threads),
               "OPENBLAS_NUM_THREADS": str(threads), PRELOAD_ENV: json.dumps(list(preload))}
        self.requests = 0  # a worker started ahead (preload) and never asked is killed, not waited for
        # stderr to a file: a long-lived worker's chatter would fill a pipe nobody reads
        self._stderr = tempfile.TemporaryFile()
        try:
            self.proc = subprocess.Popen(argv, stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                         stderr=self._stderr, env=env)
        except OSError as exc:
            self._stderr.close()
            raise SynthesisError(f"the speech worker could not start: {exc.strerror}") from None

    def request(self, payload: dict, timeout_s: float) -> dict | str:
        """The worker's answer, or a description of how it failed (it is then dead)."""
        self.requests += 1
        try:
            self.proc.stdin.write(json.dumps(payload).encode() + b"\n")
            self.proc.stdin.flush()
        except OSError:
            return self._crashed()
        fd, buf = self.proc.stdout.fileno(), b""
        deadline = time.monotonic() + timeout_s
        while b"\n" not in buf:
            left = deadline - time.monotonic()
            if left <= 0 or not select.select([fd], [], [], left)[0]:
                self.kill()
                return f"the speech worker hung (no answer in {timeout_s:.0f} s)"
            chunk = os.read(fd, 1 << 16)
            if not chunk:
                return self._crashed()
            buf += chunk
        try:
            return json.loads(buf.split(b"\n", 1)[0])
        except ValueError:
            self.kill()
            return "the speech worker answered something that is not JSON"

    def _crashed(self) -> str:
        try:
            code = self.proc.wait(timeout=5)
        except subprocess.TimeoutExpired:
            self.kill()
            code = self.proc.returncode
        self._stderr.seek(0)
        tail = self._stderr.read().decode("utf-8", "replace").strip().splitlines()[-1:] or ["no message"]
        self._stderr.close()
        return f"the speech worker crashed (exit {code}): {tail[0]}"

    def kill(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
        self.proc.wait()
        if not self._stderr.closed:
            self._stderr.close()

    def close(self) -> None:
        """Let an idle worker finish (end of input), or kill it if it does not."""
        try:
            self.proc.stdin.close()
            self.proc.wait(timeout=5)
        except (OSError, subprocess.TimeoutExpired):
            pass
        self.kill()



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
    _preload(worker, os.environ.get(PRELOAD_ENV, "[]"))
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


def _preload(worker, voices_json: str) -> None:
    """Load the voices the parent expects to ask for first; a voice that fails is left for its job to report."""
    load = getattr(worker, "preload", None)
    try:
        voices = json.loads(voices_json)
    except ValueError:
        return
    for voice in voices if load is not None and isinstance(voices, list) else ():
        try:
            load(voice)
        except Exception:  # noqa: BLE001 - the job that needs the voice loads it again and says why it fails
            pass


if __name__ == "__main__":
    code = main(sys.argv[1:])
    sys.stdout.flush()
    sys.stderr.flush()
    # Its work is written and its scratch folder gone: tearing down onnxruntime and numpy
    # would take another 0.2 s, which the render waits for once per worker.
    os._exit(code)
