"""Stage 2: sentences -> validated WAV clips, in isolated worker processes.

Every clip is checked after it is written (a RIFF/WAVE header whose sizes
match the file, audible samples, a length plausible for its words); a clip
that fails is re-made once in a fresh worker, then the render stops with
a message naming the sentence.  Clips are kept in a content-addressed
cache keyed by everything that changes the sound, so editing one answer
re-synthesises only that answer.
"""

from __future__ import annotations

import concurrent.futures as cf
import hashlib
import json
import logging
import os
import struct
import subprocess
import tempfile
import wave
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from importlib import metadata
from pathlib import Path

from . import tools
from .errors import SynthesisError
from .voices import worker_command

log = logging.getLogger(__name__)

ENGINE = "pyttsx3-espeak/5"  # bump when the worker changes how it speaks (invalidates the cache)
MIN_SECONDS_PER_WORD = 0.04  # faster than any espeak-ng rate we accept (450 wpm = 0.13 s)
MAX_SECONDS_PER_WORD = 2.5
MIN_PEAK = 64  # of 32767: anything quieter is silence, not speech


@dataclass(frozen=True)
class SpeechJob:
    text: str  # what the engine reads (after the lexicon)
    voice: str
    rate_wpm: int
    word_gap_ms: int = 0  # silence between words: 40 ms took tiny.en from 18% to 9% WER

    def key(self, engine_version: str) -> str:
        blob = json.dumps([ENGINE, engine_version, self.voice, self.rate_wpm, self.word_gap_ms, self.text],
                          ensure_ascii=False)
        return hashlib.sha256(blob.encode()).hexdigest()


@dataclass(frozen=True)
class SynthesisStats:
    synthesised: int
    from_cache: int
    retried: int


@dataclass
class Synthesizer:
    """Runs speech jobs in parallel worker processes with a clip cache.

    ``cache_dir=None`` keeps clips in a private temporary folder that is
    removed by :meth:`close`.
    """

    cache_dir: Path | None = None
    workers: int = field(default_factory=lambda: os.cpu_count() or 1)
    batch_size: int = 40  # at most this many sentences per worker process
    timeout_s: float = 20.0  # per batch, plus timeout_per_job_s per job
    timeout_per_job_s: float = 4.0
    command: Sequence[str] = field(default_factory=worker_command)

    def __post_init__(self) -> None:
        self._tmp: tempfile.TemporaryDirectory | None = None
        if self.cache_dir is None:
            self._tmp = tempfile.TemporaryDirectory(prefix="episode-clips-")
            self.root = Path(self._tmp.name)
        else:
            self.root = Path(self.cache_dir)
            try:
                self.root.mkdir(parents=True, exist_ok=True)
            except OSError as exc:
                raise SynthesisError(f"cannot create cache folder {self.root}: {exc.strerror}") from None
        self.engine_version = f"{metadata.version('pyttsx3')}/{tools.espeak_version()}"
        self.stats = SynthesisStats(0, 0, 0)

    def close(self) -> None:
        if self._tmp is not None:
            self._tmp.cleanup()

    def __enter__(self) -> Synthesizer:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def clip_path(self, job: SpeechJob) -> Path:
        key = job.key(self.engine_version)
        return self.root / key[:2] / f"{key}.wav"

    def synthesise(self, jobs: Sequence[SpeechJob],
                   progress: Callable[[int], None] | None = None) -> list[Path]:
        """Return one valid WAV path per job, in order."""
        paths = [self.clip_path(j) for j in jobs]
        todo: dict[Path, SpeechJob] = {}
        for job, path in zip(jobs, paths, strict=True):
            if path in todo:
                continue
            if path.exists():
                try:
                    check_cached(path, job.text)
                    continue
                except SynthesisError as exc:
                    log.warning("cache entry for %r is damaged (%s); re-making it", job.text[:40], exc)
                    _forget(path)
            todo[path] = job
        cached = len(jobs) - len(todo)
        if progress and cached:
            progress(cached)
        retried = self._run(list(todo.items()), progress)
        self.stats = SynthesisStats(synthesised=len(todo), from_cache=cached, retried=retried)
        log.info("speech: %d clips synthesised, %d from cache", len(todo), cached)
        return paths

    def _run(self, items: list[tuple[Path, SpeechJob]], progress: Callable[[int], None] | None) -> int:
        if not items:
            return 0
        batches = _balanced(items, self.workers, self.batch_size)
        retried = 0
        with cf.ThreadPoolExecutor(max_workers=self.workers) as pool:
            futures = {pool.submit(self._batch_with_retry, b): b for b in batches}
            try:
                for fut in cf.as_completed(futures):
                    retried += fut.result()
                    if progress:
                        progress(len(futures[fut]))
            except BaseException:
                for f in futures:
                    f.cancel()
                raise
        return retried

    def _batch_with_retry(self, batch: list[tuple[Path, SpeechJob]]) -> int:
        failure = self._batch(batch)
        if failure is None:
            return 0
        missing = [(p, j) for p, j in batch if not p.exists()]
        log.warning("speech worker: %s; retrying %d clip(s) in a fresh worker", failure, len(missing))
        failure = self._batch(missing)
        if failure is not None:
            raise SynthesisError(f"text-to-speech failed twice: {failure}")
        return len(missing)

    def _batch(self, batch: list[tuple[Path, SpeechJob]]) -> str | None:
        """Run one worker on *batch*; move good clips into place.

        Returns None when every clip is good, else a description of the
        first failure.
        """
        with tempfile.TemporaryDirectory(prefix="episode-tts-", dir=self.root) as tmp:
            requests = [{"text": j.text, "voice": j.voice, "rate_wpm": j.rate_wpm, "word_gap_ms": j.word_gap_ms,
                         "path": str(Path(tmp, f"{n}.wav"))} for n, (_, j) in enumerate(batch)]
            timeout_s = self.timeout_s + self.timeout_per_job_s * len(batch)
            try:
                proc = subprocess.run(list(self.command), input=json.dumps({"jobs": requests}).encode(),
                                      capture_output=True, timeout=timeout_s, check=False)
            except subprocess.TimeoutExpired:
                return f"the speech worker hung (no answer in {timeout_s:.0f} s)"
            except OSError as exc:
                return f"the speech worker could not start: {exc.strerror}"
            problem = None
            if proc.returncode != 0:
                tail = proc.stderr.decode("utf-8", "replace").strip().splitlines()[-1:] or ["no message"]
                problem = f"the speech worker crashed (exit {proc.returncode}): {tail[0]}"
            for req, (dest, job) in zip(requests, batch, strict=True):
                try:
                    check_clip(Path(req["path"]), job.text)
                except SynthesisError as exc:
                    problem = problem or f"{exc} for {job.text[:60]!r} (voice {job.voice})"
                    continue
                _store(Path(req["path"]), dest)
            return problem


def _balanced(items: list[tuple[Path, SpeechJob]], workers: int,
              max_batch: int) -> list[list[tuple[Path, SpeechJob]]]:
    """About one batch per worker, of about equal work.

    A worker process costs about 60 ms to start; inside it each job gets a
    fresh engine (about 25 ms, see tts_worker._in_fresh_engine), so a clip
    does not depend on its batch and jobs may go anywhere.  Work grows with
    the text, so the longest job goes to the lightest batch (LPT): split in
    order, the seed's two batches differed by 15% and one worker idled.
    """
    count = max(-(-len(items) // max_batch), min(workers, len(items)))
    batches: list[list[tuple[Path, SpeechJob]]] = [[] for _ in range(count)]
    load = [0] * count
    for item in sorted(items, key=lambda it: -_work(it[1])):
        open_ = [n for n in range(count) if len(batches[n]) < max_batch]
        n = min(open_, key=lambda k: load[k])
        batches[n].append(item)
        load[n] += _work(item[1])
    return [b for b in batches if b]


def _work(job: SpeechJob) -> int:
    return len(job.text) + 40  # a fixed cost per job: the engine, the settling utterance


def _store(made: Path, dest: Path) -> None:
    """Put a new clip in the cache; the first one stored for a key stays.

    The clip is kept under its content digest (``KEY.DIGEST.wav``) and the
    key's name (``KEY.wav``) is a hard link to it.  Linking fails if the key
    is taken, so a stored clip is never replaced while another render may be
    reading it: concurrent renders read the same clips and write the same file.
    """
    dest.parent.mkdir(parents=True, exist_ok=True)
    digest = hashlib.sha256(made.read_bytes()).hexdigest()
    content = dest.with_name(f"{dest.stem}.{digest}.wav")
    try:
        os.link(made, content)
    except FileExistsError:
        pass  # the same bytes are stored already
    try:
        os.link(content, dest)
    except FileExistsError:
        if os.stat(content).st_ino != os.stat(dest).st_ino:
            content.unlink(missing_ok=True)  # another clip won the key


def _content_file(path: Path) -> Path | None:
    inode = path.stat().st_ino
    for sibling in path.parent.glob(f"{path.stem}.*.wav"):
        if sibling.stat().st_ino == inode:
            return sibling
    return None


def check_cached(path: Path, text: str) -> float:
    """A cached clip must match the digest in its content file's name, then pass check_clip."""
    content = _content_file(path)
    if content is None:
        raise SynthesisError("its content file is missing")
    if hashlib.sha256(path.read_bytes()).hexdigest() != content.name.split(".")[1]:
        raise SynthesisError("its content does not match its digest")
    return check_clip(path, text)


def _forget(path: Path) -> None:
    content = _content_file(path) if path.exists() else None
    path.unlink(missing_ok=True)
    if content is not None:
        content.unlink(missing_ok=True)


def check_clip(path: Path, text: str) -> float:
    """Validate a clip the worker wrote; return its duration in seconds."""
    try:
        size = path.stat().st_size
        with wave.open(str(path), "rb") as w:
            channels, width, rate, frames = w.getnchannels(), w.getsampwidth(), w.getframerate(), w.getnframes()
            data = w.readframes(frames)
    except FileNotFoundError:
        raise SynthesisError("no audio file was written") from None
    except (OSError, EOFError, wave.Error) as exc:
        raise SynthesisError(f"the audio file is not a valid WAV ({exc})") from None
    if channels != 1 or width != 2 or frames == 0:
        raise SynthesisError(f"the audio file is empty or not 16-bit mono ({channels} ch, {frames} frames)")
    if len(data) != frames * width or size < 44 + len(data):
        raise SynthesisError("the audio file is truncated")
    import numpy as np

    if int(np.abs(np.frombuffer(data, "<i2").astype(np.int32)).max()) < MIN_PEAK:
        raise SynthesisError("the audio file is silent")
    seconds = frames / rate
    words = max(1, len(text.split()))
    if not MIN_SECONDS_PER_WORD * words <= seconds <= MAX_SECONDS_PER_WORD * words + 3:
        raise SynthesisError(f"the audio is {seconds:.2f} s long, implausible for {words} words")
    return seconds


def word_marks(path: Path) -> tuple[tuple[int, int], ...]:
    """The (character offset, sample) of each spoken word, from the clip's ``cue `` chunk.

    Empty when the clip has none (another speech worker made it); callers
    then time words by characters.
    """
    with open(path, "rb") as f:
        head = f.read(12)
        if head[:4] != b"RIFF" or head[8:12] != b"WAVE":
            return ()
        while chunk := f.read(8):
            if len(chunk) < 8:
                return ()
            name, size = chunk[:4], struct.unpack("<I", chunk[4:])[0]
            if name != b"cue ":
                f.seek(size + (size & 1), os.SEEK_CUR)
                continue
            body = f.read(size)
            count = struct.unpack("<I", body[:4])[0] if len(body) >= 4 else 0
            if len(body) < 4 + 24 * count:
                return ()
            points = [struct.unpack_from("<II4sIII", body, 4 + 24 * n) for n in range(count)]
            return tuple((p[0], p[5]) for p in points)
    return ()


def engines_fingerprint(voices: Sequence[str]) -> str:
    """What the speech of *voices* depends on besides the text: engine, version, voice.

    A catalogue uses it to tell whether an episode rendered earlier would
    sound the same today.
    """
    return json.dumps([ENGINE, f"{metadata.version('pyttsx3')}/{tools.espeak_version()}", sorted(set(voices))])


def default_cache_dir() -> Path:
    from platformdirs import user_cache_dir

    return Path(user_cache_dir("episode")) / "clips"
