"""Stage 7b: where a catalogue's episodes are rendered: a local process pool or Ray tasks.

Each episode is one job: render, publish its sidecars and player page,
optionally verify, all in a worker; the driver (audio.batch) moves the
finished files into place, so that only it writes the show's folder.

- ``local``: a process pool (forkserver, else spawn: renders run threads
  and subprocesses, which do not survive fork).  Each worker keeps one
  Synthesizer for every episode it renders, so its speech engines stay
  loaded, and renders stage their files inside the show's folder (one
  filesystem, so moving them into place is a rename).
- ``ray``: each episode is a Ray task on the local machine or a cluster;
  the task renders in a folder of its own node and returns the files'
  bytes, which the driver writes.

Only ``workers`` jobs are handed out at a time, so an interrupt finds no
queue to drain: each running render stops (Ctrl-C reaches the workers,
which clean up their partial files), and what finished is still committed.
"""

from __future__ import annotations

import atexit
import concurrent.futures as cf
import contextlib
import logging
import multiprocessing
import multiprocessing.util
import os
import shutil
import signal
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, replace
from pathlib import Path

from .episode import Episode
from .errors import EpisodeError, InputError
from .feed import FeedItem
from .render import RenderOptions

EXECUTORS = ("local", "ray")
_DRAIN_S = 60.0  # after an interrupt, how long running renders get to stop or finish


@dataclass(frozen=True)
class Job:
    slug: str
    episode: Episode
    options: RenderOptions  # cache_dir, inner workers, cover
    formats: tuple[str, ...]
    page_name: str
    show_href: str
    image_name: str = ""
    render: bool = True  # False: verify an MP3 rendered earlier
    verify: bool = False
    work_dir: str | None = None  # stage files here; None: a temporary folder, files returned as bytes
    mp3_path: str | None = None  # verify only, on the driver's disk
    mp3_data: bytes | None = None  # verify only, sent to another machine


@dataclass(frozen=True)
class Outcome:
    slug: str
    ok: bool
    reason: str = ""  # one line, when not ok
    interrupted: bool = False
    item: FeedItem | None = None
    files: tuple[str, ...] = ()
    work_dir: str | None = None  # where the files are (local)
    blobs: dict[str, bytes] | None = None  # the files themselves (Ray)
    duration_ms: int | None = None
    wer: float | None = None
    verify_failure: str = ""  # the first threshold the episode failed
    seconds: float = 0.0


def one_line(exc: BaseException) -> str:
    """An error as the summary shows it: its first line, or its kind when it has no message."""
    lines = str(exc).strip().splitlines()
    return lines[0] if lines else type(exc).__name__


# -- in the worker ------------------------------------------------------------

_SYNTHESIZERS: dict = {}


def _synthesizer(cache_dir: Path | None, workers: int | None):
    """This process's Synthesizer for these settings, made once and kept (engines stay loaded)."""
    from .speak import Synthesizer, default_cache_dir

    key = (str(cache_dir or default_cache_dir()), workers)
    if key not in _SYNTHESIZERS:
        kwargs = {"workers": workers} if workers else {}
        _SYNTHESIZERS[key] = Synthesizer(cache_dir=Path(key[0]), **kwargs)
        # A pool worker leaves through multiprocessing's exit (no atexit
        # there), a Ray worker through the interpreter's: close it in both.
        multiprocessing.util.Finalize(None, _close, args=(key,), exitpriority=10)
        atexit.register(_close, key)
    return _SYNTHESIZERS[key]


def _close(key) -> None:
    synth = _SYNTHESIZERS.pop(key, None)
    if synth is not None:
        synth.close()


def run_job(job: Job) -> Outcome:
    """Render (and verify) one episode; never raises for the episode's own faults."""
    start = time.perf_counter()
    previous = signal.getsignal(signal.SIGINT)
    with contextlib.suppress(ValueError):  # not the main thread: Ray may run tasks on another
        signal.signal(signal.SIGINT, signal.default_int_handler)
    temp = None
    try:
        if job.work_dir is None:
            temp = tempfile.TemporaryDirectory(prefix="episode-job-")
        folder = Path(job.work_dir or temp.name)
        folder.mkdir(parents=True, exist_ok=True)
        outcome = _run(job, folder)
        if job.work_dir is None:
            outcome = replace(outcome, blobs={n: (folder / n).read_bytes() for n in outcome.files})
        return replace(outcome, seconds=time.perf_counter() - start)
    except KeyboardInterrupt:
        return Outcome(job.slug, ok=False, reason="interrupted", interrupted=True,
                       seconds=time.perf_counter() - start)
    except EpisodeError as exc:
        return Outcome(job.slug, ok=False, reason=one_line(exc), seconds=time.perf_counter() - start)
    except Exception as exc:  # noqa: BLE001 - one episode's bug must not stop the others
        return Outcome(job.slug, ok=False, reason=f"{type(exc).__name__}: {one_line(exc)}",
                       seconds=time.perf_counter() - start)
    finally:
        if temp is not None:
            temp.cleanup()
        with contextlib.suppress(ValueError, TypeError):
            signal.signal(signal.SIGINT, previous)


def _run(job: Job, folder: Path) -> Outcome:
    from .publish import feed_item, publish
    from .render import render

    mp3 = folder / f"{job.slug}.mp3"
    files: tuple[str, ...] = ()
    item = None
    duration_ms = None
    if job.render:
        synth = _synthesizer(job.options.cache_dir, job.options.workers)
        result = render(job.episode, mp3, job.options, synthesizer=synth)
        written = publish(result, formats=job.formats, player_name=job.page_name, show_href=job.show_href)
        files = (mp3.name, *(p.name for p in written))
        item = feed_item(result, job.formats, page_name=job.page_name, image_name=job.image_name)
        duration_ms = result.duration_ms
    elif job.mp3_data is not None:
        mp3.write_bytes(job.mp3_data)
    else:
        mp3 = Path(job.mp3_path)
    wer, failure = None, ""
    if job.verify:
        from .transcribe import RecognitionOptions
        from .verify import verify

        report = verify(mp3, options=RecognitionOptions(cpu_threads=job.options.workers))
        wer = report.overall.wer
        failure = report.failures[0] if report.failures else ""
    return Outcome(job.slug, ok=True, item=item, files=files, work_dir=str(folder), duration_ms=duration_ms,
                   wer=wer, verify_failure=failure)


def _import_render() -> None:
    import audio.publish  # noqa: F401
    import audio.render  # noqa: F401


def _init_local_worker() -> None:
    # Between jobs a worker ignores Ctrl-C (the driver decides what stops);
    # run_job listens to it while a render runs, so that render cleans up.
    signal.signal(signal.SIGINT, signal.SIG_IGN)


# -- in the driver ------------------------------------------------------------

class _Local:
    def __init__(self, workers: int) -> None:
        methods = multiprocessing.get_all_start_methods()
        ctx = multiprocessing.get_context("forkserver" if "forkserver" in methods else "spawn")
        if ctx.get_start_method() == "forkserver":
            # The server imports the render once; each worker forks from it ready.
            ctx.set_forkserver_preload(["audio.executors", "audio.render", "audio.publish"])
        self.pool = cf.ProcessPoolExecutor(max_workers=workers, mp_context=ctx, initializer=_init_local_worker)

    def submit(self, job: Job):
        return self.pool.submit(run_job, job)

    def wait(self, futures: list, timeout: float | None = None) -> list:
        done, _ = cf.wait(futures, timeout=timeout, return_when=cf.FIRST_COMPLETED)
        return list(done)

    def result(self, future) -> Outcome:
        try:
            return future.result()
        except cf.process.BrokenProcessPool as exc:
            return Outcome("?", ok=False, reason=f"the worker process died ({one_line(exc)})")
        except Exception as exc:  # noqa: BLE001 - e.g. a result that could not be sent back
            return Outcome("?", ok=False, reason=f"{type(exc).__name__}: {one_line(exc)}")

    def cancel(self, futures: list) -> None:
        pass  # Ctrl-C reached the workers' renders; what still finishes is kept

    def close(self) -> None:
        self.pool.shutdown(wait=True, cancel_futures=True)


# Ray (2.59 on) starts clusters with token authentication; a driver given an
# address sends the token only when told to, so say how.
_AUTH_HINT = " (a cluster with token authentication needs RAY_AUTH_MODE=token and its token, from `ray get-auth-token`)"


class _Ray:
    def __init__(self, address: str | None, workers: int | None, closer: Callable[[], None]) -> None:
        self.closer = closer  # who shuts Ray down: RayStarting's thread, which started it
        try:
            import ray
        except ImportError:
            raise InputError("the ray executor needs Ray: pip install 'episode[ray]'") from None
        self.ray = ray
        self.started = not ray.is_initialized()
        if self.started:
            kwargs = {"address": address} if address else {
                # A Ray of this batch's own: "local", for without an address
                # ray.init() joins the last cluster `ray start` began here,
                # even a dead one whose address file outlived it.  As many
                # CPUs as asked, a small object store.
                "address": "local", "num_cpus": workers or os.cpu_count() or 1,
                "object_store_memory": 256 * 1024 * 1024}
            try:
                ray.init(include_dashboard=False, configure_logging=False, log_to_driver=False, **kwargs)
            except ValueError as exc:  # "HEAD" without its port, and the like
                raise InputError(f"--ray-address {address}: {one_line(exc)}") from None
            except ray.exceptions.AuthenticationError as exc:  # says itself what to do
                raise InputError(f"cannot join the Ray cluster at {address}: {one_line(exc)}") from None
            except ConnectionError as exc:
                # "auto" with no cluster running is no matter of tokens
                hint = _AUTH_HINT if address != "auto" else ""
                raise InputError(f"cannot join the Ray cluster at {address}: {one_line(exc)}{hint}") from None
        self.remote = ray.remote(run_job)

    def cpus(self) -> int:
        return max(1, int(self.ray.cluster_resources().get("CPU", 1)))

    def warm(self) -> None:
        """Have each worker import the render before the first episode comes (about 0.5 s each)."""
        self.ray.get([self.ray.remote(_import_render).options(num_cpus=1).remote() for _ in range(self.cpus())])

    def submit(self, job: Job):
        if job.mp3_path is not None:  # verify only: the MP3 goes to whichever node runs the job, read no sooner
            job = replace(job, mp3_path=None, mp3_data=Path(job.mp3_path).read_bytes())
        return self.remote.options(num_cpus=job.options.workers or 1, max_retries=0).remote(job)

    def wait(self, futures: list, timeout: float | None = None) -> list:
        done, _ = self.ray.wait(futures, num_returns=1, timeout=timeout)
        return done

    def result(self, future) -> Outcome:
        try:
            return self.ray.get(future)
        except self.ray.exceptions.RayError as exc:
            return Outcome("?", ok=False, reason=f"Ray: {one_line(exc)}")

    def cancel(self, futures: list) -> None:
        for ref in futures:
            with contextlib.suppress(Exception):
                self.ray.cancel(ref)

    def close(self) -> None:
        self.closer()

    def shutdown(self) -> None:
        if self.started:
            self.ray.shutdown()


class _NotFromThisThread(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        return "current thread is not the main thread" not in record.getMessage()


class RayStarting:
    """Ray started on a thread while the driver reads the catalogue.

    ray.init() takes about 3 s here; reading and parsing every transcript
    and making the cover art take about as long, so the two overlap.  The
    thread lives until Ray is shut down, and shuts it down: Ray's own
    processes die with the *thread* that started them (Linux's parent-death
    signal follows the thread), which killed them as soon as an init-only
    thread ended.  From another thread Ray cannot set its SIGTERM handler
    (exit cleanly, so its processes go too): the same one is set here, in
    the main thread.
    """

    def __init__(self, address: str | None, workers: int | None) -> None:
        with contextlib.suppress(ValueError):  # not the main thread: nothing to set
            signal.signal(signal.SIGTERM, lambda signum, frame: sys.exit(signum))
        logging.getLogger("ray._private.worker").addFilter(_NotFromThisThread())
        self._pool: _Ray | None = None
        self._error: BaseException | None = None
        self._done, self._stop = threading.Event(), threading.Event()
        self._thread = threading.Thread(target=self._own, args=(address, workers), daemon=True)
        self._thread.start()

    def _own(self, address: str | None, workers: int | None) -> None:
        try:
            self._pool = _Ray(address, workers, closer=self.stop)
            self._pool.warm()
        except BaseException as exc:  # noqa: BLE001 - raised again in the driver, by result()
            self._error = exc
            return
        finally:
            self._done.set()
        self._stop.wait()
        self._pool.shutdown()

    def result(self) -> _Ray:
        self._done.wait()
        if self._error is not None:
            raise self._error
        return self._pool

    def stop(self) -> None:
        """Have Ray shut down (by its own thread) while the driver goes on writing the show."""
        self._stop.set()

    def close(self) -> None:
        """Shut Ray down, whether or not it was used, and wait until it is."""
        self._done.wait()
        self._stop.set()
        self._thread.join()


def split_cores(cores: int, workers: int | None, jobs: int) -> tuple[int, int]:
    """(episodes at once, workers inside each render): *cores* shared so none is oversubscribed."""
    outer = max(1, min(workers or cores, jobs))
    return outer, max(1, cores // outer)


def plan_workers(executor: str, workers: int | None, jobs: int, ray: RayStarting | None = None):
    """(pool, outer workers, inner workers per render) for *jobs* episodes; *ray* is started for "ray"."""
    if executor == "ray":
        pool = ray.result()
        return (pool, *split_cores(pool.cpus(), workers, jobs))
    outer, inner = split_cores(os.cpu_count() or 1, workers, jobs)
    return _Local(outer), outer, inner


def execute(pool, jobs: Iterable[Job], outer: int, on_start: Callable[[Job], None],
            on_outcome: Callable[[Job, Outcome], None]) -> None:
    """Run *jobs* with at most *outer* at a time, calling back as each starts and ends.

    On KeyboardInterrupt the running jobs are given time to stop (or
    finish, and be kept), then the interrupt goes on to the caller.
    """
    queue = list(jobs)
    queue.reverse()
    running: dict = {}
    try:
        while queue or running:
            while queue and len(running) < outer:
                job = queue.pop()
                running[pool.submit(job)] = job
                on_start(job)
            for fut in pool.wait(list(running)):
                job = running.pop(fut)
                outcome = pool.result(fut)
                on_outcome(job, replace(outcome, slug=job.slug))
    except KeyboardInterrupt:
        pool.cancel(list(running))
        deadline = time.monotonic() + _DRAIN_S
        while running and time.monotonic() < deadline:
            for fut in pool.wait(list(running), timeout=max(0.0, deadline - time.monotonic())):
                job = running.pop(fut)
                on_outcome(job, replace(pool.result(fut), slug=job.slug))
        raise
    finally:
        pool.close()


def stage_folder(root: Path, slug: str) -> Path:
    """A fresh folder for one episode's files before they are moved into place."""
    folder = root / slug
    shutil.rmtree(folder, ignore_errors=True)
    return folder
