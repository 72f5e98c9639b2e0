"""Stage 3d: mastering: level each turn, encode turns in parts, join the MP3s.

Each turn (with the pause before it) is levelled to the loudness target on
its own, as a producer's leveller balances host and guest.  Consecutive
turns are encoded together as parts of at least 20 s, each an MP3 of its
own; a part's MP3 is a function of its samples alone, so parts are mastered
in parallel and kept in a cache: after an edit only the part holding the
edited turn is levelled and encoded again.  Parts are dealt to one lane
a core, and a lane's first passes share one ffmpeg process (each part
still its own LAME stream: see ``masterpart.master_parts``), since
starting ffmpeg costs as much as encoding 12 s of speech.  The joined
file is one CBR stream whose chapters and captions move by the few
milliseconds each join adds (see :func:`join_offsets`).

Targets are checked on decoded MP3 audio, not on the signal before
encoding: at 64 kb/s the encoder takes about 0.45 LU away and lifts the
true peak by up to a decibel.  Each part is decoded and measured turn by
turn; the episode's integrated loudness is gated over the turns' 100 ms
energies together, as over the joined file, and its true peak is the
largest turn's.

Two extension points change nothing when unused:

- a *sound layer* (:class:`SoundLayer`) mixes music under each turn's
  speech after its gain and before the limiter and the encoder, so that the
  targets hold for the mix; its description of a part's span is part of
  that part's cache key;
- *pcm*: the master itself, the levelled float32 samples laid out on the
  joined MP3's own timeline, for encoders of other formats (M4B, Opus) that
  must keep the MP3's chapter times (see :func:`master_turns`).
"""

from __future__ import annotations

import concurrent.futures as cf
import contextlib
import hashlib
import json
import logging
import os
import struct
import tempfile
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

import numpy as np

from .encode import OUTPUT_RATE_HZ, SAMPLES_PER_FRAME, concat_mp3
from .errors import EncodeError
from .files import file_digest, write_atomic
from .loudness import LoudnessReport, integrated_from_energies
from .masterpart import ENCODER_LOSS_GUESS_LU, MasteredPart, PartJob, levelled_again, master_parts, tee

log = logging.getLogger(__name__)

VERSION = 4  # bump when levelling or encoding changes (invalidates cached parts)
EPISODE_TOLERANCE_LU = 0.5  # Apple asks for -16 LUFS within 1 dB; aim at half that
MIN_PART_S = 20.0


@dataclass(frozen=True)
class MasteringTargets:
    target_lufs: float = -16.0
    true_peak_dbtp: float = -1.0
    bitrate_kbps: int = 64


@dataclass(frozen=True)
class Mastered:
    loudness: LoudnessReport  # of the decoded turns together
    offsets_ms: tuple[int, ...]  # per turn: where its first sample is heard in the joined MP3
    encoded: int  # turns levelled and encoded now
    from_cache: int
    # With master_turns(pcm=PATH): PATH, a float32 mono WAV at the assembly's
    # rate; its sample i is heard at i / rate in the joined MP3 (see master_turns).
    pcm: Path | None = None
    part_frames: tuple[int, ...] = ()  # MPEG frames of each part, in order: what join_offsets places


class SoundLayer(Protocol):
    """Music mixed under the speech by ``master_turns`` (issue 21's ``audio/sound.py``).

    Positions are samples of the assembled timeline (the ``samples`` given
    to ``master_turns``, at its ``rate_hz``).  Both methods must be
    deterministic: the same span gives the same key, and the same arguments
    the same mix, in this render and the next (cached parts rely on it).
    """

    def key(self, start_sample: int, end_sample: int) -> str:
        """What the layer adds to samples ``[start_sample, end_sample)``; ``""`` when nothing.

        It joins the cache key of the MP3 part holding that span, so it must
        change whenever that span's music does (file digests, positions,
        levels, envelope settings); a part whose span keys ``""`` is mastered
        (and cached) exactly as without a layer, and its turns are not mixed.
        """
        ...

    def mix(self, levelled: np.ndarray, start_sample: int, rate_hz: int) -> np.ndarray:
        """The mix of one turn: *levelled* speech (float32, after its gain, before the limiter) plus music.

        *levelled* is a whole turn (with the pause before it) whose first
        sample is *start_sample* of the timeline; the result is float32 of
        the same length.  The limiter, the band limit, the encoder and the
        decoded-MP3 checks (loudness per turn and for the episode, true peak)
        then apply to the mix; a turn that misses is levelled again, and the
        layer called again with its new speech.
        """
        ...


def join_offsets(frames: list[int], rate_hz: int = OUTPUT_RATE_HZ) -> list[int]:
    """Where each part's first input sample is heard in the joined MP3, in ms.

    Every part is its own LAME stream: its audio starts after the encoder's
    delay into its frames.  Players skip that delay once, at the start of
    the file (the joined file's LAME tag says so); later parts keep theirs,
    so part k starts exactly where the frames before it end.
    """
    offsets, total = [], 0
    for n in frames:
        offsets.append(round(total * 1000 / rate_hz))
        total += n * SAMPLES_PER_FRAME
    return offsets


def _key(samples: np.ndarray, starts: list[int], rate_hz: int, targets: MasteringTargets,
         layer_key: str = "") -> str:
    digest = hashlib.sha256(json.dumps([VERSION, rate_hz, starts, targets.target_lufs, targets.true_peak_dbtp,
                                        targets.bitrate_kbps, ENCODER_LOSS_GUESS_LU]).encode())
    digest.update(np.ascontiguousarray(samples).tobytes())
    if layer_key:  # without a layer (or none of it here) the key is the speech's alone, as it always was
        digest.update(b"\0sound layer\0" + layer_key.encode())
    return digest.hexdigest()


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


def parts_of(turn_starts: list[int], length: int, rate_hz: int, min_part_s: float) -> list[list[int]]:
    """Consecutive turns grouped into parts of at least *min_part_s* (the last may be shorter)."""
    parts: list[list[int]] = [[]]
    ends = [*turn_starts[1:], length]
    for k, (a, b) in enumerate(zip(turn_starts, ends, strict=True)):
        parts[-1].append(k)
        if (b - turn_starts[parts[-1][0]]) >= min_part_s * rate_hz and k < len(turn_starts) - 1:
            parts.append([])
    return [p for p in parts if p]


def master_turns(samples: np.ndarray, rate_hz: int, turn_starts: list[int], dest: Path,
                 targets: MasteringTargets, cache_dir: Path | None, workers: int | None = None,
                 min_part_s: float = MIN_PART_S, *, layer: SoundLayer | None = None,
                 pcm: Path | None = None) -> Mastered:
    """Master each turn (``samples[turn_starts[k]:turn_starts[k+1]]``) and join them into *dest*.

    Turns are encoded in parts of at least *min_part_s*: starting ffmpeg
    costs about 70 ms, as much as encoding 12 s of speech, and a question
    is often shorter than that.

    *layer* mixes music under the speech (see :class:`SoundLayer`).

    With *pcm*, the master is also written there as a float32 mono WAV at
    *rate_hz*: the samples each part's encoder was given, each part placed
    where its first sample is heard in *dest* (``join_offsets``), silence
    between, as long as *dest* lasts by its frames (``mp3_duration_ms``).  A
    time in the MP3 is the same time in the WAV, to a fraction of a sample,
    so chapters and captions made for the MP3 hold for anything encoded
    from it.  Each part's levelled samples are kept in the cache beside its
    MP3 once a render asks for the PCM (see :class:`PartStore`); a part
    cached before that is levelled again from its recorded gains.
    """
    ends = [*turn_starts[1:], len(samples)]
    groups = parts_of(turn_starts, len(samples), rate_hz, min_part_s)
    spans = [(turn_starts[g[0]], ends[g[-1]]) for g in groups]
    inner = [[turn_starts[k] - turn_starts[g[0]] for k in g] for g in groups]
    layer_keys = [layer.key(a, b) if layer is not None else "" for a, b in spans]
    with contextlib.ExitStack() as stack:
        scratch = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="episode-turns-")))
        store = PartStore(cache_dir if cache_dir is not None else scratch / "store")
        # made beside the store, so that moving a part into it is a rename
        tmp = stack.enter_context(tempfile.TemporaryDirectory(prefix=".making-", dir=store.root))
        keys = [_key(samples[a:b], starts, rate_hz, targets, lk)
                for (a, b), starts, lk in zip(spans, inner, layer_keys, strict=True)]
        done: dict[str, MasteredPart] = {}
        for n, key in enumerate(keys):
            if key not in done and (part := store.load(key)) is not None:
                if pcm is None or len(part.gains_db) == len(inner[n]):  # older entries kept no gains
                    done[key] = part
        todo = {k: n for n, k in enumerate(keys) if k not in done}

        def lane(chosen: list[str]) -> list[tuple[str, MasteredPart]]:
            pcms = {key: Path(tmp, f"{key}.f32") if pcm is not None else None for key in chosen}
            jobs = [PartJob(samples[spans[n][0]:spans[n][1]], tuple(inner[n]), Path(tmp, f"{key}.mp3"),
                            layer=layer if layer_keys[n] else None, offset=spans[n][0], pcm=pcms[key])
                    for key in chosen for n in (todo[key],)]
            made = master_parts(jobs, rate_hz, targets)
            return [(key, store.save(key, part, pcms[key])) for key, part in zip(chosen, made, strict=True)]

        # One lane a core, each one encoder process for its parts (see master_parts); parts are dealt
        # longest first to the lane with the least so far, so the lanes end together.  The encoder
        # runs in ffmpeg and numpy releases the GIL, so threads use every core.
        lanes: list[list[str]] = [[] for _ in range(min(workers or os.cpu_count() or 1, len(todo)) or 1)]
        load = [0] * len(lanes)
        for key in sorted(todo, key=lambda k: spans[todo[k]][0] - spans[todo[k]][1]):
            least = load.index(min(load))
            lanes[least].append(key)
            load[least] += spans[todo[key]][1] - spans[todo[key]][0]
        with cf.ThreadPoolExecutor(max_workers=len(lanes)) as pool:
            for made in pool.map(lane, [chosen for chosen in lanes if chosen]):
                done.update(made)
        parts = [done[k] for k in keys]
        energies = np.concatenate([p.energies for p in parts])
        report = LoudnessReport(integrated_from_energies(energies, OUTPUT_RATE_HZ),
                                max(p.true_peak_dbtp for p in parts))
        if report.true_peak_dbtp > targets.true_peak_dbtp or \
                abs(report.integrated_lufs - targets.target_lufs) > EPISODE_TOLERANCE_LU:
            raise EncodeError(f"could not meet {targets.target_lufs} LUFS and {targets.true_peak_dbtp} dBTP "
                              f"({report.integrated_lufs:.2f} LUFS, {report.true_peak_dbtp:.2f} dBTP)")
        concat_mp3([p.mp3 for p in parts], dest)
        if pcm is not None:
            sources, missing = [], []
            for n, key in enumerate(keys):
                if (kept := store.load_pcm(key)) is not None:
                    sources.append([kept])
                else:  # cached before a render asked for the PCM: level again from the recorded gains
                    missing.append((key, Path(tmp, f"{key}.f32")))
                    sources.append(tee(levelled_again(samples[spans[n][0]:spans[n][1]], rate_hz, inner[n],
                                                       parts[n], layer=layer if layer_keys[n] else None,
                                                       offset=spans[n][0]), missing[-1][1]))
            write_master_wav(pcm, rate_hz, [p.frames for p in parts], sources)
            for key, levelled in dict(missing).items():
                store.keep_pcm(key, levelled)
    encoded = sum(len(groups[n]) for n in todo.values())
    log.info("mastered %d turns (%d from cache): %.2f LUFS, %.2f dBTP", len(turn_starts),
             len(turn_starts) - encoded, report.integrated_lufs, report.true_peak_dbtp)
    part_offsets = join_offsets([p.frames for p in parts])
    offsets = [part_offsets[n] + round(start * 1000 / rate_hz)
               for n, starts in enumerate(inner) for start in starts]
    return Mastered(loudness=report, offsets_ms=tuple(offsets), encoded=encoded,
                    from_cache=len(turn_starts) - encoded, pcm=pcm, part_frames=tuple(p.frames for p in parts))




def _output_to_rate(output_samples: int, rate_hz: int) -> int:
    """A position in output (44.1 kHz) samples as the nearest sample at *rate_hz*."""
    return (2 * output_samples * rate_hz + OUTPUT_RATE_HZ) // (2 * OUTPUT_RATE_HZ)


def write_master_wav(path: Path, rate_hz: int, frames: list[int], parts: list[Iterable[np.ndarray]]) -> None:
    """The master as a float32 mono WAV: part k at the first sample after the frames before it.

    Part k's first sample is heard at ``sum(frames[:k]) * 1152`` output
    samples into the joined MP3 (``join_offsets``); here it is that time's
    nearest sample at *rate_hz*, so no part drifts by more than half a
    sample.  Between parts (each part's encoder padding and the next one's
    delay) is silence; the file ends where the MP3's last frame does.
    """
    starts, total = [], 0
    for n in frames:
        starts.append(_output_to_rate(total, rate_hz))
        total += n * SAMPLES_PER_FRAME
    length = _output_to_rate(total, rate_hz)
    data_bytes = 4 * length
    # WAVE_FORMAT_IEEE_FLOAT: a fmt chunk with cbSize, and the fact chunk non-PCM formats carry
    header = (b"RIFF" + struct.pack("<I", 4 + 26 + 12 + 8 + data_bytes) + b"WAVE"
              + b"fmt " + struct.pack("<IHHIIHHH", 18, 3, 1, rate_hz, 4 * rate_hz, 4, 32, 0)
              + b"fact" + struct.pack("<II", 4, length) + b"data" + struct.pack("<I", data_bytes))
    with open(path, "wb") as f:
        f.write(header)
        position = 0
        for start, end, chunks in zip(starts, [*starts[1:], length], parts, strict=True):
            f.write(bytes(4 * (start - position)))
            position = start
            for chunk in chunks:
                chunk = chunk[:max(0, end - position)]  # a part never runs into the next (tested)
                f.write(np.ascontiguousarray(chunk, dtype="<f4").tobytes())
                position += len(chunk)
        f.write(bytes(4 * (length - position)))
