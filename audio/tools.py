"""External programs, found once and on demand, with an install hint.

Nothing is looked up at import time: a missing ffmpeg must surface as a
clear error when it is needed, not as a silent fallback at import.
"""

from __future__ import annotations

import functools
import hashlib
import logging
import os
import shutil
import subprocess
import tempfile
from collections.abc import Callable
from pathlib import Path

from .errors import EncodeError, ToolMissingError

log = logging.getLogger(__name__)

# program -> Debian package that provides it
_PACKAGES = {
    "espeak-ng": "espeak-ng",
    "ffmpeg": "ffmpeg",
    "ffprobe": "ffmpeg",
}


@functools.cache
def require(program: str) -> str:
    """Return the absolute path of *program* or raise with an install hint."""
    found = shutil.which(program)
    if found is None:
        package = _PACKAGES.get(program, program)
        raise ToolMissingError(
            f"{program} is not installed: run `sudo apt-get install {package}` "
            f"(or ./scripts/setup.sh)"
        )
    return found


def run(argv: list[str], *, input_bytes: bytes | None = None, timeout_s: float | None = None,
        what: str = "") -> subprocess.CompletedProcess[bytes]:
    """Run a tool found by :func:`require`; a failure becomes an EncodeError."""
    argv = [require(argv[0]), *argv[1:]]
    log.debug("running %s", " ".join(argv))
    try:
        proc = subprocess.run(argv, input=input_bytes, capture_output=True, timeout=timeout_s,
                              check=False)
    except subprocess.TimeoutExpired as exc:
        raise EncodeError(f"{Path(argv[0]).name} timed out after {timeout_s:.0f} s {what}".strip()) from exc
    if proc.returncode != 0:
        tail = proc.stderr.decode("utf-8", "replace").strip().splitlines()[-1:] or ["no message"]
        raise EncodeError(f"{Path(argv[0]).name} failed {what}: {tail[0]}".replace("  ", " "))
    return proc


MODELS_ENV = "EPISODE_MODELS_DIR"  # where derived model files go instead of the user's cache


def models_dir() -> Path:
    """Where model files made from installed ones live (Whisper base joined, Piper's voice patched).

    $EPISODE_MODELS_DIR, else the user's cache: each is made once per machine.
    """
    override = os.environ.get(MODELS_ENV)
    if override:
        return Path(override)
    from platformdirs import user_cache_dir

    return Path(user_cache_dir("episode")) / "models"


def kept_model(source: Path, kind: str, version: str, make: Callable[[Path], None]) -> Path | None:
    """A model file made from the installed *source* once per machine, in models_dir(); None if it cannot be kept.

    Its name holds a digest of *source*'s path, size and mtime and of
    *version*, so a changed voice file or patch makes it again.
    ``make(path)`` writes it; it is made under a temporary name and renamed
    into place (a worker making the same file at once writes the same
    bytes), and a failure (a full disk) leaves no part of it behind.
    """
    st = source.stat()
    tag = hashlib.sha256(f"{source.resolve()}|{st.st_size}|{st.st_mtime_ns}|{version}".encode()).hexdigest()[:16]
    dest = models_dir() / f"{kind}-{source.stem}-{tag}.onnx"
    if dest.is_file():
        return dest
    tmp = None
    try:
        dest.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(prefix=f".{dest.name}.", dir=dest.parent)
        os.close(fd)
        make(Path(tmp))
        os.replace(tmp, dest)
        return dest
    except (OSError, RuntimeError) as exc:  # (onnxruntime reports a failed write as a RuntimeError)
        logging.getLogger(__name__).warning("cannot keep the %s model in %s (%s); making it in memory", kind,
                                            dest.parent, getattr(exc, "strerror", None) or exc)
        return None
    finally:
        if tmp is not None:
            Path(tmp).unlink(missing_ok=True)


@functools.cache
def espeak_version() -> str:
    """espeak-ng's version string, part of the synthesis cache key."""
    proc = run(["espeak-ng", "--version"], what="reporting its version")
    return proc.stdout.decode("utf-8", "replace").split("Data at")[0].strip()
