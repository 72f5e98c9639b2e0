"""The music layer mastering mixes under the speech (``audio.master.SoundLayer``).

Music is added to each turn's levelled speech after its gain and before
the limiter and the encoder, so the loudness and true-peak targets hold
for the mix.  A span's key is a digest of the music samples that fall in
it, placed relative to the span's own first sample: a part whose speech
and music are unchanged keeps its cached MP3 wherever the edit before it
moved it, so that a re-render after editing one answer masters only the
part holding that answer.
"""

from __future__ import annotations

import hashlib

import numpy as np

from .soundplan import Placement

KEY_VERSION = 1  # bump when what a key covers changes


class MusicLayer:
    """The placed sounds of a :class:`~audio.soundplan.Placement`, mixed under speech."""

    def __init__(self, placement: Placement):
        self.placed = placement.placed
        self.rate_hz = placement.rate_hz
        self._keys: dict[tuple[int, int], str] = {}  # master_turns asks per part, master_part per turn, again

    def _overlaps(self, start: int, end: int):
        for p in self.placed:
            a, b = max(start, p.start), min(end, p.start + len(p.samples))
            if a < b:
                yield p, a, b

    def key(self, start_sample: int, end_sample: int) -> str:
        if (start_sample, end_sample) not in self._keys:
            self._keys[(start_sample, end_sample)] = self._key(start_sample, end_sample)
        return self._keys[(start_sample, end_sample)]

    def _key(self, start_sample: int, end_sample: int) -> str:
        digest, any_music = hashlib.sha256(f"music layer {KEY_VERSION} {self.rate_hz}".encode()), False
        for p, a, b in self._overlaps(start_sample, end_sample):
            any_music = True
            digest.update(f"\0{a - start_sample} {b - a}\0".encode())
            digest.update(np.ascontiguousarray(p.samples[a - p.start:b - p.start]).tobytes())
        return digest.hexdigest() if any_music else ""

    def mix(self, levelled: np.ndarray, start_sample: int, rate_hz: int) -> np.ndarray:
        if rate_hz != self.rate_hz:
            raise ValueError(f"the music was placed at {self.rate_hz} Hz, the speech is at {rate_hz} Hz")
        out = np.array(levelled, dtype=np.float32, copy=True)
        for p, a, b in self._overlaps(start_sample, start_sample + len(out)):
            out[a - start_sample:b - start_sample] += p.samples[a - p.start:b - p.start]
        return out
