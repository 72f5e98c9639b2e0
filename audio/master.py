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

import contextlib
import hashlib
import json
import logging
import os
import struct
import tempfile
import threading
from collections.abc import Iterable
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Protocol

import numpy as np

from .encode import MAX_PARTS_PER_PROCESS, OUTPUT_RATE_HZ, SAMPLES_PER_FRAME, concat_mp3
from .errors import EncodeError
from .loudness import LoudnessReport, integrated_from_energies
from .partstore import PartStore
from .masterpart import ENCODER_LOSS_GUESS_LU, MasteredPart, PartJob, levelled_again, master_parts, tee

log = logging.getLogger(__name__)

VERSION = 4  # bump when levelling or encoding changes (invalidates cached parts)
EPISODE_TOLERANCE_LU = 0.5  # Apple asks for -16 LUFS within 1 dB; aim at half that
MIN_PART_S = 20.0
# While parts are still to come, a lane takes them once they hold this much audio, and as much: a
# lane's ffmpeg costs what 12 s of speech takes to encode to start, and a long part taken with the
# ones after it left the lanes uneven (the espeak-ng seed's first part is 139 s of its 472).
GROUP_MIN_S = 60.0


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
    with PartMaster(rate_hz, targets, cache_dir, workers, layer=layer, pcm=pcm) as master:
        for group in parts_of(turn_starts, len(samples), rate_hz, min_part_s):
            a = turn_starts[group[0]]
            master.add(samples[a:ends[group[-1]]], [turn_starts[k] - a for k in group], a)
        return master.result(dest)


@dataclass(frozen=True)
class _Part:
    samples: np.ndarray
    inner: tuple[int, ...]  # where its turns start, from its first sample
    offset: int  # its first sample's place on the assembled timeline
    key: str
    layer_key: str


class PartMaster:
    """Parts mastered as they are given, in lanes of their own, one a core; then checked and joined.

    ``master_turns`` gives it every part at once; a render that masters
    early turns while later ones are still spoken (audio.streaming) gives
    each part as its turns are assembled.  A part's MP3 is a function of
    its samples alone, so when and in which lane it is made changes
    nothing in the joined file.  At :meth:`close` what waits is dealt out
    so that the lanes end together, and each lane encodes its parts through
    one ffmpeg process (up to MAX_PARTS_PER_PROCESS: see ``master_parts``).
    An *eager* master (the streamed render's) does not wait for the close:
    a lane takes the parts waiting once they hold GROUP_MIN_S of audio.
    The encoder runs in ffmpeg and numpy releases the GIL, so threads use
    every core.  Use it as a context manager: leaving it early (an error,
    Ctrl-C) lets the lanes finish the parts in hand and removes its files.
    """

    def __init__(self, rate_hz: int, targets: MasteringTargets, cache_dir: Path | None,
                 workers: int | None = None, *, layer: SoundLayer | None = None, pcm: Path | None = None,
                 eager: bool = False, goal: MasteringTargets | None = None):
        self.rate_hz, self.targets, self.layer, self.pcm, self.eager = rate_hz, targets, layer, pcm, eager
        self.goal = goal or targets  # what the episode is checked against (the turns aim at *targets*)
        self._cached = cache_dir is not None
        self._stack = contextlib.ExitStack()
        scratch = Path(self._stack.enter_context(tempfile.TemporaryDirectory(prefix="episode-turns-")))
        self.store = PartStore(cache_dir if cache_dir is not None else scratch / "store")
        # made beside the store, so that moving a part into it is a rename
        self._tmp = self._stack.enter_context(tempfile.TemporaryDirectory(prefix=".making-", dir=self.store.root))
        self.parts: list[_Part] = []
        self._done: dict[str, MasteredPart] = {}
        self._waiting: list[_Part] = []
        self._claimed: set[str] = set()
        self._encoded_turns = 0
        self._cond = threading.Condition()
        self._closed = self._stopped = False
        self._failures: list[BaseException] = []
        lanes = workers or os.cpu_count() or 1
        self._dealt: list[list[_Part]] = [[] for _ in range(lanes)]
        self._in_hand = [0] * lanes  # samples of the parts each lane is mastering now
        self._lanes = [threading.Thread(target=self._lane, args=(n,), name=f"episode-master-{n}", daemon=True)
                       for n in range(lanes)]
        for lane in self._lanes:
            lane.start()

    def __enter__(self) -> PartMaster:
        return self

    def __exit__(self, *exc: object) -> None:
        with self._cond:
            self._stopped = True  # (after result(): nothing is left to stop)
            self._cond.notify_all()
        for lane in self._lanes:
            lane.join()
        self._stack.close()

    def add(self, samples: np.ndarray, inner: list[int], offset: int) -> None:
        """The next part: its samples, where its turns start in them, and where it starts on the timeline."""
        layer_key = self.layer.key(offset, offset + len(samples)) if self.layer is not None else ""
        part = _Part(samples, tuple(inner), offset, _key(samples, list(inner), self.rate_hz, self.targets, layer_key),
                     layer_key)
        self.parts.append(part)
        if part.key in self._claimed:
            return  # the same samples as an earlier part: one MP3 serves both
        self._claimed.add(part.key)
        cached = self.store.load(part.key)
        if cached is not None and (self.pcm is None or len(cached.gains_db) == len(inner)):  # older: no gains
            with self._cond:
                self._done[part.key] = cached
            return
        with self._cond:
            self._waiting.append(part)
            self._cond.notify_all()

    def close(self) -> None:
        """No more parts: what waits is dealt to the lanes, longest first to the one with the least in hand.

        That is how lanes end together: a lane's in hand counts what it is
        encoding now, by samples, which is what encoding costs.
        """
        with self._cond:
            self._closed = True
            load = list(self._in_hand)
            for part in sorted(self._waiting, key=lambda p: -len(p.samples)):
                least = load.index(min(load))
                self._dealt[least].append(part)
                load[least] += len(part.samples)
            self._waiting.clear()
            self._cond.notify_all()

    def _take(self, lane: int) -> list[_Part] | None:
        with self._cond:
            while True:
                if self._stopped or self._failures:
                    return None
                if self._closed:
                    mine = self._dealt[lane]
                    taken, self._dealt[lane] = mine[:MAX_PARTS_PER_PROCESS], mine[MAX_PARTS_PER_PROCESS:]
                    break
                if self.eager and sum(len(p.samples) for p in self._waiting) >= GROUP_MIN_S * self.rate_hz:
                    taken, size = [], 0
                    while size < GROUP_MIN_S * self.rate_hz and len(taken) < MAX_PARTS_PER_PROCESS:
                        taken.append(self._waiting.pop(0))
                        size += len(taken[-1].samples)
                    break
                self._cond.wait()
            self._in_hand[lane] = sum(len(p.samples) for p in taken)
            return taken or None

    def _lane(self, lane: int) -> None:
        while (chosen := self._take(lane)) is not None:
            try:
                pcms = [Path(self._tmp, f"{p.key}.f32") if self.pcm is not None else None for p in chosen]
                jobs = [PartJob(p.samples, p.inner, Path(self._tmp, f"{p.key}.mp3"),
                                layer=self.layer if p.layer_key else None, offset=p.offset, pcm=levelled)
                        for p, levelled in zip(chosen, pcms, strict=True)]
                made = master_parts(jobs, self.rate_hz, self.targets)
                saved = [self.store.save(p.key, m, levelled) for p, m, levelled in zip(chosen, made, pcms, strict=True)]
            except BaseException as exc:  # noqa: BLE001 - raised again by result()
                with self._cond:
                    self._failures.append(exc)
                    self._cond.notify_all()
                return
            with self._cond:
                self._done.update((p.key, m) for p, m in zip(chosen, saved, strict=True))
                self._encoded_turns += sum(len(p.inner) for p in chosen)
                self._in_hand[lane] = 0

    def result(self, dest: Path) -> Mastered:
        """Once every part is made: check the episode's loudness and peak, and join the parts into *dest*."""
        self.close()
        for lane in self._lanes:
            lane.join()
        if self._failures:
            raise self._failures[0]
        targets, store = self.targets, self.store
        parts = [self._done[p.key] for p in self.parts]
        energies = np.concatenate([p.energies for p in parts])
        report = LoudnessReport(integrated_from_energies(energies, OUTPUT_RATE_HZ),
                                max(p.true_peak_dbtp for p in parts))
        miss_lu = self.goal.target_lufs - report.integrated_lufs
        if abs(miss_lu) > EPISODE_TOLERANCE_LU and report.true_peak_dbtp <= targets.true_peak_dbtp \
                and self.goal is targets:
            # Each turn met its aim, the episode did not: only when turns are a few seconds long,
            # and its 400 ms blocks straddle their pauses.  Aim every turn off by the miss, once.
            log.info("the episode measured %.2f LUFS; levelling its turns again %+.2f LU", report.integrated_lufs,
                     miss_lu)
            with PartMaster(self.rate_hz, replace(targets, target_lufs=targets.target_lufs + miss_lu),
                            self.store.root if self._cached else None, len(self._lanes), layer=self.layer,
                            pcm=self.pcm, goal=targets) as again:
                for spec in self.parts:
                    again.add(spec.samples, list(spec.inner), spec.offset)
                return again.result(dest)
        targets = self.goal
        if report.true_peak_dbtp > targets.true_peak_dbtp or \
                abs(report.integrated_lufs - targets.target_lufs) > EPISODE_TOLERANCE_LU:
            raise EncodeError(f"could not meet {targets.target_lufs} LUFS and {targets.true_peak_dbtp} dBTP "
                              f"({report.integrated_lufs:.2f} LUFS, {report.true_peak_dbtp:.2f} dBTP)")
        concat_mp3([p.mp3 for p in parts], dest)
        if self.pcm is not None:
            sources, missing = [], []
            for spec, part in zip(self.parts, parts, strict=True):
                if (kept := store.load_pcm(spec.key)) is not None:
                    sources.append([kept])
                else:  # cached before a render asked for the PCM: level again from the recorded gains
                    missing.append((spec.key, Path(self._tmp, f"{spec.key}.f32")))
                    sources.append(tee(levelled_again(spec.samples, self.rate_hz, list(spec.inner), part,
                                                       layer=self.layer if spec.layer_key else None,
                                                       offset=spec.offset), missing[-1][1]))
            write_master_wav(self.pcm, self.rate_hz, [p.frames for p in parts], sources)
            for key, levelled in dict(missing).items():
                store.keep_pcm(key, levelled)
        turns = sum(len(p.inner) for p in self.parts)
        log.info("mastered %d turns (%d from cache): %.2f LUFS, %.2f dBTP", turns, turns - self._encoded_turns,
                 report.integrated_lufs, report.true_peak_dbtp)
        part_offsets = join_offsets([p.frames for p in parts])
        offsets = [part_offsets[n] + round(start * 1000 / self.rate_hz)
                   for n, spec in enumerate(self.parts) for start in spec.inner]
        return Mastered(loudness=report, offsets_ms=tuple(offsets), encoded=self._encoded_turns,
                        from_cache=turns - self._encoded_turns, pcm=self.pcm,
                        part_frames=tuple(p.frames for p in parts))


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
