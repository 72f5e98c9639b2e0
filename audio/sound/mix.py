"""The music layer mastering mixes under the speech (``audio.master.SoundLayer``), and the speech of that mix.

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
import tempfile
from dataclasses import replace
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from ..errors import EncodeError
from ..master import MIN_PART_S
from .plan import Placement

if TYPE_CHECKING:
    from ..master import Mastered, MasteringTargets

KEY_VERSION = 2  # bump when what a key covers, or how a mixed turn is levelled, changes


class MusicLayer:
    """The placed sounds of a :class:`~audio.sound.plan.Placement`, mixed under speech."""

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


def master_speech_stem(samples: np.ndarray, rate_hz: int, turn_starts: list[int], dest: Path,
                       targets: MasteringTargets, cache_dir: Path | None, layer: MusicLayer,
                       workers: int | None = None) -> Mastered:
    """The speech of the mix ``master_turns(..., layer=layer)`` makes, alone, as an MP3 on the same timeline.

    Each turn is levelled with the gain the mix's part was given (from the
    part cache: the mix is mastered first if it is not there) and limited
    with the limiter's gain for the mix, so that the speech here is, to the
    sample, the speech in the mix (``level_turn(stem=True)``).  Parts with no
    music are the mix's own MP3s.  ``episode verify`` compares the two.
    """
    from ..encode import concat_mp3, count_frames, encode_mp3
    from ..master import _key, join_offsets, master_turns, parts_of
    from ..partstore import PartStore
    from ..masterpart import levelled_again

    with tempfile.TemporaryDirectory(prefix="episode-stem-") as scratch:
        store_dir = cache_dir if cache_dir is not None else Path(scratch, "store")
        mix = master_turns(samples, rate_hz, turn_starts, Path(scratch, "mix.mp3"), targets, store_dir, workers,
                           layer=layer)
        store = PartStore(store_dir)
        ends = [*turn_starts[1:], len(samples)]
        mp3s = []
        for n, group in enumerate(parts_of(turn_starts, len(samples), rate_hz, MIN_PART_S)):
            a, b = turn_starts[group[0]], ends[group[-1]]
            inner = [turn_starts[k] - a for k in group]
            music = layer.key(a, b)
            part = store.load(_key(samples[a:b], inner, rate_hz, targets, music))
            if part is None:
                raise EncodeError("a mastered part of the mix left the cache while its speech was made")
            if not music:
                mp3s.append(part.mp3)
                continue
            mp3s.append(Path(scratch, f"stem-{n}.mp3"))
            encode_mp3(levelled_again(samples[a:b], rate_hz, inner, part, layer=layer, offset=a, stem=True),
                       rate_hz, mp3s[-1], bitrate_kbps=targets.bitrate_kbps)
        concat_mp3(mp3s, dest)
        frames = [count_frames(p) for p in mp3s]
    part_offsets = join_offsets(frames)
    groups = parts_of(turn_starts, len(samples), rate_hz, MIN_PART_S)
    offsets = [part_offsets[n] + round((turn_starts[k] - turn_starts[g[0]]) * 1000 / rate_hz)
               for n, g in enumerate(groups) for k in g]
    return replace(mix, offsets_ms=tuple(offsets), part_frames=tuple(frames))
