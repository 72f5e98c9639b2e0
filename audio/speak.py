"""Stage 2: sentences -> validated WAV clips, spoken by engine workers.

Each engine speaks in worker processes of its own (:mod:`audio.engines.worker`),
started when first needed and kept for the synthesizer's life, so a neural
voice is loaded once however many batches it speaks.  Every clip is
checked after it is written (a RIFF/WAVE header whose sizes match the
file, audible samples, a length plausible for its words); a clip that
fails is re-made once in a fresh worker, then the render stops with a
message naming the sentence.  Clips are kept in a content-addressed cache
keyed by everything that changes the sound (engine, voice, model file,
settings, text), so editing one answer re-synthesises only that answer.
"""

from __future__ import annotations

import concurrent.futures as cf
import hashlib
import json
import logging
import os
import tempfile
import threading
import wave
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from . import engines
from .engines.worker import WorkerProcess, worker_command
from .errors import SynthesisError

log = logging.getLogger(__name__)

KEY_VERSION = 6  # bump when what goes into a clip's key changes (invalidates the cache)
MIN_SECONDS_PER_WORD = 0.04  # faster than any espeak-ng rate we accept (450 wpm = 0.13 s)
MAX_SECONDS_PER_WORD = 2.5
MIN_PEAK = 64  # of 32767: anything quieter is silence, not speech


@dataclass(frozen=True)
class SpeechJob:
    text: str  # what the engine reads (after the lexicon)
    voice: str  # ENGINE:VOICE; a bare espeak-ng id means pyttsx3
    rate_wpm: int = 160  # pyttsx3
    word_gap_ms: int = 0  # pyttsx3: silence between words: 40 ms took tiny.en from 18% to 9% WER
    speed: float = 1.0  # neural engines: 1 is the voice's own pace
    pitch_st: float = 0.0  # neural engines: semitones up or down, for a second voice from one model

    @property
    def spec(self) -> engines.VoiceSpec:
        return engines.parse_voice(self.voice)

    def settings(self) -> dict:
        """The settings the job's engine speaks with (only those go into its key)."""
        return {name: getattr(self, name) for name in engines.engine(self.spec.engine).SETTINGS}

    def request(self, path: Path) -> dict:
        return {"text": self.text, "voice": self.spec.voice, "path": str(path), **self.settings()}

    def key(self, fingerprint: str) -> str:
        spec = self.spec
        blob = json.dumps([KEY_VERSION, spec.engine, spec.voice, fingerprint, self.settings(), self.text],
                          ensure_ascii=False, sort_keys=True)
        return hashlib.sha256(blob.encode()).hexdigest()


@dataclass(frozen=True)
class SynthesisStats:
    synthesised: int
    from_cache: int
    retried: int


@dataclass
class Synthesizer:
    """Runs speech jobs in parallel engine workers, with a clip cache.

    ``cache_dir=None`` keeps clips in a private temporary folder that is
    removed by :meth:`close`, which also ends the workers.
    """

    cache_dir: Path | None = None
    workers: int = field(default_factory=lambda: os.cpu_count() or 1)
    batch_size: int = 40  # at most this many sentences per request to a worker
    timeout_s: float = 20.0  # per request, plus timeout_per_job_s per job (a first request also loads the voice)
    timeout_per_job_s: float = 4.0
    command: Sequence[str] = field(default_factory=worker_command)  # the engine's name is appended
    threads_per_worker: int = 1  # intra-op threads of a neural engine: workers are already one per core

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
        self.stats = SynthesisStats(0, 0, 0)
        self._idle: dict[str, list[WorkerProcess]] = {}
        self._busy: set[WorkerProcess] = set()
        self._lock = threading.Lock()
        self._fingerprints: dict[str, str] = {}

    def close(self) -> None:
        with self._lock:
            idle = [w for ws in self._idle.values() for w in ws]
            busy = list(self._busy)
            self._idle.clear()
        for worker in busy:  # interrupted mid-request: nothing to wait for
            worker.kill()
        for worker in idle:
            worker.close()
        if self._tmp is not None:
            self._tmp.cleanup()

    def __enter__(self) -> Synthesizer:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def fingerprint(self, job: SpeechJob) -> str:
        spec = job.spec
        if spec.name not in self._fingerprints:
            self._fingerprints[spec.name] = engines.engine(spec.engine).fingerprint(spec.voice)
        return self._fingerprints[spec.name]

    def clip_path(self, job: SpeechJob) -> Path:
        key = job.key(self.fingerprint(job))
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
        queue = _batches(items, self.workers, self.batch_size)
        retried = 0

        def next_batch() -> tuple[str, list] | None:
            # a batch whose engine has a worker idle goes first: loading a
            # neural voice costs as much as speaking a dozen sentences
            with self._lock:
                if not queue:
                    return None
                ready = next((b for b in queue if self._idle.get(b[0])), queue[0])
                queue.remove(ready)
                return ready

        def runner() -> int:
            done = 0
            while (batch := next_batch()) is not None:
                done += self._batch_with_retry(*batch)
                if progress:
                    progress(len(batch[1]))
            return done

        with cf.ThreadPoolExecutor(max_workers=min(self.workers, len(queue))) as pool:
            futures = [pool.submit(runner) for _ in range(min(self.workers, len(queue)))]
            try:
                for fut in cf.as_completed(futures):
                    retried += fut.result()
            except BaseException:
                with self._lock:
                    queue.clear()  # the other runners stop after their current batch
                raise
        return retried

    def _checkout(self, engine: str) -> WorkerProcess:
        with self._lock:
            idle = self._idle.get(engine)
            worker = idle.pop() if idle else None
        if worker is None:
            worker = WorkerProcess([*self.command, engine], self.threads_per_worker)
        with self._lock:
            self._busy.add(worker)
        return worker

    def _checkin(self, engine: str, worker: WorkerProcess, healthy: bool) -> None:
        with self._lock:
            self._busy.discard(worker)
            if healthy:
                self._idle.setdefault(engine, []).append(worker)
                return
        worker.kill()

    def _batch_with_retry(self, engine: str, batch: list[tuple[Path, SpeechJob]]) -> int:
        failure = self._batch(engine, batch)
        if failure is None:
            return 0
        missing = [(p, j) for p, j in batch if not p.exists()]
        log.warning("speech worker: %s; retrying %d clip(s) in a fresh worker", failure, len(missing))
        failure = self._batch(engine, missing, fresh=True)
        if failure is not None:
            raise SynthesisError(f"text-to-speech failed twice: {failure}")
        return len(missing)

    def _batch(self, engine: str, batch: list[tuple[Path, SpeechJob]], fresh: bool = False) -> str | None:
        """Have one worker speak *batch*; move good clips into place.

        Returns None when every clip is good, else a description of the
        first failure; the worker is then let go, so a retry gets a fresh one.
        """
        if fresh:
            worker = WorkerProcess([*self.command, engine], self.threads_per_worker)
            with self._lock:
                self._busy.add(worker)
        else:
            worker = self._checkout(engine)
        problem: str | None = None
        try:
            with tempfile.TemporaryDirectory(prefix="episode-tts-", dir=self.root) as tmp:
                requests = [job.request(Path(tmp, f"{n}.wav")) for n, (_, job) in enumerate(batch)]
                answer = worker.request({"jobs": requests}, self.timeout_s + self.timeout_per_job_s * len(batch))
                if isinstance(answer, str):  # it hung or died: say what it was saying
                    unsaid = next(((r, j) for r, (_, j) in zip(requests, batch, strict=True)
                                   if not Path(r["path"]).exists()), (None, batch[0][1]))[1]
                    problem = f"{answer}, speaking {unsaid.text[:60]!r} (voice {unsaid.spec.name})"
                    answer = {}
                errors = {r.get("path"): r.get("error") for r in answer.get("results", [])
                          if isinstance(r, dict) and not r.get("ok")}
                for req, (dest, job) in zip(requests, batch, strict=True):
                    try:
                        check_clip(Path(req["path"]), job.text)
                    except SynthesisError as exc:
                        reason = errors.get(req["path"]) or str(exc)
                        problem = problem or f"{reason} for {job.text[:60]!r} (voice {job.spec.name})"
                        continue
                    _store(Path(req["path"]), dest)
        except BaseException:
            problem = "interrupted"
            raise
        finally:
            self._checkin(engine, worker, healthy=problem is None)
        return problem


def _batches(items: list[tuple[Path, SpeechJob]], workers: int,
             max_batch: int) -> list[tuple[str, list[tuple[Path, SpeechJob]]]]:
    """Each engine's jobs in batches of about equal work, heaviest first.

    An engine gets about two batches per worker's share of the work it
    has, so the last batches to finish are small and every worker stays
    busy, while an engine with little to say gets one batch (one worker
    loading its voice, not all of them), and no batch holds less than
    :data:`MIN_BATCH_WORK`.
    """
    by_engine: dict[str, list[tuple[Path, SpeechJob]]] = {}
    for item in items:
        by_engine.setdefault(item[1].spec.engine, []).append(item)
    total = sum(_work(j) for _, j in items)
    out = []
    for engine, mine in by_engine.items():
        work = sum(_work(j) for _, j in mine)
        # a batch is only worth a worker of its own when it says more than loading the voice
        # costs: a 4-speaker panel of 24 sentences loaded each voice twice, one after the other
        count = max(1, min(len(mine), round(2 * workers * work / total), work // MIN_BATCH_WORK))
        out += [(engine, b) for b in _balanced(mine, count, max_batch)]
    out.sort(key=lambda b: -sum(_work(j) for _, j in b[1]))
    return out


def _balanced(items: list[tuple[Path, SpeechJob]], workers: int,
              max_batch: int) -> list[list[tuple[Path, SpeechJob]]]:
    """About one batch per worker, of about equal work.

    A clip does not depend on its batch (pyttsx3 speaks each job in a fresh
    engine, the neural engines seed their noise per job), so jobs may go
    anywhere.  Work grows with
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


# About a dozen sentences' work (_work): what loading a neural voice in a worker costs.
MIN_BATCH_WORK = 1440


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


def engines_fingerprint(voices: Sequence[str]) -> str:
    """What the speech of *voices* depends on besides text and settings: engines, versions, models.

    A catalogue uses it to tell whether an episode rendered earlier would
    sound the same today.
    """
    return f"{KEY_VERSION}|{engines.fingerprint(voices)}"


def default_cache_dir() -> Path:
    from platformdirs import user_cache_dir

    return Path(user_cache_dir("episode")) / "clips"
