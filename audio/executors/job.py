"""One episode's job, as a worker runs it: render, publish, optionally verify.

The same in a local pool's process and in a Ray task; it never raises for
the episode's own faults, but says them in its Outcome.
"""

from __future__ import annotations

import atexit
import contextlib
import multiprocessing.util
import signal
import tempfile
import time
from dataclasses import dataclass, replace
from pathlib import Path

from ..episode import Episode
from ..errors import EpisodeError
from ..outputs.feed import FeedItem
from ..render import RenderOptions


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


_SYNTHESIZERS: dict = {}


def _synthesizer(cache_dir: Path | None, workers: int | None):
    """This process's Synthesizer for these settings, made once and kept (engines stay loaded)."""
    from ..speak import Synthesizer, default_cache_dir

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


def run_job(job: Job, *, raise_interrupt: bool = False) -> Outcome:
    """Render (and verify) one episode; never raises for the episode's own faults.

    Ctrl-C comes back as an interrupted Outcome, or with *raise_interrupt*
    goes on as KeyboardInterrupt, once the job's files are cleaned up.
    """
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
        if raise_interrupt:
            raise
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
    from ..outputs.publish import feed_item, publish
    from ..render import render

    mp3 = folder / f"{job.slug}.mp3"
    files: tuple[str, ...] = ()
    item = None
    duration_ms = None
    if job.render:
        synth = _synthesizer(job.options.cache_dir, job.options.workers)
        result = render(job.episode, mp3, job.options, synthesizer=synth)
        written = publish(result, formats=job.formats, player_name=job.page_name, show_href=job.show_href,
                          cover=job.options.cover)
        files = (mp3.name, *(p.name for p in written))
        item = feed_item(result, job.formats, page_name=job.page_name, image_name=job.image_name)
        duration_ms = result.duration_ms
    elif job.mp3_data is not None:
        mp3.write_bytes(job.mp3_data)
    else:
        mp3 = Path(job.mp3_path)
    wer, failure = None, ""
    if job.verify:
        from ..transcribe import RecognitionOptions
        from ..verify import verify

        report = verify(mp3, options=RecognitionOptions(cpu_threads=job.options.workers))
        wer = report.overall.wer
        failure = report.failures[0] if report.failures else ""
    return Outcome(job.slug, ok=True, item=item, files=files, work_dir=str(folder), duration_ms=duration_ms,
                   wer=wer, verify_failure=failure)


def import_render() -> None:
    """Import what a render needs (a worker does so before its first episode comes)."""
    import audio.outputs.publish  # noqa: F401
    import audio.render  # noqa: F401
