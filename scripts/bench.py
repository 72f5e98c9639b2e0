#!/usr/bin/env python3
"""Benchmarks, printed as ratios measured in one run.

render: `episode render` of the seed with an empty clip cache, against the
bare baseline: espeak-ng reading the same text to a WAV (same voice, rate
and word gap), plus ffmpeg encoding that WAV with the render's own encoder
settings.

verify: `episode verify` of the rendered seed, against a bare faster-whisper
transcription of the same file with the same model and settings (both as
fresh processes, so both pay for start-up and model loading).

Run: .venv/bin/python scripts/bench.py [--repeat N]
"""

from __future__ import annotations

import argparse
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from audio.encode import encoder_args  # noqa: E402
from audio.episode import load_episode  # noqa: E402

SEED = ROOT / "seeds" / "flashpoint-iran-zelin.txt"
EPISODE_BIN = Path(sys.executable).with_name("episode")


def timed(argv: list[str]) -> float:
    start = time.perf_counter()
    subprocess.run(argv, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    return time.perf_counter() - start


def baseline(tmp: Path) -> float:
    episode = load_episode(SEED)
    text = tmp / "seed.txt"
    text.write_text("\n".join(t.text for t in episode.turns), encoding="utf-8")
    wav, mp3 = tmp / "base.wav", tmp / "base.mp3"
    speaker = episode.manifest.speakers[0]
    t_speech = timed(["espeak-ng", "-v", speaker.voice, "-s", str(speaker.rate_wpm),
                      "-g", str(round(speaker.word_gap_ms / 10)), "-f", str(text), "-w", str(wav)])
    t_encode = timed(["ffmpeg", "-nostdin", "-y", "-loglevel", "error", "-i", str(wav), *encoder_args(64), str(mp3)])
    return t_speech + t_encode


def render_cold(tmp: Path, n: int) -> float:
    cache = tmp / f"cache-{n}"
    seconds = timed([str(EPISODE_BIN), "render", str(SEED), "-o", str(tmp / "render.mp3"), "--cache-dir", str(cache)])
    shutil.rmtree(cache, ignore_errors=True)
    return seconds


BARE_WHISPER = """
import sys
from faster_whisper import BatchedInferencePipeline, WhisperModel
from audio.transcribe import RecognitionOptions, resolve_model
import os
o = RecognitionOptions()
model = WhisperModel(resolve_model(None), device="cpu", compute_type="int8", cpu_threads=os.cpu_count())
segments, info = BatchedInferencePipeline(model).transcribe(
    sys.argv[1], language=o.language, beam_size=o.beam_size, word_timestamps=True, batch_size=o.batch_size)
print(sum(len(s.words) for s in segments), info.duration)
"""


def bare_whisper(mp3: Path) -> float:
    return timed([sys.executable, "-c", BARE_WHISPER, str(mp3)])


def episode_verify(mp3: Path) -> float:
    start = time.perf_counter()
    proc = subprocess.run([str(EPISODE_BIN), "verify", str(mp3)], stdout=subprocess.DEVNULL,
                          stderr=subprocess.DEVNULL)
    if proc.returncode not in (0, 1):  # 1 is a failed check, still a complete run
        raise SystemExit(f"episode verify failed with exit code {proc.returncode}")
    return time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=3, help="runs of each, median taken")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="episode-bench-") as name:
        tmp = Path(name)
        base, cold, bare, ver = [], [], [], []
        for n in range(args.repeat):  # interleaved, so drift hits both alike
            base.append(baseline(tmp))
            cold.append(render_cold(tmp, n))
        mp3 = tmp / "render.mp3"
        audio_s = float(subprocess.run(["ffprobe", "-v", "error", "-show_entries", "format=duration",
                                        "-of", "csv=p=0", str(mp3)], capture_output=True, text=True).stdout)
        for _ in range(args.repeat):
            bare.append(bare_whisper(mp3))
            ver.append(episode_verify(mp3))
    b, c = statistics.median(base), statistics.median(cold)
    w, v = statistics.median(bare), statistics.median(ver)
    print(f"{'measure':<40}{'seconds':>10}{'ratio':>8}{'target':>8}")
    print(f"{'render baseline (espeak-ng + ffmpeg)':<40}{b:>10.2f}{1.0:>8.2f}{'':>8}")
    print(f"{'episode render, cold cache':<40}{c:>10.2f}{c / b:>8.2f}{'<= 2.5':>8}")
    print(f"{'verify baseline (bare faster-whisper)':<40}{w:>10.2f}{1.0:>8.2f}{'':>8}")
    print(f"{'episode verify':<40}{v:>10.2f}{v / w:>8.2f}{'<= 1.3':>8}")
    print(f"audio: {audio_s:.1f} s; real-time factor of episode verify: {v / audio_s:.3f}")


if __name__ == "__main__":
    main()
