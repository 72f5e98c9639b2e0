"""Files written so that a reader never sees half of one.

Every output is made under a temporary name in its destination's folder
and renamed into place when complete: a failure, an interrupt or a full
disk leaves the earlier file (or none) as it was.

A temporary name carries its writer: ``.NAME.~HOST-PID.XXXXXXXX[SUFFIX]``.
A process killed with SIGKILL cleans nothing up, so a render removes what
earlier renders of the same destination left (its MP3's and its sidecars'
temporary files), when their writer, on this machine, is gone; a file of
a render still running, or of another machine's (a shared folder), is kept.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import re
import socket
import tempfile
from pathlib import Path

from .errors import EpisodeError, OutputError


def file_digest(path: Path) -> str:
    """SHA-256 of a file's bytes, read in blocks (cache keys of masters, music and encodes)."""
    with open(path, "rb") as f:
        return hashlib.file_digest(f, "sha256").hexdigest()


def write_atomic(dest: Path, data: bytes | str) -> Path:
    blob = data.encode("utf-8") if isinstance(data, str) else data
    try:
        fd, tmp = tempfile.mkstemp(prefix=_prefix(dest.name), dir=dest.parent)
    except OSError as exc:
        raise OutputError(f"cannot write to {dest.parent}: {exc.strerror}") from None
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(blob)
        os.chmod(tmp, 0o644)
        os.replace(tmp, dest)
    except BaseException as exc:
        Path(tmp).unlink(missing_ok=True)
        if isinstance(exc, OSError) and not isinstance(exc, OutputError):  # a full disk, a folder in the way
            raise OutputError(f"cannot write {dest}: {exc.strerror or exc}") from None
        raise
    return dest


def temporary_beside(dest: Path, suffix: str) -> Path:
    """An empty private file in *dest*'s folder, to be renamed onto *dest* when complete.

    What earlier writers of *dest* (and of its sidecars) left and no live
    process holds is removed first.
    """
    try:
        dest.parent.mkdir(parents=True, exist_ok=True)
        remove_stale(dest)
        fd, name = tempfile.mkstemp(prefix=_prefix(dest.stem), suffix=suffix, dir=dest.parent)
    except OSError as exc:
        raise OutputError(f"cannot write to {dest.parent}: {exc.strerror}") from None
    os.close(fd)
    return Path(name)


@contextlib.contextmanager
def replacing(dest: Path, suffix: str):
    """A temporary file beside *dest* to write (see :func:`temporary_beside`), renamed onto *dest* on success.

    On any failure or interrupt it is removed and *dest* stays as it was.
    """
    part = temporary_beside(dest, suffix)
    try:
        yield part
        os.chmod(part, 0o644)  # mkstemp made it private; a deliverable is for publishing
        os.replace(part, dest)
    except BaseException as exc:
        part.unlink(missing_ok=True)
        if isinstance(exc, OSError) and not isinstance(exc, EpisodeError):  # a full disk, a folder in the way
            raise OutputError(f"cannot write {dest}: {exc.strerror or exc}") from None
        raise


def _host() -> str:
    return re.sub(r"[^A-Za-z0-9-]", "-", socket.gethostname())[:32] or "host"


def _prefix(name: str) -> str:
    return f".{name}.~{_host()}-{os.getpid()}."


_OURS = re.compile(r"\.(?P<base>.+)\.~(?P<host>[A-Za-z0-9-]+)-(?P<pid>\d+)\.[a-z0-9_]{8}(?:\.[^.]+)*")


def remove_stale(dest: Path) -> list[Path]:
    """Remove the temporary files of *dest* and its sidecars (``STEM.*``) whose writer here has died."""
    stem, host, removed = Path(dest).stem, _host(), []
    try:
        entries = list(os.scandir(Path(dest).parent))
    except OSError:
        return removed
    for entry in entries:
        m = _OURS.fullmatch(entry.name)
        if (m is None or m["host"] != host or not (m["base"] == stem or m["base"].startswith(stem + "."))
                or _alive(int(m["pid"])) or not entry.is_file(follow_symlinks=False)):
            continue
        try:
            os.unlink(entry.path)
            removed.append(Path(entry.path))
        except FileNotFoundError:  # another render swept it first
            pass
    return removed


def _alive(pid: int) -> bool:
    if pid == os.getpid():
        return True
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # another user's process: alive
        return True
    return True
