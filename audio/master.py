"""Stage 3d: mastering: level the signal and encode an MP3 that meets targets.

Targets are checked on the decoded MP3, not on the signal before encoding:
at 64 kb/s the encoder lowers the loudness (about 0.5 LU here) and raises
the true peak (0.3 to 0.9 dB).  A few seconds from across the episode are
levelled and encoded first to predict both, so that one full encode lands
on target.
"""

from __future__ import annotations

import logging
import tempfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from .encode import OUTPUT_RATE_HZ, decode, decode_chunks, encode_mp3
from .errors import EncodeError
from .loudness import (LoudnessReport, find_gain, integrated_lufs, level_chunks, measure, measure_chunks,
                       normalise, true_peak_dbtp)

log = logging.getLogger(__name__)

LIMITER_MARGIN_DB = 0.8  # the limiter's first ceiling under the true-peak target
# kept under the true-peak target beyond the rise the excerpts showed: the
# whole file rose up to 0.9 dB more than its excerpts (seen here)
PEAK_MARGIN_DB = 1.0
MAX_PASSES = 3
LOUDNESS_TOLERANCE_LU = 0.5  # Apple asks for -16 LUFS within 1 dB; aim at half that
EXCERPTS = 16  # slices encoded to predict what the encoder does
EXCERPT_S = 3


@dataclass(frozen=True)
class MasteringTargets:
    target_lufs: float = -16.0
    true_peak_dbtp: float = -1.0
    bitrate_kbps: int = 64


@dataclass(frozen=True)
class _EncoderEffect:
    loss_lu: float  # loudness the MP3 loses
    peak_rise_db: float  # how far its true peak rises over the levelled signal's
    filter_rise_db: float  # how far the levelled true peak sits over the limiter's ceiling
    gain_db: float  # the excerpt's levelling gain plus its own loudness (the level it was raised to)


def _excerpt(samples: np.ndarray, rate_hz: int) -> np.ndarray:
    slice_len = rate_hz * EXCERPT_S
    if len(samples) <= slice_len * EXCERPTS:
        return samples
    starts = np.linspace(0, len(samples) - slice_len, EXCERPTS).astype(int)
    return np.concatenate([samples[s:s + slice_len] for s in starts])


def _encoder_effect(samples: np.ndarray, rate_hz: int, targets: MasteringTargets,
                    ceiling_db: float) -> _EncoderEffect:
    """Level and encode a few seconds from across the episode; see what changed."""
    excerpt = _excerpt(samples, rate_hz)
    levelled, report = normalise(excerpt, rate_hz, target_lufs=targets.target_lufs, ceiling_db=ceiling_db)
    before_peak = true_peak_dbtp(levelled, rate_hz)
    with tempfile.TemporaryDirectory(prefix="episode-probe-") as tmp:
        probe = Path(tmp, "excerpt.mp3")
        encode_mp3([levelled], rate_hz, probe, bitrate_kbps=targets.bitrate_kbps)
        after = measure(decode(probe, OUTPUT_RATE_HZ), OUTPUT_RATE_HZ)
    effect = _EncoderEffect(loss_lu=report.integrated_lufs - after.integrated_lufs,
                            peak_rise_db=after.true_peak_dbtp - before_peak,
                            filter_rise_db=before_peak - ceiling_db,
                            gain_db=report.gain_db + integrated_lufs(excerpt, rate_hz))
    log.info("MP3 at %d kb/s: -%.2f LU, true peak +%.2f dB (excerpts)",
             targets.bitrate_kbps, effect.loss_lu, effect.peak_rise_db)
    return effect


def master_mp3(samples: np.ndarray, rate_hz: int, dest: Path, targets: MasteringTargets) -> LoudnessReport:
    """Level and encode *samples* to *dest*; return the decoded MP3's measurements.

    Levelling is done on the whole signal before encoding, aiming above the
    loudness target by what the encoder takes away and below the true-peak
    ceiling by what it adds, so that a single encode usually meets both; the
    decoded MP3 is measured to be sure, and re-made if it still misses.
    """
    ceiling = targets.true_peak_dbtp - LIMITER_MARGIN_DB
    full_lufs = integrated_lufs(samples, rate_hz)
    if not np.isfinite(full_lufs):
        raise EncodeError("the episode is silent: nothing to level")
    effect = _encoder_effect(samples, rate_hz, targets, ceiling)
    aim_lufs = targets.target_lufs + max(0.0, effect.loss_lu)
    # the limiter's ceiling, under the target by what the low-pass and the
    # encoder add on the excerpts, and a margin for the rest of the episode
    ceiling = (targets.true_peak_dbtp - max(0.0, effect.peak_rise_db) - PEAK_MARGIN_DB
               - max(0.0, effect.filter_rise_db))
    # the excerpt's gain, moved by how much louder the excerpt was than the whole
    gain_db = effect.gain_db - full_lufs + (aim_lufs - targets.target_lufs)
    for attempt in range(MAX_PASSES):
        gain_db = find_gain(samples, rate_hz, target_lufs=aim_lufs, ceiling_db=ceiling, gain_db=gain_db).gain_db
        encode_mp3(level_chunks(samples, rate_hz, gain_db=gain_db, ceiling_db=ceiling), rate_hz, dest,
                   bitrate_kbps=targets.bitrate_kbps)
        report = measure_chunks(decode_chunks(dest, OUTPUT_RATE_HZ), OUTPUT_RATE_HZ)
        log.info("pass %d: %.2f LUFS, %.2f dBTP after encoding (aim %.2f LUFS, limiter at %.2f dBFS)",
                 attempt + 1, report.integrated_lufs, report.true_peak_dbtp, aim_lufs, ceiling)
        peak_over = report.true_peak_dbtp - targets.true_peak_dbtp
        loudness_off = targets.target_lufs - report.integrated_lufs
        if peak_over <= 0 and abs(loudness_off) <= LOUDNESS_TOLERANCE_LU:
            return LoudnessReport(report.integrated_lufs, report.true_peak_dbtp, gain_db)
        if peak_over > 0:
            ceiling -= peak_over + 0.2
        aim_lufs += loudness_off
    raise EncodeError(f"could not meet {targets.target_lufs} LUFS and {targets.true_peak_dbtp} dBTP "
                      f"(last {report.integrated_lufs:.2f} LUFS, {report.true_peak_dbtp:.2f} dBTP)")
