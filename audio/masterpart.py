"""Stage 3d, one part: level each turn as heard after encoding, mix the sound layer, one MP3.

A part is one or more whole turns, encoded as an MP3 of its own (see
:mod:`audio.master`).  Each turn is levelled on its own: gain found on its
speech (``find_gain``), then the sound layer's music added under the gained
speech, then the peak limiter and the band limit, then the encoder.  The
part is decoded and measured turn by turn; a turn that misses the targets
is levelled again with what was measured, and the part encoded again.
"""

from __future__ import annotations

import logging
import queue
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from .encode import MAX_PARTS_PER_PROCESS, OUTPUT_RATE_HZ, PartsEncoder, count_frames, decode_in_process, encode_mp3
from .errors import EncodeError
from .loudness import LoudnessMeter, chunks_of, find_gain, level_chunks, measure_chunks

if TYPE_CHECKING:
    from .master import MasteringTargets, SoundLayer

log = logging.getLogger(__name__)

# What 64 kb/s took from espeak-ng speech here (0.44 LU on 48 s of excerpts);
# a turn that still misses is levelled again with the measured loss.
ENCODER_LOSS_GUESS_LU = 0.45
FIRST_PEAK_MARGIN_DB = 1.5  # limiter ceiling under the true-peak target: the encoder lifts peaks
TURN_TOLERANCE_LU = 0.2
MAX_PASSES = 3
# find_gain's last trial is the levelled turn itself: keeping it saves levelling
# again for the encoder (a fifth of mastering's Python time).  A 5-minute turn
# at 22.05 kHz is 26 MB of float32; longer ones are levelled again instead.
KEEP_LEVELLED_MAX_S = 300.0


@dataclass(frozen=True)
class MasteredPart:
    mp3: Path  # a complete MP3 of the part (one or more whole turns) alone
    frames: int  # MPEG audio frames, the Info frame not counted
    energies: np.ndarray  # K-weighted 100 ms energies of the decoded MP3, turn after turn
    true_peak_dbtp: float
    gains_db: tuple[float, ...] = ()  # per turn: the gain and limiter ceiling it was levelled with,
    ceilings_db: tuple[float, ...] = ()  # so that its levelled samples can be made again (level_turn)


def level_turn(turn: np.ndarray, rate_hz: int, *, gain_db: float, ceiling_db: float,
               layer: SoundLayer | None = None, start_sample: int = 0, stem: bool = False) -> Iterator[np.ndarray]:
    """A turn's levelled samples, float32 chunks: gain, the layer's mix, limiter, band limit.

    With no *layer* (or nothing of it in this turn) this is ``level_chunks``
    itself.  With one, the gained turn is handed to ``layer.mix`` whole, with
    its first sample's place on the assembled timeline, and the mix is
    limited: the limiter and the encoder see speech and music together.
    With *stem*, the result is the speech of that mix alone: the gained
    turn under the limiter's gain for the mix (the band limit is linear).
    """
    if layer is None or not layer.key(start_sample, start_sample + len(turn)):
        yield from level_chunks(turn, rate_hz, gain_db=gain_db, ceiling_db=ceiling_db)
        return
    gain = np.float32(10 ** (gain_db / 20))
    speech = np.concatenate(list(chunks_of(turn, rate_hz))) * gain if len(turn) else np.zeros(0, np.float32)
    mixed = np.asarray(layer.mix(speech, start_sample, rate_hz), dtype=np.float32)
    if mixed.shape != speech.shape:
        raise ValueError(f"the sound layer returned {mixed.shape[0]} samples for {speech.shape[0]}")
    if stem:
        yield from level_chunks(speech, rate_hz, gain_db=0.0, ceiling_db=ceiling_db, sidechain=mixed)
    else:
        yield from level_chunks(mixed, rate_hz, gain_db=0.0, ceiling_db=ceiling_db)


def _measure(mp3: Path, bounds: list[int]) -> list[LoudnessMeter]:
    """Meter the decoded MP3 turn by turn; *bounds* are where turns start, in output samples."""
    meters = [LoudnessMeter(OUTPUT_RATE_HZ) for _ in bounds]
    ends = [*bounds[1:], None]
    position, k = 0, 0
    for chunk in decode_in_process(mp3):  # pieces of 10 s
        while chunk.size:
            take = chunk.size if ends[k] is None else min(chunk.size, ends[k] - position)
            meters[k].add(chunk[:take])
            chunk, position = chunk[take:], position + take
            if ends[k] is not None and position >= ends[k]:
                k += 1
    return meters


class PartLevelling:
    """One part's levelling, pass after pass: gains found, chunks for the encoder, the decoded MP3 checked.

    ``chunks()`` finds the gains of the turns still to level (all of them
    at first) and returns the levelled samples for this pass's encoder;
    ``check(mp3)`` meters that encoding turn by turn and says whether the
    part is done, or which turns to level again with what was measured.
    ``master_part`` runs it with one encoder a pass; ``master.master_turns``
    runs the first pass of several parts through one encoder process.
    """

    def __init__(self, samples: np.ndarray, rate_hz: int, starts: list[int], targets: MasteringTargets, *,
                 layer: SoundLayer | None = None, offset: int = 0):
        self.rate_hz, self.starts, self.targets, self.layer, self.offset = rate_hz, starts, targets, layer, offset
        self.length = len(samples)
        self.turns = [samples[a:b] for a, b in zip(starts, [*starts[1:], len(samples)], strict=True)]
        self.aims = [targets.target_lufs + ENCODER_LOSS_GUESS_LU] * len(self.turns)
        self.ceilings = [targets.true_peak_dbtp - FIRST_PEAK_MARGIN_DB] * len(self.turns)
        self.gains: list[float | None] = [None] * len(self.turns)
        self.kept: list[tuple[np.ndarray, ...] | None] = [None] * len(self.turns)
        self.mixed = [layer is not None and bool(layer.key(offset + a, offset + a + len(t)))
                      for a, t in zip(starts, self.turns, strict=True)]
        self.redo = set(range(len(self.turns)))
        self.passes = 0
        self.meters: list[LoudnessMeter] = []
        self.measured: list[tuple[float, float]] = []

    def chunks(self) -> Iterator[np.ndarray]:
        """This pass's levelled samples; the gains are found now, the samples made as they are read."""
        for k in self.redo:
            try:
                found = find_gain(self.turns[k], self.rate_hz, target_lufs=self.aims[k], ceiling_db=self.ceilings[k],
                                  gain_db=self.gains[k], keep_max_s=0.0 if self.mixed[k] else KEEP_LEVELLED_MAX_S)
                self.gains[k], self.kept[k] = found.gain_db, found.chunks
                if self.mixed[k]:
                    self.gains[k] = _mixed_gain(self.turns[k], self.rate_hz, self.aims[k], self.ceilings[k],
                                                self.gains[k], self.layer, self.offset + self.starts[k])
            except ValueError:
                self.gains[k], self.kept[k] = 0.0, None  # a silent turn: nothing to level
        self.passes += 1
        return (chunk for k in range(len(self.turns)) for chunk in self._levelled(k))

    def _levelled(self, k: int):
        if self.kept[k] is not None:
            return self.kept[k]
        return level_turn(self.turns[k], self.rate_hz, gain_db=self.gains[k], ceiling_db=self.ceilings[k],
                          layer=self.layer if self.mixed[k] else None, start_sample=self.offset + self.starts[k])

    def check(self, mp3: Path) -> bool:
        """Meter this pass's MP3; True when the part is done (every turn on target, or no passes left)."""
        targets = self.targets
        self.meters = _measure(mp3, [a * OUTPUT_RATE_HZ // self.rate_hz for a in self.starts])
        self.measured = [(m.integrated_lufs(), m.true_peak_dbtp()) for m in self.meters]
        self.redo = set()
        for k, (lufs, peak) in enumerate(self.measured):
            log.debug("turn pass %d: %.2f LUFS, %.2f dBTP (gain %.2f dB, limiter %.2f dBFS)",
                      self.passes, lufs, peak, self.gains[k], self.ceilings[k])
            if not np.isfinite(lufs):
                continue
            loudness_off = targets.target_lufs - lufs
            if peak <= targets.true_peak_dbtp and abs(loudness_off) <= TURN_TOLERANCE_LU:
                continue
            if peak > targets.true_peak_dbtp:
                self.ceilings[k] -= peak - targets.true_peak_dbtp + 0.2
            self.aims[k] += loudness_off
            self.redo.add(k)
        return not self.redo or self.passes >= MAX_PASSES

    def result(self, mp3: Path) -> MasteredPart:
        return MasteredPart(mp3, count_frames(mp3), np.concatenate([m.energy_blocks() for m in self.meters]),
                            max(peak for _, peak in self.measured), tuple(float(g) for g in self.gains),
                            tuple(self.ceilings))


def finish_part(levelling: PartLevelling, dest: Path, *, pcm: Path | None = None) -> MasteredPart:
    """Encode and check pass after pass until *levelling* is done (the first pass may be encoded already)."""
    while not (levelling.passes and levelling.check(dest)):
        chunks = _started_by_encoder(levelling)
        encode_mp3(tee(chunks, pcm) if pcm is not None else chunks, levelling.rate_hz, dest,
                   bitrate_kbps=levelling.targets.bitrate_kbps)
    return levelling.result(dest)


def _started_by_encoder(levelling: PartLevelling) -> Iterator[np.ndarray]:
    """The pass's chunks, its gains found when the encoder first reads: that is once ffmpeg is
    started, so that its start (80 ms of CPU) runs beside them on another core."""
    yield from levelling.chunks()


def master_part(samples: np.ndarray, rate_hz: int, starts: list[int], targets: MasteringTargets,
                dest: Path, *, layer: SoundLayer | None = None, offset: int = 0,
                pcm: Path | None = None) -> MasteredPart:
    """Level each turn of a part (``starts``: where they begin) as heard after encoding; one MP3.

    *offset* is where the part begins on the assembled timeline (for the
    layer).  With *pcm*, the levelled samples that went into the encoder are
    also written there (raw float32, at *rate_hz*).
    """
    return finish_part(PartLevelling(samples, rate_hz, starts, targets, layer=layer, offset=offset), dest, pcm=pcm)


@dataclass(frozen=True)
class PartJob:
    """A part for ``master_parts``: its samples, where its turns start, its MP3, and what ``master_part`` takes."""

    samples: np.ndarray
    starts: tuple[int, ...]
    dest: Path
    layer: SoundLayer | None = None
    offset: int = 0
    pcm: Path | None = None


def master_parts(jobs: list[PartJob], rate_hz: int, targets: MasteringTargets) -> list[MasteredPart]:
    """``master_part`` of each job, in order, their first passes encoded by one ffmpeg process a few at a time.

    The first pass of most parts is their only one (the seed's all are), so
    the parts share the encoder's start (``PartsEncoder``); a part levelled
    again is encoded again on its own.  A thread feeds the encoder, so that
    the next part's gains are found while this one is encoded.
    """
    made: list[MasteredPart] = []
    for first in range(0, len(jobs), MAX_PARTS_PER_PROCESS):
        group = jobs[first:first + MAX_PARTS_PER_PROCESS]
        levellings = [PartLevelling(j.samples, rate_hz, list(j.starts), targets, layer=j.layer, offset=j.offset)
                      for j in group]
        if len(group) > 1:
            _first_passes(levellings, group, rate_hz, targets.bitrate_kbps)
        made += [finish_part(lv, j.dest, pcm=j.pcm) for lv, j in zip(levellings, group, strict=True)]
    return made


def _first_passes(levellings: list[PartLevelling], jobs: list[PartJob], rate_hz: int, bitrate_kbps: int) -> None:
    encoder = PartsEncoder([len(j.samples) for j in jobs], rate_hz, [j.dest for j in jobs], bitrate_kbps=bitrate_kbps)
    pending: queue.Queue = queue.Queue(maxsize=1)  # one part levelled ahead of the one being encoded
    failures: list[BaseException] = []

    def feed() -> None:
        for job in iter(pending.get, None):
            if failures:
                continue  # keep taking parts, so the producer never waits on a dead feeder
            try:
                written = 0
                chunks = job[0]
                for chunk in chunks:
                    encoder.write(chunk)
                    written += len(chunk)
                if written != job[1]:
                    raise EncodeError(f"a part of {job[1]} samples was levelled to {written}")
            except BaseException as exc:  # noqa: BLE001 - raised again by the producer
                failures.append(exc)

    feeder = threading.Thread(target=feed, name="episode-encoder-feed", daemon=True)
    feeder.start()
    try:
        try:
            for lv, job in zip(levellings, jobs, strict=True):
                chunks = lv.chunks()
                pending.put((tee(chunks, job.pcm) if job.pcm is not None else chunks, len(job.samples)))
                if failures:
                    break
        finally:
            pending.put(None)
            feeder.join()
        if failures:
            raise failures[0]
    except BaseException:  # the levelling or the feeder failed, or Ctrl-C: no ffmpeg left waiting on its input
        encoder.kill()
        raise
    encoder.close()


def _mixed_gain(turn: np.ndarray, rate_hz: int, aim_lufs: float, ceiling_db: float, gain_db: float,
                layer: SoundLayer, start_sample: int) -> float:
    """The speech's gain that brings the turn's mix (the music's level fixed) to *aim_lufs*.

    Music in a turn (a stinger in the pause before a question, a bed) moves
    its loudness away from the speech's; measuring the mix before encoding
    (the secant method, from the speech's own gain) saves the second
    encoding of the whole part that finding it after would take.
    """
    previous: tuple[float, float] | None = None
    for _ in range(4):
        now = measure_chunks(level_turn(turn, rate_hz, gain_db=gain_db, ceiling_db=ceiling_db, layer=layer,
                                        start_sample=start_sample), rate_hz, true_peak=False).integrated_lufs
        if not np.isfinite(now) or abs(now - aim_lufs) <= 0.05:
            break
        slope = 0.55  # the limiter takes back part of any gain (loudness.find_gain)
        if previous is not None and abs(gain_db - previous[0]) > 1e-3:
            slope = min(1.0, max(0.1, (now - previous[1]) / (gain_db - previous[0])))
        previous = (gain_db, now)
        gain_db += (aim_lufs - now) / slope
    return gain_db


def tee(chunks, path: Path) -> Iterator[np.ndarray]:
    """Pass *chunks* on, writing them to *path* as raw float32 too."""
    with open(path, "wb") as f:
        for chunk in chunks:
            f.write(np.ascontiguousarray(chunk, dtype="<f4").tobytes())
            yield chunk


def levelled_again(samples: np.ndarray, rate_hz: int, starts: list[int], part: MasteredPart, *,
                   layer: SoundLayer | None = None, offset: int = 0, stem: bool = False) -> Iterator[np.ndarray]:
    """The levelled samples of a part made earlier (from the cache): what went into its encoder
    (with *stem*, their speech alone: see ``level_turn``)."""
    ends = [*starts[1:], len(samples)]
    for k, (a, b) in enumerate(zip(starts, ends, strict=True)):
        yield from level_turn(samples[a:b], rate_hz, gain_db=part.gains_db[k], ceiling_db=part.ceilings_db[k],
                              layer=layer, start_sample=offset + a, stem=stem)
