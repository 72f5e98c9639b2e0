"""Stage 5 with music: is the speech still heard over the bed, by a listener and by Whisper?

Both measures compare the episode as published with its speech alone.  The
speech-only reference is the same episode rendered from the caches with
the same timeline (the intro's lead, the room for stingers and the outro)
and no music (``RenderOptions(music=False)``): no sentence is spoken again,
and only the parts that carried music are encoded afresh.  It is the
mix's own speech (``level_turn(stem=True)``): each
turn at the gain the mix gave it, under the limiter's gain for the mix.
Only the music and the encoder's noise then tell the two MP3s apart.

*Speech over bed*: both MP3s are decoded and K-weighted.  The bed's
spectrum is what the mix holds beyond the speech over all of the beds
(power minus power, where music alone weighs most), and it is measured
only in the frequency bins that hold 90% of it: at 64 kb/s the encoder's
noise differs between the two files by as much as a bed 20 dB down, but
it is spread over every bin, where a bed's energy is in a few.  In a
400 ms window from each word's start under a bed, the speech's power is
the reference's, the bed's is the mix's power beyond it in those bins
(scaled up by 1/0.9).  Nothing of the render's plan enters the measure but
where the beds are, to pick the words.

*WER*: Whisper on the reference gives the WER without the music, beside
the episode's own.
"""

from __future__ import annotations

import bisect
import logging
import math
import statistics
import tempfile
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np

log = logging.getLogger(__name__)

WINDOW_MS = 400
P10_SLACK_DB = 3.0  # the 10th percentile may fall this far under duck_db (the median may not at all)
CEILING_DB = 60.0  # a window whose bed cannot be told from nothing counts as this far under
FRAME = 4096  # samples at 44.1 kHz (93 ms): fine enough in frequency to tell a bed's bins from the speech's
BED_SHARE = 0.9  # the bed is measured in the bins that hold this much of its energy, and scaled up to all


@dataclass(frozen=True)
class BedCheck:
    duck_db: float
    windows: int  # words under a bed
    median_db: float | None = None
    p10_db: float | None = None
    min_db: float | None = None


@dataclass(frozen=True)
class MusicReport:
    wer_with: float
    wer_without: float
    bed: BedCheck
    failures: tuple[str, ...] = field(default=())

    @property
    def wer_ratio(self) -> float | None:
        return self.wer_with / self.wer_without if self.wer_without else None

    def to_json(self) -> dict:
        return {**asdict(self), "wer_ratio": None if self.wer_ratio is None else round(self.wer_ratio, 3)}

    def table(self) -> str:
        ratio = f" ({self.wer_ratio:.2f} x)" if self.wer_ratio is not None else ""
        lines = [f"Music: WER {self.wer_with:.1%} with it, {self.wer_without:.1%} without{ratio}"]
        b = self.bed
        if b.windows:
            lines.append(f"Speech over the bed, {WINDOW_MS} ms from each of {b.windows} words: median "
                         f"{b.median_db:.1f} dB, 10th percentile {b.p10_db:.1f} dB, lowest {b.min_db:.1f} dB "
                         f"(duck_db {b.duck_db:g})")
        else:
            lines.append("Speech over the bed: no word is under music")
        lines += [f"FAIL: {f}" for f in self.failures]
        return "\n".join(lines)


def _k_weighted(x: np.ndarray, rate_hz: int) -> np.ndarray:
    from ..filters import Biquads, k_weighting_sos

    return Biquads(k_weighting_sos(rate_hz), rate_hz)(x)


def _spectra(x: np.ndarray, start: int, end: int) -> np.ndarray:
    """Power spectra of the frames of ``x[start:end]`` (Hann, FRAME samples, hop FRAME / 4)."""
    piece = x[max(0, start):end]
    if len(piece) < FRAME:
        return np.zeros((0, FRAME // 2 + 1))
    frames = np.lib.stride_tricks.sliding_window_view(piece, FRAME)[::FRAME // 4] * np.hanning(FRAME)
    return np.abs(np.fft.rfft(frames, axis=1)) ** 2


def speech_over_bed(mix: np.ndarray, speech: np.ndarray, rate_hz: int, word_starts_ms: list[int],
                    beds_ms: list[tuple[int, int]], turn_starts_ms: list[int], duck_db: float) -> BedCheck:
    """Speech over bed (dB) in windows from each word start inside a bed, from the decoded MP3s."""
    n = min(len(mix), len(speech))
    m, s = _k_weighted(mix[:n].astype(np.float64), rate_hz), _k_weighted(speech[:n].astype(np.float64), rate_hz)
    bounds = [t * rate_hz // 1000 for t in turn_starts_ms] + [n]
    scales = []
    for a, b in zip(bounds, bounds[1:]):
        power = float(np.dot(s[a:b], s[a:b]))
        scales.append(float(np.dot(m[a:b], s[a:b])) / power if power > 0 else 1.0)

    def scale(i: int) -> float:
        return scales[min(max(0, bisect.bisect_right(bounds, i) - 1), len(scales) - 1)] ** 2

    # The bed's spectrum: what the mix holds beyond the speech over all of the beds, where music
    # alone (the intro's lead, the outro's end) weighs most; then the fewest bins that hold most of it.
    excess = np.zeros(FRAME // 2 + 1)
    for a, b in beds_ms:
        i, j = a * rate_hz // 1000, min(n, b * rate_hz // 1000)
        excess += (_spectra(m, i, j) - scale(i) * _spectra(s, i, j)).sum(axis=0)
    held = np.clip(excess, 0, None)
    if held.sum() <= 0:
        return BedCheck(duck_db, 0)
    order = np.argsort(-held)
    count = int(np.searchsorted(np.cumsum(held[order]) / held.sum(), BED_SHARE)) + 1
    bins, share = order[:count], float(held[order[:count]].sum() / held.sum())
    width = rate_hz * WINDOW_MS // 1000
    ratios = []
    for w in word_starts_ms:
        if not any(a <= w < b for a, b in beds_ms):
            continue
        i = w * rate_hz // 1000
        lo, hi = i - 3 * FRAME // 8, i + width + 3 * FRAME // 8  # the frames centred in the window
        if lo < 0 or hi > n:
            continue
        said, heard = scale(i) * _spectra(s, lo, hi), _spectra(m, lo, hi)
        bed = float((heard[:, bins] - said[:, bins]).sum()) / share
        total = float(said.sum())
        if total <= 0:
            continue
        ratios.append(CEILING_DB if bed <= total * 10 ** (-CEILING_DB / 10) else 10 * math.log10(total / bed))
    if not ratios:
        return BedCheck(duck_db, 0)
    ratios.sort()
    p10 = float(np.percentile(ratios, 10))
    return BedCheck(duck_db, len(ratios), round(statistics.median(ratios), 2), round(p10, 2), round(ratios[0], 2))


@dataclass(frozen=True)
class Untested:
    """An episode with music verified without its transcript: its speech alone cannot be rendered."""

    failures: tuple[str, ...] = ()

    def table(self) -> str:
        return "Music: give --transcript and -m to measure it against the speech alone"

    def to_json(self) -> dict:
        return {"untested": self.table()}


def check_music(audio: Path, transcript: Path | None, manifest: Path | None, wer_with: float, *,
                model: str | None = None, options=None,
                cache_dir: Path | None = None) -> MusicReport | Untested | None:
    """Compare *audio* (rendered with music) with its speech alone; None when it has no music."""
    from ..encode import decode
    from ..episode import load_episode
    from ..outputs.tag import read_timeline
    from ..render import RenderOptions, render
    from ..transcribe import RecognitionOptions, recognise
    from ..verify import evaluate, reference_from_tags

    timeline = (read_timeline(audio) if Path(audio).is_file() else None) or {}
    sound = timeline.get("sound") or {}
    if transcript is None:
        return Untested() if sound else None
    episode = load_episode(transcript, manifest)
    if episode.manifest.sound is None:
        return None
    with tempfile.TemporaryDirectory(prefix="episode-speech-only-") as tmp:
        ref = render(episode, Path(tmp, "speech.mp3"), RenderOptions(cache_dir=cache_dir, music=False))
        heard = recognise(ref.path, model, options or RecognitionOptions())
        wer_without = evaluate(*reference_from_tags(ref.path), heard, audio=str(ref.path)).overall.wer
        rate = 44100
        mix, speech = decode(audio, rate), decode(ref.path, rate)
    words = [w for s in ref.sentences for w in (s.word_starts_ms or (s.start_ms,))]
    beds = [(a, b) for a, b, _what, is_bed in sound.get("music_ms", []) if is_bed]
    turn_starts = [s.start_ms for s in ref.sentences if s.sentence_index == 0]
    turn_starts[:1] = [0]
    failures = []
    if abs(len(mix) - len(speech)) > rate // 20:
        failures.append(f"the speech alone lasts {len(speech) / rate:.1f} s and {audio} {len(mix) / rate:.1f} s: "
                        "was it rendered from this transcript and manifest?")
        beds = []
    bed = speech_over_bed(mix, speech, rate, words, beds, turn_starts, episode.manifest.sound.duck_db)
    if bed.windows and bed.median_db < bed.duck_db:
        failures.append(f"speech is a median {bed.median_db:.1f} dB over the bed (duck_db {bed.duck_db:g})")
    if bed.windows and bed.p10_db < bed.duck_db - P10_SLACK_DB:
        failures.append(f"speech is {bed.p10_db:.1f} dB over the bed at the 10th percentile "
                        f"(limit {bed.duck_db - P10_SLACK_DB:g} dB)")
    if not sound:
        failures.append(f"{audio} carries no music timeline: was it rendered with this manifest's [sound]?")
    return MusicReport(wer_with, wer_without, bed, tuple(failures))
