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
import contextlib
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

from . import engines, schedule
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
        for worker in busy + [w for w in idle if not w.requests]:  # interrupted, or started ahead and not needed
            worker.kill()
        idle = [w for w in idle if w.requests]
        for worker in idle:  # end of input to all first, so that they finish side by side
            with contextlib.suppress(OSError):
                worker.proc.stdin.close()
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

    def prepare(self, jobs: Sequence[SpeechJob]) -> None:
        """Start the workers that the first sentences to speak need, loading their voices; return at once.

        A hint: a render calls it as soon as it knows its sentences, so that
        the engines start on the other cores while it prepares the rest
        (cover art, imports), and :meth:`synthesise` finds them idle.  A
        clip in the cache counts as made here without being checked.
        """
        todo: dict[Path, SpeechJob] = {}
        for job in jobs:
            path = self.clip_path(job)
            if path not in todo and not path.exists():
                todo[path] = job
        if not todo:
            return
        plan = schedule.plan(list(todo.items()), self.workers, self.batch_size)
        taken: dict[str, int] = {}  # lanes that share an engine take its first batches one each
        with self._lock:
            waiting = {engine: len(workers) for engine, workers in self._idle.items()}
            for lane in plan.lanes:
                engine = lane[0]
                k = taken[engine] = taken.get(engine, -1) + 1
                if k < waiting.get(engine, 0) or k >= len(plan.queues[engine]):
                    continue  # a worker of it waits already (a synthesizer kept between episodes)
                voices = list(dict.fromkeys(job.spec.voice for _, job in plan.queues[engine][k].items))
                try:
                    worker = WorkerProcess([*self.command, engine], self.threads_per_worker, preload=voices)
                except SynthesisError:
                    return  # synthesise starts it again, and says why it cannot
                self._idle.setdefault(engine, []).append(worker)

    def synthesise(self, jobs: Sequence[SpeechJob], progress: Callable[[int], None] | None = None,
                   ready: Callable[[list[Path]], None] | None = None) -> list[Path]:
        """Return one valid WAV path per job, in order.

        *ready*, if given, is told the paths of clips as they exist: those
        in the cache first, then each batch's as it is stored (from the
        synthesizer's threads), so that work on them can begin during speech.
        """
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
        if ready is not None:
            ready([p for p in paths if p not in todo])
        retried = self._run(list(todo.items()), progress, ready)
        self.stats = SynthesisStats(synthesised=len(todo), from_cache=cached, retried=retried)
        log.info("speech: %d clips synthesised, %d from cache", len(todo), cached)
        return paths

    def _run(self, items: list[tuple[Path, SpeechJob]], progress: Callable[[int], None] | None,
             ready: Callable[[list[Path]], None] | None = None) -> int:
        if not items:
            return 0
        plan = schedule.plan(items, self.workers, self.batch_size)
        retried = 0

        def next_batch(lane: int, owned: dict[str, WorkerProcess]) -> schedule.Batch | None:
            with self._lock:
                return plan.next_batch(lane, set(owned) | {e for e, ws in self._idle.items() if ws})

        def runner(lane: int) -> int:
            done = 0
            owned: dict[str, WorkerProcess] = {}  # this lane's workers, one an engine, kept between batches
            try:
                while (batch := next_batch(lane, owned)) is not None:
                    done += self._batch_with_retry(batch.engine, list(batch.items), owned)
                    if ready is not None:
                        ready([p for p, _ in batch.items])
                    if progress:
                        progress(len(batch))
            finally:
                for engine, worker in owned.items():
                    self._checkin(engine, worker, healthy=True)
            return done

        with cf.ThreadPoolExecutor(max_workers=len(plan.lanes)) as pool:
            futures = [pool.submit(runner, n) for n in range(len(plan.lanes))]
            try:
                for fut in cf.as_completed(futures):
                    retried += fut.result()
            except BaseException:
                with self._lock:
                    plan.clear()  # the other runners stop after their current batch
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

    def _batch_with_retry(self, engine: str, batch: list[tuple[Path, SpeechJob]],
                          owned: dict[str, WorkerProcess]) -> int:
        failure = self._batch(engine, batch, owned)
        if failure is None:
            return 0
        missing = [(p, j) for p, j in batch if not p.exists()]
        log.warning("speech worker: %s; retrying %d clip(s) in a fresh worker", failure, len(missing))
        failure = self._batch(engine, missing, owned, fresh=True)
        if failure is not None:
            raise SynthesisError(f"text-to-speech failed twice: {failure}")
        return len(missing)

    def _batch(self, engine: str, batch: list[tuple[Path, SpeechJob]], owned: dict[str, WorkerProcess],
               fresh: bool = False) -> str | None:
        """Have the lane's worker of *engine* (in *owned*) speak *batch*; move good clips into place.

        Returns None when every clip is good, else a description of the
        first failure; the worker is then let go (and taken out of
        *owned*), so a retry gets a fresh one.
        """
        if fresh:
            worker = WorkerProcess([*self.command, engine], self.threads_per_worker)
            with self._lock:
                self._busy.add(worker)
        else:
            worker = owned.get(engine) or self._checkout(engine)
        owned[engine] = worker
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
            if problem is not None:  # a worker that failed or was interrupted is not asked again
                del owned[engine]
                self._checkin(engine, worker, healthy=False)
        return problem


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


def _content_files(path: Path) -> list[Path]:
    return list(path.parent.glob(f"{path.stem}.*.wav"))


def check_cached(path: Path, text: str) -> float:
    """A cached clip must match the digest in its content file's name, then pass check_clip.

    The name is looked up by the digest, not by the shared inode, so that a
    cache copied without its hard links (``cp -r``, rsync without ``-H``,
    an archive) still hits: each clip is then a copy of its content file.
    """
    siblings = _content_files(path)
    if not siblings:
        raise SynthesisError("its content file is missing")
    if path.with_name(f"{path.stem}.{hashlib.sha256(path.read_bytes()).hexdigest()}.wav") not in siblings:
        raise SynthesisError("its content does not match its digest")
    return check_clip(path, text)


def _forget(path: Path) -> None:
    for content in _content_files(path):  # (one: a key's first clip stays, a later one is removed)
        content.unlink(missing_ok=True)
    path.unlink(missing_ok=True)


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
