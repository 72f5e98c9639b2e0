"""The ``local`` executor: a process pool on this machine.

Forkserver, else spawn: renders run threads and subprocesses, which do not
survive fork.  The server imports the render once and each worker forks
from it ready; a worker keeps its Synthesizer, so its engines stay loaded.
"""

from __future__ import annotations

import concurrent.futures as cf
import multiprocessing
import signal

from .job import Job, Outcome, one_line, run_job


def _init_local_worker() -> None:
    # Between jobs a worker ignores Ctrl-C (the driver decides what stops);
    # run_job listens to it while a render runs, so that render cleans up.
    signal.signal(signal.SIGINT, signal.SIG_IGN)


class LocalPool:
    def __init__(self, workers: int) -> None:
        methods = multiprocessing.get_all_start_methods()
        ctx = multiprocessing.get_context("forkserver" if "forkserver" in methods else "spawn")
        if ctx.get_start_method() == "forkserver":
            # The server imports the render once; each worker forks from it ready.
            ctx.set_forkserver_preload(["audio.executors.job", "audio.render", "audio.outputs.publish"])
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
