"""Stage 3d: mastering: level the signal and encode an MP3 that meets targets.

Targets are checked on the decoded MP3, not on the signal before encoding:
at 64 kb/s the encoder lowers the loudness (about 0.5 LU here) and adds
overshoot to the limited peaks.  A few seconds from across the episode are
levelled and encoded first to predict both, so that one full encode lands
on target; the full encode streams from the leveller into ffmpeg.
"""

from __future__ import annotations

import logging
import tempfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from .encode import OUTPUT_RATE_HZ, decode, encode_mp3
from .errors import EncodeError
from .loudness import LoudnessReport, integrated_lufs, level_chunks, measure, normalise

log = logging.getLogger(__name__)

LIMITER_MARGIN_DB = 0.8  # the limiter's ceiling under the true-peak target
PEAK_MARGIN_DB = 0.2  # kept under the target when a pass overshoots
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
class _Plan:
    gain_db: float
    ceiling_db: float


def _excerpt(samples: np.ndarray, rate_hz: int) -> np.ndarray:
    slice_len = rate_hz * EXCERPT_S
    if len(samples) <= slice_len * EXCERPTS:
        return samples
    starts = np.linspace(0, len(samples) - slice_len, EXCERPTS).astype(int)
    return np.concatenate([samples[s:s + slice_len] for s in starts])


def _plan(samples: np.ndarray, rate_hz: int, targets: MasteringTargets) -> _Plan:
    """Predict gain and limiter ceiling for the full encode from excerpts."""
    full_lufs = integrated_lufs(samples, rate_hz)
    if not np.isfinite(full_lufs):
        raise EncodeError("the episode is silent: nothing to level")
    ceiling = targets.true_peak_dbtp - LIMITER_MARGIN_DB
    excerpt = _excerpt(samples, rate_hz)
    levelled, report = normalise(excerpt, rate_hz, target_lufs=targets.target_lufs, ceiling_db=ceiling)
    with tempfile.TemporaryDirectory(prefix="episode-probe-") as tmp:
        probe = Path(tmp, "excerpt.mp3")
        encode_mp3([levelled], rate_hz, probe, bitrate_kbps=targets.bitrate_kbps)
        after = measure(decode(probe, OUTPUT_RATE_HZ), OUTPUT_RATE_HZ)
    loss_lu = report.integrated_lufs - after.integrated_lufs
    overshoot_db = after.true_peak_dbtp - ceiling
    log.info("MP3 at %d kb/s: -%.2f LU, +%.2f dB peak over the limiter (excerpts)",
             targets.bitrate_kbps, loss_lu, overshoot_db)
    # the excerpt's gain, moved by how much louder the excerpt is than the whole
    gain_db = report.gain_db + (integrated_lufs(excerpt, rate_hz) - full_lufs) + max(0.0, loss_lu)
    return _Plan(gain_db=gain_db, ceiling_db=ceiling - max(0.0, overshoot_db))


def master_mp3(samples: np.ndarray, rate_hz: int, dest: Path, targets: MasteringTargets) -> LoudnessReport:
    """Level and encode *samples* to *dest*; return the decoded MP3's measurements."""
    plan = _plan(samples, rate_hz, targets)
    gain_db, ceiling = plan.gain_db, plan.ceiling_db
    for attempt in range(MAX_PASSES):
        encode_mp3(level_chunks(samples, rate_hz, gain_db=gain_db, ceiling_db=ceiling), rate_hz, dest,
                   bitrate_kbps=targets.bitrate_kbps)
        report = measure(decode(dest, OUTPUT_RATE_HZ), OUTPUT_RATE_HZ)
        log.info("pass %d: %.2f LUFS, %.2f dBTP after encoding (gain %.2f dB, limiter at %.2f dBFS)",
                 attempt + 1, report.integrated_lufs, report.true_peak_dbtp, gain_db, ceiling)
        peak_over = report.true_peak_dbtp - targets.true_peak_dbtp
        loudness_off = targets.target_lufs - report.integrated_lufs
        if peak_over <= 0 and abs(loudness_off) <= LOUDNESS_TOLERANCE_LU:
            return LoudnessReport(report.integrated_lufs, report.true_peak_dbtp, gain_db)
        if peak_over > 0:
            ceiling -= peak_over + PEAK_MARGIN_DB
        gain_db += loudness_off
    raise EncodeError(f"could not meet {targets.target_lufs} LUFS and {targets.true_peak_dbtp} dBTP "
                      f"(last {report.integrated_lufs:.2f} LUFS, {report.true_peak_dbtp:.2f} dBTP)")
