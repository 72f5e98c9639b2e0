"""The bed's gain envelope, from the render's own timeline rather than a compressor listening to the mix.

The render knows to the sample where every sentence sounds (the assembly's
spans), so the bed is ducked exactly there: it falls over ``ramp_down_ms``
to end where speech starts, stays down while it lasts and ``hold_ms``
after, then rises over ``ramp_ms``.  Pauses shorter than the whole
manoeuvre (and than about 0.85 s, what production guides keep ducked) do
not let it rise: music pumping between sentences is worse than a steady
bed.  Ramps are straight lines in decibels.  The result is a function of
the spans and the settings alone: deterministic, cheap, and the same in a
re-render.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

KEEP_DUCKED_MS = 850  # a pause shorter than this keeps the bed down


@dataclass(frozen=True)
class Ducking:
    depth_db: float  # how far the bed falls under speech (0: not at all)
    ramp_down_ms: int = 150
    hold_ms: int = 200
    ramp_ms: int = 500


def merged_spans(spans: Sequence[tuple[int, int]], rate_hz: int, ducking: Ducking) -> list[tuple[int, int]]:
    """Speech spans (samples) joined across pauses too short for the bed to rise and fall in."""
    keep = rate_hz * max(KEEP_DUCKED_MS, ducking.ramp_down_ms + ducking.hold_ms + ducking.ramp_ms) // 1000
    out: list[list[int]] = []
    for start, end in sorted(spans):
        if out and start - out[-1][1] < keep:
            out[-1][1] = max(out[-1][1], end)
        else:
            out.append([start, end])
    return [(a, b) for a, b in out]


def attenuation_db(start: int, length: int, speech: Sequence[tuple[int, int]], rate_hz: int,
                   ducking: Ducking) -> np.ndarray:
    """Decibels under full level of samples ``[start, start + length)``; *speech* from :func:`merged_spans`."""
    depth = ducking.depth_db
    t = np.arange(start, start + length, dtype=np.float64)
    if depth <= 0 or not length:
        return np.zeros(length, np.float32)
    down = max(1, rate_hz * ducking.ramp_down_ms // 1000)
    hold = rate_hz * ducking.hold_ms // 1000
    up = max(1, rate_hz * ducking.ramp_ms // 1000)
    xs: list[float] = []
    ys: list[float] = []
    for a, b in speech:
        if b + hold + up < start or a - down > start + length:
            continue  # (spans are merged, so no two trapezoids overlap)
        xs += [a - down, a, b + hold, b + hold + up]
        ys += [0.0, depth, depth, 0.0]
    if not xs:
        return np.zeros(length, np.float32)
    return np.interp(t, xs, ys, left=0.0, right=0.0).astype(np.float32)


def gain(start: int, length: int, speech: Sequence[tuple[int, int]], rate_hz: int, ducking: Ducking) -> np.ndarray:
    """The bed's linear gain over ``[start, start + length)`` (1: full level)."""
    return (10.0 ** (-attenuation_db(start, length, speech, rate_hz, ducking) / 20.0)).astype(np.float32)
