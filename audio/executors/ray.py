"""The ``ray`` executor: each episode a Ray task, on this machine or a cluster.

Ray is an optional extra, imported only here and only when asked for.
Without an address the batch starts a one-node Ray of its own, on a thread
while the driver reads the catalogue; with one it joins that cluster.
"""

from __future__ import annotations

import contextlib
import logging
import os
import secrets
import signal
import sys
import threading
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path

from ..errors import InputError
from .job import Job, Outcome, import_render, one_line, run_job

# For a Ray the batch starts for itself (unless set already): its processes inherit them.
_OWN_RAY_ENV = {
    "RAY_USAGE_STATS_ENABLED": "0",  # offline: report nothing to ray.io (Ray's documented opt-out)
    # The raylet retries its first connection to its own object store once a
    # second, and that store is often a few ms short of ready: one start in
    # three took a second longer here.  Retried every 0.1 s, within the same 10 s.
    "RAY_raylet_client_connect_timeout_milliseconds": "100",
    "RAY_raylet_client_num_connect_attempts": "100",
    # Ray (2.59 on) turns token authentication on for a cluster ray.init()
    # starts, with the token of ~/.ray/auth_token, which it writes when
    # missing (not atomically: two first batches at once can read each
    # other's half-written token).  A token of this process's own, in the
    # environment its Ray inherits, keeps the authentication and leaves the
    # home folder alone; one per process, so every Ray it starts agrees.
    "RAY_AUTH_TOKEN": secrets.token_hex(32),
}


# What ray.init() itself sets in os.environ for a cluster it starts, put back after.
_SET_BY_RAY = ("RAY_AUTH_MODE",)


@contextlib.contextmanager
def _environment(values: dict[str, str]):
    """*values* in os.environ, for the processes started meanwhile, except names already set."""
    added = [name for name in (*values, *_SET_BY_RAY) if name not in os.environ]
    os.environ.update({name: values[name] for name in added if name in values})
    try:
        yield
    finally:
        for name in added:
            os.environ.pop(name, None)


@contextlib.contextmanager
def _filtered(logger: str, what: logging.Filter | None):
    """*what* filters *logger*'s records meanwhile (None: nothing)."""
    if what is not None:
        logging.getLogger(logger).addFilter(what)
    try:
        yield
    finally:
        if what is not None:
            logging.getLogger(logger).removeFilter(what)


class _NotTheTokenNotice(logging.Filter):
    """Ray's "Token authentication is enabled for this Ray cluster" line, for a cluster that is the batch's own."""

    def filter(self, record: logging.LogRecord) -> bool:
        return not record.getMessage().startswith("Token authentication is enabled for this Ray cluster")


# Ray (2.59 on) starts clusters with token authentication; a driver given an
# address sends the token only when told to, so say how.
_AUTH_HINT = " (a cluster with token authentication needs RAY_AUTH_MODE=token and its token, from `ray get-auth-token`)"


def _ray_task(job: Job) -> Outcome:
    """run_job as a Ray task: a cancelled one ends as Ray expects, by raising.

    ray.cancel() interrupts the task (KeyboardInterrupt); a task that
    returned an Outcome instead raced Ray's own bookkeeping of the
    cancel, and one Ctrl-C in four crashed the driver ("Check failed: ...
    Tried to complete task that was not pending", ray-project/ray#54260).
    """
    return run_job(job, raise_interrupt=True)


class RayPool:
    def __init__(self, address: str | None, workers: int | None, closer: Callable[[], None]) -> None:
        self.closer = closer  # who shuts Ray down: RayStarting's thread, which started it
        try:
            import ray
        except ImportError:
            raise InputError("the ray executor needs Ray: pip install 'episode[ray]'") from None
        self.ray = ray
        self.started = not ray.is_initialized()
        self.own = self.started and not address  # a one-node Ray of this batch's own
        if self.started:
            kwargs = {"address": address} if address else {
                # A Ray of this batch's own: "local", for without an address
                # ray.init() joins the last cluster `ray start` began here,
                # even a dead one whose address file outlived it.  As many
                # CPUs as asked, a small object store.
                "address": "local", "num_cpus": workers or os.cpu_count() or 1,
                "object_store_memory": 256 * 1024 * 1024}
            try:
                with _environment({} if address else _OWN_RAY_ENV), _filtered(
                        "ray._private.authentication.authentication_token_setup", None if address else _NotTheTokenNotice()):
                    ray.init(include_dashboard=False, configure_logging=False, log_to_driver=False, **kwargs)
            except ValueError as exc:  # "HEAD" without its port, and the like
                raise InputError(f"--ray-address {address}: {one_line(exc)}") from None
            except ray.exceptions.AuthenticationError as exc:  # says itself what to do
                raise InputError(f"cannot join the Ray cluster at {address}: {one_line(exc)}") from None
            except ConnectionError as exc:
                # "auto" with no cluster running is no matter of tokens
                hint = _AUTH_HINT if address != "auto" else ""
                raise InputError(f"cannot join the Ray cluster at {address}: {one_line(exc)}{hint}") from None
        self.remote = ray.remote(_ray_task)

    def stop_idle_helpers(self) -> None:
        """Stop the autoscaler and log monitors of a Ray started for this batch alone.

        One node has nothing to autoscale and the batch reads no worker logs
        (log_to_driver=False), so both only take CPU from the renders.  The
        autoscaler monitor also held ray.shutdown() up by a second: Ray stops
        the GCS first, and the monitor's SIGTERM handler then waits on the dead
        GCS until Ray's one-second grace ends (ray-project/ray#14656).  Ray has
        no public switch for either, so this reaches into its node; should
        that move, nothing is stopped and Ray ends as before.
        """
        if not self.own:
            return
        node = getattr(getattr(getattr(self.ray, "_private", None), "worker", None), "_global_node", None)
        for kill in ("kill_monitor", "kill_log_monitor"):
            with contextlib.suppress(Exception):
                getattr(node, kill)(check_alive=False)

    def cpus(self) -> int:
        return max(1, int(self.ray.cluster_resources().get("CPU", 1)))

    def warm(self) -> None:
        """Have each worker import the render before the first episode comes (about 0.5 s each)."""
        self.ray.get([self.ray.remote(import_render).options(num_cpus=1).remote() for _ in range(self.cpus())])

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
        except self.ray.exceptions.TaskCancelledError:  # by cancel(), after Ctrl-C
            return Outcome("?", ok=False, reason="interrupted", interrupted=True)
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
        self._pool: RayPool | None = None
        self._error: BaseException | None = None
        self._done, self._stop = threading.Event(), threading.Event()
        self._thread = threading.Thread(target=self._own, args=(address, workers), daemon=True)
        self._thread.start()

    def _own(self, address: str | None, workers: int | None) -> None:
        try:
            self._pool = RayPool(address, workers, closer=self.stop)
            self._pool.stop_idle_helpers()
            self._pool.warm()
        except BaseException as exc:  # noqa: BLE001 - raised again in the driver, by result()
            self._error = exc
            return
        finally:
            self._done.set()
        self._stop.wait()
        self._pool.shutdown()

    def result(self) -> RayPool:
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
