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
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from .encode import OUTPUT_RATE_HZ, count_frames, decode_in_process, encode_mp3
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
    for chunk in _batched(decode_in_process(mp3)):
        while chunk.size:
            take = chunk.size if ends[k] is None else min(chunk.size, ends[k] - position)
            meters[k].add(chunk[:take])
            chunk, position = chunk[take:], position + take
            if ends[k] is not None and position >= ends[k]:
                k += 1
    return meters


def _batched(frames, samples: int = OUTPUT_RATE_HZ * 10):
    """Decoded MP3 frames (1152 samples each) in pieces of about 10 s, for the meter."""
    pending, size = [], 0
    for frame in frames:
        pending.append(frame)
        size += len(frame)
        if size >= samples:
            yield np.concatenate(pending)
            pending, size = [], 0
    if pending:
        yield np.concatenate(pending)


def master_part(samples: np.ndarray, rate_hz: int, starts: list[int], targets: MasteringTargets,
                dest: Path, *, layer: SoundLayer | None = None, offset: int = 0,
                pcm: Path | None = None) -> MasteredPart:
    """Level each turn of a part (``starts``: where they begin) as heard after encoding; one MP3.

    *offset* is where the part begins on the assembled timeline (for the
    layer).  With *pcm*, the levelled samples that went into the encoder are
    also written there (raw float32, at *rate_hz*).
    """
    turns = [samples[a:b] for a, b in zip(starts, [*starts[1:], len(samples)], strict=True)]
    aims = [targets.target_lufs + ENCODER_LOSS_GUESS_LU] * len(turns)
    ceilings = [targets.true_peak_dbtp - FIRST_PEAK_MARGIN_DB] * len(turns)
    gains: list[float | None] = [None] * len(turns)
    kept: list[tuple[np.ndarray, ...] | None] = [None] * len(turns)
    mixed = [layer is not None and bool(layer.key(offset + a, offset + a + len(t)))
             for a, t in zip(starts, turns, strict=True)]
    redo = set(range(len(turns)))
    for attempt in range(MAX_PASSES):
        for k in redo:
            try:
                found = find_gain(turns[k], rate_hz, target_lufs=aims[k], ceiling_db=ceilings[k],
                                  gain_db=gains[k], keep_max_s=0.0 if mixed[k] else KEEP_LEVELLED_MAX_S)
                gains[k], kept[k] = found.gain_db, found.chunks
                if mixed[k]:
                    gains[k] = _mixed_gain(turns[k], rate_hz, aims[k], ceilings[k], gains[k], layer, offset + starts[k])
            except ValueError:
                gains[k], kept[k] = 0.0, None  # a silent turn: nothing to level

        def levelled(k: int):
            if kept[k] is not None:
                return kept[k]
            return level_turn(turns[k], rate_hz, gain_db=gains[k], ceiling_db=ceilings[k],
                              layer=layer if mixed[k] else None, start_sample=offset + starts[k])

        chunks = (chunk for k in range(len(turns)) for chunk in levelled(k))
        encode_mp3(tee(chunks, pcm) if pcm is not None else chunks, rate_hz, dest,
                   bitrate_kbps=targets.bitrate_kbps)
        meters = _measure(dest, [a * OUTPUT_RATE_HZ // rate_hz for a in starts])
        measured = [(m.integrated_lufs(), m.true_peak_dbtp()) for m in meters]
        redo = set()
        for k, (lufs, peak) in enumerate(measured):
            log.debug("turn pass %d: %.2f LUFS, %.2f dBTP (gain %.2f dB, limiter %.2f dBFS)",
                      attempt + 1, lufs, peak, gains[k], ceilings[k])
            if not np.isfinite(lufs):
                continue
            loudness_off = targets.target_lufs - lufs
            if peak <= targets.true_peak_dbtp and abs(loudness_off) <= TURN_TOLERANCE_LU:
                continue
            if peak > targets.true_peak_dbtp:
                ceilings[k] -= peak - targets.true_peak_dbtp + 0.2
            aims[k] += loudness_off
            redo.add(k)
        if not redo:
            break
    return MasteredPart(dest, count_frames(dest), np.concatenate([m.energy_blocks() for m in meters]),
                        max(peak for _, peak in measured), tuple(float(g) for g in gains), tuple(ceilings))


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
