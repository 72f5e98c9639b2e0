"""Files written so that a reader never sees half of one.

Every output is made under a temporary name in its destination's folder
and renamed into place when complete: a failure, an interrupt or a full
disk leaves the earlier file (or none) as it was.
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

from .errors import OutputError


def write_atomic(dest: Path, data: bytes | str) -> Path:
    blob = data.encode("utf-8") if isinstance(data, str) else data
    try:
        fd, tmp = tempfile.mkstemp(prefix=f".{dest.name}.", dir=dest.parent)
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
    """An empty private file in *dest*'s folder, to be renamed onto *dest* when complete."""
    try:
        dest.parent.mkdir(parents=True, exist_ok=True)
        fd, name = tempfile.mkstemp(prefix=f".{dest.stem}.", suffix=suffix, dir=dest.parent)
    except OSError as exc:
        raise OutputError(f"cannot write to {dest.parent}: {exc.strerror}") from None
    os.close(fd)
    return Path(name)
