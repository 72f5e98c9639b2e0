"""Stage 3d's cache: mastered parts on disk, each under the key of its samples and settings.

A part's key (``master._key``) is a digest of everything its MP3 depends
on, so a part is found again whatever render, lane or order made it.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
from pathlib import Path

import numpy as np

from .files import file_digest, write_atomic
from .masterpart import MasteredPart

log = logging.getLogger(__name__)


class PartStore:
    """Mastered parts on disk: ``KEY.mp3``, ``KEY.json`` (its measurements, gains and digests), and
    ``KEY.f32``, the levelled samples its encoder had, kept only once a render asks for the PCM.

    The levelled samples are 12 times the MP3's size (float32 at 24 kHz
    against 64 kb/s), so a render that wants only the MP3 keeps none; one
    that wants the PCM keeps them, and the next one reads them (35 MB in
    0.03 s for the seed) rather than levelling again (0.3 s of CPU).
    """

    def __init__(self, root: Path):
        self.root = Path(root)
        self.root.mkdir(parents=True, exist_ok=True)

    def load(self, key: str) -> MasteredPart | None:
        mp3, meta = self.root / f"{key}.mp3", self.root / f"{key}.json"
        try:
            info = json.loads(meta.read_text(encoding="utf-8"))
            if hashlib.sha256(mp3.read_bytes()).hexdigest() != info["sha256"]:
                raise ValueError("digest")
            return MasteredPart(mp3, int(info["frames"]), np.asarray(info["energies"], dtype=np.float64),
                                float(info["true_peak_dbtp"]), tuple(map(float, info.get("gains_db", ()))),
                                tuple(map(float, info.get("ceilings_db", ()))))
        except FileNotFoundError:
            return None
        except (OSError, ValueError, KeyError, TypeError):
            log.warning("mastered part %s in the cache is damaged; making it again", key[:12])
            return None

    def save(self, key: str, part: MasteredPart, pcm: Path | None = None) -> MasteredPart:
        mp3 = self.root / f"{key}.mp3"
        info = {"sha256": hashlib.sha256(part.mp3.read_bytes()).hexdigest(), "frames": part.frames,
                "energies": part.energies.tolist(), "true_peak_dbtp": part.true_peak_dbtp,
                "gains_db": list(part.gains_db), "ceilings_db": list(part.ceilings_db)}
        os.replace(part.mp3, mp3)  # a concurrent render writes the same bytes: last one wins, both valid
        if pcm is not None:
            info["pcm_sha256"] = file_digest(pcm)
            os.replace(pcm, self.root / f"{key}.f32")
        self._write_info(key, info)
        return MasteredPart(mp3, part.frames, part.energies, part.true_peak_dbtp, part.gains_db, part.ceilings_db)

    def load_pcm(self, key: str) -> np.ndarray | None:
        """The part's levelled samples, if kept and whole."""
        try:
            info = json.loads((self.root / f"{key}.json").read_text(encoding="utf-8"))
            data = (self.root / f"{key}.f32").read_bytes() if "pcm_sha256" in info else None
        except (OSError, ValueError):
            return None
        if data is None or hashlib.sha256(data).hexdigest() != info["pcm_sha256"]:
            return None
        return np.frombuffer(data, dtype="<f4")

    def keep_pcm(self, key: str, pcm: Path) -> None:
        """Keep the levelled samples of a part cached without them."""
        try:
            info = json.loads((self.root / f"{key}.json").read_text(encoding="utf-8"))
        except (OSError, ValueError):
            return
        info["pcm_sha256"] = file_digest(pcm)
        os.replace(pcm, self.root / f"{key}.f32")
        self._write_info(key, info)

    def _write_info(self, key: str, info: dict) -> None:
        write_atomic(self.root / f"{key}.json", json.dumps(info))
