"""Stage 7b: where a catalogue's episodes are rendered: a local process pool or Ray tasks.

Each episode is one job (``job``): render, publish its sidecars and player
page, optionally verify, all in a worker; the driver (audio.batch) moves the
finished files into place, so that only it writes the show's folder.

- ``local`` (``LocalPool``): a process pool on this machine.  Each worker
  keeps its speech engines loaded from one episode to the next, and renders
  stage their files inside the show's folder (one filesystem, so moving
  them into place is a rename).
- ``ray`` (``RayPool``): each episode is a Ray task on the local machine or
  a cluster; the task renders in a folder of its own node and returns the
  files' bytes, which the driver writes.

Both pools have one interface: submit, wait, result, cancel and close.
Only ``workers`` jobs are handed out at a time, so an interrupt finds no
queue to drain: each running render stops (Ctrl-C reaches the workers,
which clean up their partial files), and what finished is still committed.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import time
from collections.abc import Callable, Iterable, Iterator
from dataclasses import replace
from pathlib import Path

from .job import Job, Outcome, one_line, run_job
from .local import LocalPool
from .ray import RayPool, RayStarting

__all__ = ["EXECUTORS", "Job", "LocalPool", "Outcome", "RayPool", "RayStarting", "ctrl_c_raises", "execute",
           "one_line", "plan_workers", "run_job", "split_cores", "stage_folder"]

EXECUTORS = ("local", "ray")
_DRAIN_S = 60.0  # after an interrupt, how long running renders get to stop or finish


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
    return LocalPool(outer), outer, inner


@contextlib.contextmanager
def ctrl_c_raises() -> Iterator[None]:
    """Ctrl-C (SIGINT) raises KeyboardInterrupt in the driver meanwhile, even if it came in ignored.

    A worker's render listens to Ctrl-C whatever it inherited (run_job), so
    the driver must too: started with SIGINT ignored (as a script's
    background job is, and a test runner started so), it went on with the
    next episode after Ctrl-C had stopped one.  A handler of the caller's
    own is left in place; only the main thread can set one.
    """
    try:
        current = signal.getsignal(signal.SIGINT)
        previous = signal.signal(signal.SIGINT, signal.default_int_handler) if current in (
            signal.SIG_IGN, signal.SIG_DFL) else None
    except ValueError:  # not the main thread, which alone receives Python's signals
        previous = None
    try:
        yield
    finally:
        if previous is not None:
            signal.signal(signal.SIGINT, previous)


def execute(pool, jobs: Iterable[Job], outer: int, on_start: Callable[[Job], None],
            on_outcome: Callable[[Job, Outcome], None]) -> None:
    """Run *jobs* with at most *outer* at a time, calling back as each starts and ends.

    On KeyboardInterrupt the running jobs are given time to stop (or
    finish, and be kept), then the interrupt goes on to the caller.  A job
    that comes back interrupted is one too: Ctrl-C reached its worker, so
    it was meant for the batch, even if the driver's own signal is late.
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
                if outcome.interrupted:
                    raise KeyboardInterrupt
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
