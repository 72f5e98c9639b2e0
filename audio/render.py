"""The pipeline: episode -> speech -> assembly -> loudness -> MP3 -> tags.

The MP3 is built in a temporary file beside the destination and renamed
into place only when it is complete and its chapters read back the same
with ffprobe; any failure or interrupt leaves the destination as it was.
"""

from __future__ import annotations

import contextlib
import logging
import os
import tempfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from . import tools
from .assemble import ChapterMark, SentenceTiming, assemble, chapter_marks
from .encode import OUTPUT_RATE_HZ, decode, encode_mp3
from .episode import Episode
from .errors import EncodeError, OutputError, TagError
from .loudness import LoudnessReport, integrated_lufs, normalise, true_peak_dbtp
from .speak import SynthesisStats, Synthesizer, default_cache_dir
from .tag import episode_tags, ffprobe_chapters, mp3_duration_ms, transcript_lines, write_tags

log = logging.getLogger(__name__)

LIMITER_MARGIN_DB = 0.8  # the limiter's ceiling under the true-peak target
PEAK_MARGIN_DB = 0.2  # kept under the target when a pass overshoots
MAX_LOUDNESS_PASSES = 3
LOUDNESS_TOLERANCE_LU = 0.5  # Apple asks for -16 LUFS within 1 dB; aim at half that
EXCERPTS = 16  # slices encoded to predict what the encoder does
EXCERPT_S = 3

Progress = Callable[[str, int, int], None]  # stage, done, total


@dataclass(frozen=True)
class RenderOptions:
    id3_version: int = 3
    cache_dir: Path | None = None  # None: the user's cache folder
    use_cache: bool = True
    workers: int | None = None


@dataclass(frozen=True)
class RenderResult:
    path: Path
    episode: Episode
    sentences: tuple[SentenceTiming, ...]
    chapters: tuple[ChapterMark, ...]
    duration_ms: int
    loudness: LoudnessReport  # measured on the decoded MP3
    synthesis: SynthesisStats


def _temporary_beside(dest: Path) -> Path:
    try:
        dest.parent.mkdir(parents=True, exist_ok=True)
        fd, name = tempfile.mkstemp(prefix=f".{dest.stem}.", suffix=".part.mp3", dir=dest.parent)
    except OSError as exc:
        raise OutputError(f"cannot write to {dest.parent}: {exc.strerror}") from None
    os.close(fd)
    return Path(name)


def _synthesiser(options: RenderOptions) -> Synthesizer:
    cache = None
    if options.use_cache:
        cache = options.cache_dir or default_cache_dir()
    kwargs = {"workers": options.workers} if options.workers else {}
    return Synthesizer(cache_dir=cache, **kwargs)


@dataclass(frozen=True)
class _EncoderEffect:
    loss_lu: float  # loudness the MP3 loses
    overshoot_db: float  # true peak of the decoded MP3 above the limiter's ceiling


def _encoder_effect(samples: np.ndarray, rate_hz: int, target_lufs: float, ceiling_db: float,
                    bitrate_kbps: int) -> _EncoderEffect:
    """Predict what MP3 encoding does to level and peaks, from excerpts.

    At 64 kb/s the coding noise rides on the limiter's flattened peaks (about
    +1.5 dB true peak measured here) and the loudness drops about 0.5 LU.
    Levelling and encoding a few seconds from across the episode predicts
    both, so one full encode usually lands on target.
    """
    slice_len = rate_hz * EXCERPT_S
    if len(samples) <= slice_len * EXCERPTS:
        excerpt = samples
    else:
        starts = np.linspace(0, len(samples) - slice_len, EXCERPTS).astype(int)
        excerpt = np.concatenate([samples[s:s + slice_len] for s in starts])
    levelled, report = normalise(excerpt, rate_hz, target_lufs=target_lufs, ceiling_db=ceiling_db)
    with tempfile.TemporaryDirectory(prefix="episode-probe-") as tmp:
        probe = Path(tmp, "excerpt.mp3")
        encode_mp3(levelled, rate_hz, probe, bitrate_kbps=bitrate_kbps)
        decoded = decode(probe, OUTPUT_RATE_HZ)
    effect = _EncoderEffect(loss_lu=report.integrated_lufs - integrated_lufs(decoded, OUTPUT_RATE_HZ),
                            overshoot_db=true_peak_dbtp(decoded, OUTPUT_RATE_HZ) - ceiling_db)
    log.info("MP3 at %d kb/s: -%.2f LU, +%.2f dB peak over the limiter (excerpts)",
             bitrate_kbps, effect.loss_lu, effect.overshoot_db)
    return effect


def _encode_to_targets(samples: np.ndarray, rate_hz: int, part: Path, episode: Episode) -> LoudnessReport:
    """Normalise and encode until the decoded MP3 meets loudness and true peak."""
    man = episode.manifest
    ceiling = man.true_peak_dbtp - LIMITER_MARGIN_DB
    effect = _encoder_effect(samples, rate_hz, man.target_lufs, ceiling, man.bitrate_kbps)
    aim_lufs = man.target_lufs + max(0.0, effect.loss_lu)
    ceiling -= max(0.0, effect.overshoot_db)
    for attempt in range(MAX_LOUDNESS_PASSES):
        levelled, before = normalise(samples, rate_hz, target_lufs=aim_lufs, ceiling_db=ceiling)
        encode_mp3(levelled, rate_hz, part, bitrate_kbps=man.bitrate_kbps)
        del levelled
        decoded = decode(part, OUTPUT_RATE_HZ)
        report = LoudnessReport(integrated_lufs=integrated_lufs(decoded, OUTPUT_RATE_HZ),
                                true_peak_dbtp=true_peak_dbtp(decoded, OUTPUT_RATE_HZ),
                                gain_db=before.gain_db, limited_samples=before.limited_samples)
        del decoded
        log.info("pass %d: %.2f LUFS, %.2f dBTP after encoding (limiter at %.2f dBFS)",
                 attempt + 1, report.integrated_lufs, report.true_peak_dbtp, ceiling)
        peak_over = report.true_peak_dbtp - man.true_peak_dbtp
        loudness_off = man.target_lufs - report.integrated_lufs
        if peak_over <= 0 and abs(loudness_off) <= LOUDNESS_TOLERANCE_LU:
            return report
        if peak_over > 0:
            ceiling -= peak_over + PEAK_MARGIN_DB
        aim_lufs += loudness_off
    raise EncodeError(f"could not meet {man.target_lufs} LUFS and {man.true_peak_dbtp} dBTP "
                      f"(last {report.integrated_lufs:.2f} LUFS, {report.true_peak_dbtp:.2f} dBTP)")


def render(episode: Episode, dest: Path, options: RenderOptions = RenderOptions(),
           progress: Progress | None = None) -> RenderResult:
    """Render *episode* to the MP3 *dest*; return what was made and measured."""
    dest = Path(dest)
    if dest.exists() and dest.is_dir():
        raise OutputError(f"{dest} is a folder; give an .mp3 file name")
    tools.require("espeak-ng")
    tools.require("ffmpeg")
    tools.require("ffprobe")
    episode.check_voices()
    jobs = episode.speech_jobs()

    def tick(stage: str, total: int) -> Callable[[int], None]:
        done = 0

        def advance(n: int) -> None:
            nonlocal done
            done += n
            if progress:
                progress(stage, done, total)
        return advance

    part = _temporary_beside(dest)
    try:
        with _synthesiser(options) as synth:
            clips = synth.synthesise(jobs, progress=tick("speech", len(jobs)))
            assembly = assemble(episode.turns, episode.chapters, clips, episode.manifest.pauses)
            stats = synth.stats
        if progress:
            progress("loudness and encoding", 0, 1)
        loudness = _encode_to_targets(assembly.samples, assembly.rate_hz, part, episode)
        duration_ms = mp3_duration_ms(part)
        marks = chapter_marks(episode.chapters, assembly.sentences, duration_ms)
        transcript = transcript_lines(episode.transcript_turns())
        tags = episode_tags(episode.metadata.title, episode.metadata, transcript, marks)
        write_tags(part, tags, id3_version=options.id3_version)
        _check_with_ffprobe(part, marks)
        if progress:
            progress("loudness and encoding", 1, 1)
        os.replace(part, dest)
    except BaseException:
        with contextlib.suppress(OSError):
            part.unlink()
        raise
    log.info("wrote %s: %.1f s, %.2f LUFS, %.2f dBTP", dest, duration_ms / 1000,
             loudness.integrated_lufs, loudness.true_peak_dbtp)
    return RenderResult(path=dest, episode=episode, sentences=assembly.sentences, chapters=marks,
                        duration_ms=duration_ms, loudness=loudness, synthesis=stats)


def _check_with_ffprobe(path: Path, marks: tuple[ChapterMark, ...]) -> None:
    """An independent reader must see the chapters we wrote, in order."""
    seen = ffprobe_chapters(path)
    want = [(m.start_ms, m.end_ms, m.title) for m in marks]
    got = [(c["start_ms"], c["end_ms"], c["title"]) for c in seen]
    if got != want:
        diff = next((g, w) for g, w in zip(got + [None] * len(want), want) if g != w)
        raise TagError(f"ffprobe reads different chapters than were written: {diff[0]} for {diff[1]}")
