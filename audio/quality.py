"""Stage 5 (quality): how natural the episode sounds, and how far apart its voices are.

Naturalness is DNSMOS (Microsoft's non-intrusive speech quality estimate)
as the ``speechmos`` package ships it: P.808 (a listening-test MOS) and
SIG, BAK, OVRL (signal, background, overall: the P.835 scales), each on
1-5.  The MP3 is cut into consecutive 10 s windows, each scored on its
own, and the scores averaged: "mean of 10 s windows of the MP3".  Per
speaker, the speaker's turns (as the render's timeline places them) are
joined and windowed the same way, so every window holds one voice.

Pitch is each speaker's median F0 over voiced frames (audio/pitch.py).

speechmos imports librosa (and through it numba and scikit-learn: about
280 MB installed, 2 s to load in a process), so it is an optional extra,
imported only when a measurement is asked for.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np

from .errors import VerifyError
from .pitch import median_f0_hz

log = logging.getLogger(__name__)

SAMPLE_RATE_HZ = 16000  # what DNSMOS listens at
WINDOW_S = 10.0
# speechmos scores 9.01 s of a window and repeats a shorter one to fill it;
# a last window under half a window is mostly a repeat, so it is dropped
# (unless it is all there is).
MIN_TAIL_S = WINDOW_S / 2
INSTALL_HINT = "pip install -e '.[quality]'"


@dataclass(frozen=True)
class DnsmosScores:
    """DNSMOS on its 1-5 scale, the mean over *windows* windows of *audio_s* seconds in all."""

    p808_mos: float
    sig_mos: float
    bak_mos: float
    ovrl_mos: float
    windows: int
    audio_s: float


@dataclass(frozen=True)
class SpeakerSpan:
    """Where one turn of one speaker is heard: the turn's start to the next turn's."""

    speaker: str
    start_ms: int
    end_ms: int


@dataclass(frozen=True)
class SpeakerQuality:
    speaker: str
    turns: int
    dnsmos: DnsmosScores | None  # None when the speaker has no audio to score
    median_f0_hz: float | None  # None when too little of it is voiced


@dataclass(frozen=True)
class QualityReport:
    audio: str
    window_s: float
    overall: DnsmosScores
    speakers: tuple[SpeakerQuality, ...]  # in order of first turn
    notes: tuple[str, ...] = field(default=())

    def speaker(self, name: str) -> SpeakerQuality:
        for s in self.speakers:
            if s.speaker == name:
                return s
        raise KeyError(name)

    def pitch_ratio(self, first: str, second: str) -> float | None:
        """Median F0 of *first* over that of *second* (host to guest, say)."""
        a, b = self.speaker(first).median_f0_hz, self.speaker(second).median_f0_hz
        return a / b if a and b else None

    def to_json(self) -> dict:
        data = asdict(self)
        data["speakers"] = {s["speaker"]: s for s in data["speakers"]}
        if len(self.speakers) >= 2:
            a, b = self.speakers[0].speaker, self.speakers[1].speaker
            ratio = self.pitch_ratio(a, b)
            data["pitch_ratio"] = {"first": a, "second": b, "ratio": None if ratio is None else round(ratio, 3)}
        return data


def require_dnsmos():
    """speechmos's DNSMOS module, or a one-line error saying what to install."""
    try:
        from speechmos import dnsmos
    except ImportError as exc:  # speechmos declares no dependencies: any of them may be the missing one
        missing = (exc.name or "speechmos").split(".")[0]
        what = "speechmos" if missing == "speechmos" else f"{missing} (for speechmos)"
        raise VerifyError(f"DNSMOS needs {what}, which is not installed: {INSTALL_HINT}") from None
    return dnsmos


def windows(n_samples: int, rate_hz: int, window_s: float = WINDOW_S) -> list[tuple[int, int]]:
    """(start, end) sample indices of consecutive windows of *window_s*."""
    size, tail = round(window_s * rate_hz), round(MIN_TAIL_S * rate_hz)
    cuts = [(a, min(a + size, n_samples)) for a in range(0, n_samples, size)]
    if len(cuts) > 1 and cuts[-1][1] - cuts[-1][0] < tail:
        cuts.pop()
    return cuts


def dnsmos_scores(samples: np.ndarray, rate_hz: int = SAMPLE_RATE_HZ,
                  window_s: float = WINDOW_S) -> DnsmosScores | None:
    """DNSMOS of *samples* (16 kHz mono float), the mean of its windows; None for no audio."""
    if rate_hz != SAMPLE_RATE_HZ:
        raise ValueError(f"DNSMOS listens at {SAMPLE_RATE_HZ} Hz, not {rate_hz}")
    if len(samples) < rate_hz // 10:  # under 0.1 s: nothing to judge
        return None
    dnsmos = require_dnsmos()
    # speechmos refuses samples outside [-1, 1]; an MP3's decoder can overshoot a little.
    x = np.clip(np.asarray(samples, dtype=np.float32), -1.0, 1.0)
    scores = []
    for a, b in windows(len(x), rate_hz, window_s):
        r = dnsmos.run(x[a:b], rate_hz)
        scores.append([float(r["p808_mos"]), float(r["sig_mos"]), float(r["bak_mos"]), float(r["ovrl_mos"])])
    p808, sig, bak, ovrl = np.mean(scores, axis=0)
    return DnsmosScores(round(float(p808), 3), round(float(sig), 3), round(float(bak), 3), round(float(ovrl), 3),
                        len(scores), round(len(x) / rate_hz, 2))


def spans_from_turns(speakers: Sequence[str], starts_ms: Sequence[int | None],
                     duration_ms: int) -> list[SpeakerSpan] | None:
    """Each turn from its start to the next turn's (the last to the end); None without start times."""
    if not starts_ms or any(s is None for s in starts_ms) or len(speakers) != len(starts_ms):
        return None
    ends = list(starts_ms[1:]) + [duration_ms]
    return [SpeakerSpan(name, int(s), int(e)) for name, s, e in zip(speakers, starts_ms, ends) if e > s]


def measure_samples(samples: np.ndarray, spans: Sequence[SpeakerSpan] | None, *, audio: str = "",
                    rate_hz: int = SAMPLE_RATE_HZ, window_s: float = WINDOW_S) -> QualityReport:
    """DNSMOS overall and per speaker, and each speaker's median F0, of decoded audio."""
    require_dnsmos()  # before any work: a missing package is said at once
    overall = dnsmos_scores(samples, rate_hz, window_s)
    if overall is None:
        raise VerifyError(f"{audio or 'the audio'} is too short to judge")
    notes = []
    speakers = []
    if spans:
        for name in dict.fromkeys(s.speaker for s in spans):
            own = [s for s in spans if s.speaker == name]
            joined = np.concatenate([samples[s.start_ms * rate_hz // 1000:s.end_ms * rate_hz // 1000] for s in own])
            f0 = median_f0_hz(joined, rate_hz)
            speakers.append(SpeakerQuality(name, len(own), dnsmos_scores(joined, rate_hz, window_s),
                                           None if f0 is None else round(f0, 1)))
    else:
        notes.append("the audio carries no turn times: no figures per speaker")
    log.info("DNSMOS P.808 %.2f over %d windows; %d speakers", overall.p808_mos, overall.windows, len(speakers))
    return QualityReport(audio=audio, window_s=window_s, overall=overall, speakers=tuple(speakers),
                         notes=tuple(notes))


def measure(audio: Path, spans: Sequence[SpeakerSpan] | None = None,
            samples: np.ndarray | None = None) -> QualityReport:
    """Measure *audio* (see measure_samples): *samples* are it decoded at 16 kHz, when the caller has them."""
    from .encode import decode

    audio = Path(audio)
    if not audio.is_file():
        raise VerifyError(f"audio not found: {audio}")
    require_dnsmos()  # before decoding: a missing package is said at once
    if samples is None:
        samples = decode(audio, SAMPLE_RATE_HZ)
    return measure_samples(samples, spans, audio=str(audio))


def measure_episode(audio: Path, turns=None, samples: np.ndarray | None = None) -> QualityReport:
    """Measure a rendered episode, per speaker by its own tags' turns (or *turns*: verify.RefTurn)."""
    from .outputs.tag import mp3_duration_ms
    from .verify import reference_from_tags

    if turns is None:
        turns, _ = reference_from_tags(audio)
    spans = spans_from_turns([t.speaker for t in turns], [t.expected_start_ms for t in turns],
                             mp3_duration_ms(audio))
    return measure(audio, spans, samples)


def _cells(d: DnsmosScores | None) -> str:
    if d is None:
        return f"{'-':>6} {'-':>6} {'-':>6} {'-':>6} {0:>7}"
    return f"{d.p808_mos:>6.2f} {d.sig_mos:>6.2f} {d.bak_mos:>6.2f} {d.ovrl_mos:>6.2f} {d.windows:>7}"


def render_table(report: QualityReport) -> str:
    """The figures as a table for people, in the style of the fidelity table."""
    lines = [f"Naturalness (DNSMOS, mean of {report.window_s:g} s windows) and pitch", "",
             f"{'':<34} {'P.808':>6} {'SIG':>6} {'BAK':>6} {'OVRL':>6} {'windows':>7} {'median F0 Hz':>13}",
             f"{'overall':<34} {_cells(report.overall)} {'-':>13}"]
    if report.speakers:
        lines.append("by speaker")
    for s in report.speakers:
        f0 = "-" if s.median_f0_hz is None else f"{s.median_f0_hz:.0f}"
        lines.append(f"  {s.speaker[:32]:<32} {_cells(s.dnsmos)} {f0:>13}")
    if len(report.speakers) >= 2:
        a, b = report.speakers[0].speaker, report.speakers[1].speaker
        ratio = report.pitch_ratio(a, b)
        lines.append(f"median pitch ratio, {a} to {b}: {'-' if ratio is None else f'{ratio:.2f}'}")
    lines += [f"note: {n}" for n in report.notes]
    return "\n".join(lines)
