"""`scripts/bench.py`'s mastering line: master_turns against one bare ffmpeg encode of the same PCM.

The seed's assembled samples (its clips synthesised once, into a clip cache of this bench's own) are
mastered by ``master_turns`` with a fresh part cache each time: levelling, the limiter, the parts'
encoding, the decoded checks and the join; against them, ffmpeg encodes the same samples from a WAV
once, with the render's own encoder settings (``audio.encode.encoder_args``).  Both run --repeat
times, interleaved, so that drift in this machine's speed hits both alike; the ratio is of medians.
"""

from __future__ import annotations

import shutil
import statistics
import subprocess
import time
import wave
from pathlib import Path

from bench import SEED

TARGET = 1.2


def assembled(tmp: Path, engine: str | None):
    """The seed's assembled speech (samples, rate, turn starts) and its mastering targets."""
    from audio.assemble import assemble
    from audio.episode import load_episode
    from audio.master import MasteringTargets
    from audio.render import RenderOptions, _synthesiser

    episode = load_episode(SEED, engine=engine) if engine else load_episode(SEED)
    with _synthesiser(RenderOptions(cache_dir=tmp / "clips")) as synth:
        clips = synth.synthesise(episode.speech_jobs())
    a = assemble(episode.turns, episode.chapters, clips, episode.manifest.pauses, episode.word_offsets())
    m = episode.manifest
    return a.samples, a.rate_hz, list(a.turn_starts), MasteringTargets(m.target_lufs, m.true_peak_dbtp, m.bitrate_kbps)


def mastering_pair(tmp: Path, repeat: int, engine: str | None) -> tuple[float, float, list[float], list[float]]:
    """Median seconds of master_turns and of the bare encode, and each run of both."""
    from audio.encode import encoder_args
    from audio.master import master_turns

    samples, rate, starts, targets = assembled(tmp, engine)
    wav = tmp / "assembled.wav"
    with wave.open(str(wav), "wb") as w:  # the assembly is int16 mono
        w.setnchannels(1)
        w.setsampwidth(2)
        w.setframerate(rate)
        w.writeframes(samples.tobytes())
    masters, bares = [], []
    for n in range(repeat):
        start = time.perf_counter()
        subprocess.run(["ffmpeg", "-nostdin", "-y", "-loglevel", "error", "-i", str(wav),
                        *encoder_args(targets.bitrate_kbps), str(tmp / "bare.mp3")], check=True)
        bares.append(time.perf_counter() - start)
        cache = tmp / f"parts-{n}"
        start = time.perf_counter()
        master_turns(samples, rate, starts, tmp / "mastered.mp3", targets, cache_dir=cache)
        masters.append(time.perf_counter() - start)
        shutil.rmtree(cache, ignore_errors=True)
    return statistics.median(masters), statistics.median(bares), masters, bares


def mastering_lines(tmp: Path, repeat: int) -> list[str]:
    lines = [f"{'mastering ÷ one bare ffmpeg encode of the same PCM':<44}{'seconds':>10}{'ratio':>8}{'target':>8}"]
    for engine in (None, "pyttsx3"):
        master, bare, masters, bares = mastering_pair(tmp / (engine or "default"), repeat, engine)
        tag = f"--engine {engine}" if engine else "default voices"
        lines.append(f"{f'one bare ffmpeg encode, same PCM, {tag}':<44}{bare:>10.2f}{1.0:>8.2f}{'':>8}"
                     f"  (runs: {', '.join(f'{t:.2f}' for t in bares)})")
        lines.append(f"{f'  master_turns, {tag}':<44}{master:>10.2f}{master / bare:>8.2f}"
                     f"{f'<= {TARGET}':>8}  (runs: {', '.join(f'{t:.2f}' for t in masters)})")
    return lines
