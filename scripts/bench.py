#!/usr/bin/env python3
"""Benchmarks, printed as ratios measured in one run.

render: `episode render` of the seed with an empty clip cache, against the
bare baseline: espeak-ng reading the same text to a WAV, plus ffmpeg
encoding that WAV with the render's own encoder settings.

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
    t_speech = timed(["espeak-ng", "-v", speaker.voice, "-s", str(speaker.rate_wpm), "-f", str(text), "-w", str(wav)])
    t_encode = timed(["ffmpeg", "-nostdin", "-y", "-loglevel", "error", "-i", str(wav), *encoder_args(64), str(mp3)])
    return t_speech + t_encode


def render_cold(tmp: Path, n: int) -> float:
    cache = tmp / f"cache-{n}"
    seconds = timed([str(EPISODE_BIN), "render", str(SEED), "-o", str(tmp / "render.mp3"), "--cache-dir", str(cache)])
    shutil.rmtree(cache, ignore_errors=True)
    return seconds


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=3, help="runs of each, median taken")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="episode-bench-") as name:
        tmp = Path(name)
        base, cold = [], []
        for n in range(args.repeat):  # interleaved, so drift hits both alike
            base.append(baseline(tmp))
            cold.append(render_cold(tmp, n))
    b, c = statistics.median(base), statistics.median(cold)
    print(f"{'measure':<34}{'seconds':>10}{'ratio':>8}{'target':>8}")
    print(f"{'baseline (espeak-ng + ffmpeg)':<34}{b:>10.2f}{1.0:>8.2f}{'':>8}")
    print(f"{'episode render, cold cache':<34}{c:>10.2f}{c / b:>8.2f}{'<= 2.5':>8}")


if __name__ == "__main__":
    main()
