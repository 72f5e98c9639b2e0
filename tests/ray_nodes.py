"""Nodes of a Ray cluster on this machine, started as the README's steps start them.

`ray start --block` runs a node in the foreground until SIGTERM, which stops
every process of that node.  tests/test_batch.py joins such a cluster with
--ray-address; scripts/bench.py times a batch joining one.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

OBJECT_STORE_BYTES = 128 * 1024 * 1024
START_TIMEOUT_S = 90


def start_node(args: list[str], log: Path, env: dict[str, str]) -> subprocess.Popen:
    """`ray start --block ARGS`, returned once it says it has started; RuntimeError if it does not."""
    with log.open("w") as out:
        proc = subprocess.Popen([str(Path(sys.executable).parent / "ray"), "start", "--block", *args,
                                 "--disable-usage-stats", f"--object-store-memory={OBJECT_STORE_BYTES}"],
                                env=env, stdout=out, stderr=subprocess.STDOUT, start_new_session=True)
    deadline = time.monotonic() + START_TIMEOUT_S
    while "Ray runtime started" not in log.read_text(errors="replace"):
        if proc.poll() is not None or time.monotonic() > deadline:
            stop_node(proc)
            raise RuntimeError(f"ray start {' '.join(args)} did not start: {log.read_text(errors='replace')[-2000:]}")
        time.sleep(0.2)
    return proc


def stop_node(proc: subprocess.Popen) -> None:
    """Stop a node and wait for it; SIGKILL to its process group if it does not stop within a minute."""
    proc.terminate()
    try:
        proc.wait(timeout=60)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait()
        raise
