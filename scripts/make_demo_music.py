#!/usr/bin/env python3
"""The demo's music, synthesised here so that it is free of rights: a theme and a stinger.

theme (Opus, 48 kHz stereo, 16 s): four chords (A minor, F, C, G) as soft
pads with a plucked bass and quiet filtered-noise hats, for the intro, its
bed and the outro.  sting (FLAC, 22.05 kHz mono, 1.8 s): a noise riser
into a chord swell, for chapter starts.  Two formats, rates and
channel counts on purpose: the render converts them to its own.

Run: .venv/bin/python scripts/make_demo_music.py [FOLDER]   (default: seeds/)
The same numbers give the same samples (the encoders' bytes may differ
between FFmpeg versions).  The files are not kept in git: scripts/setup.sh
makes them when they are missing.  Each is encoded under a temporary name
and renamed into place, so an interrupted run leaves no broken file.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tempfile
import wave
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
THEME = "flashpoint-theme.opus"
STING = "flashpoint-sting.flac"


def _note(name: str) -> float:
    """Frequency of a note such as A3 or C#4 (A4 = 440 Hz)."""
    steps = {"C": -9, "D": -7, "E": -5, "F": -4, "G": -2, "A": 0, "B": 2}[name[0]]
    steps += name.count("#") - name.count("b")
    return 440.0 * 2 ** ((steps + 12 * (int(name[-1]) - 4)) / 12)


def _envelope(n: int, rate: int, attack_s: float, release_s: float) -> np.ndarray:
    env = np.ones(n)
    a, r = min(n, int(attack_s * rate)), min(n, int(release_s * rate))
    env[:a] = np.linspace(0, 1, a, endpoint=False) ** 2
    env[n - r:] *= np.linspace(1, 0, r) ** 2
    return env


def theme(rate: int = 48000, seconds: float = 16.0) -> np.ndarray:
    """Stereo (2, n) float samples."""
    rng = np.random.default_rng(21)
    n = int(rate * seconds)
    out = np.zeros((2, n))
    chords = [("A3", "C4", "E4", "A2"), ("F3", "A3", "C4", "F2"), ("C4", "E4", "G4", "C3"), ("G3", "B3", "D4", "G2")]
    bar = n // len(chords)
    t = np.arange(bar + rate) / rate  # a second of release into the next chord
    for k, chord in enumerate(chords):
        start = k * bar
        piece = np.zeros((2, len(t)))
        for m, name in enumerate(chord[:3]):
            f = _note(name)
            for side, detune in ((0, 0.998), (1, 1.002)):  # a slow chorus between the channels
                tone = sum(np.sin(2 * np.pi * f * detune * h * t + m) / h ** 1.6 for h in (1, 2, 3, 4))
                piece[side] += 0.12 * tone * (1 + 0.15 * np.sin(2 * np.pi * 0.5 * t + m))
        piece *= _envelope(len(t), rate, 0.6, 1.2)
        beat = bar // 4
        for b in range(4):  # a plucked bass on each beat
            tb = t[:beat]
            pluck = np.sin(2 * np.pi * _note(chord[3]) * tb) * np.exp(-tb * 5) * 0.35
            piece[:, b * beat:(b + 1) * beat] += pluck
        for h in range(8):  # hats: short bursts of high-passed noise on the eighths
            burst = rng.standard_normal(int(0.04 * rate))
            burst = np.diff(burst, prepend=0) * np.exp(-np.arange(len(burst)) / (0.008 * rate)) * 0.05
            at = h * beat // 2
            piece[:, at:at + len(burst)] += burst
        end = min(n, start + len(t))
        out[:, start:end] += piece[:, :end - start]
    out *= _envelope(n, rate, 0.3, 2.5)
    return out / np.abs(out).max() * 0.7


def sting(rate: int = 22050, seconds: float = 1.8) -> np.ndarray:
    """Mono float samples: a noise riser into a soft A major swell.

    No note starts sharply: a bell arpeggio here (notes 120 ms apart, as
    fast as syllables) was taken for speech by Whisper's voice detector and
    made tiny.en drop the question after it; a riser and a swell are not.
    """
    rng = np.random.default_rng(7)
    n = int(rate * seconds)
    t = np.arange(n) / rate
    noise = np.convolve(rng.standard_normal(n), np.ones(6) / 6, "same")
    rise = np.clip(t / 1.0, 0, 1) ** 3 * np.exp(-np.clip(t - 1.0, 0, None) * 6)
    chord = sum(sum(np.sin(2 * np.pi * _note(f) * h * t + h) / h ** 2 for h in (1, 2, 3))
                for f in ("A2", "E3", "A3", "C#4", "E4"))
    swell = np.clip((t - 0.8) / 0.25, 0, 1) ** 2 * np.exp(-np.clip(t - 1.05, 0, None) * 2.5)
    out = noise * rise * 0.5 + chord * swell * 0.12
    return out / np.abs(out).max() * 0.8


def _wav(path: Path, samples: np.ndarray, rate: int) -> None:
    data = np.atleast_2d(samples)
    pcm = np.round(np.clip(data.T, -1, 1) * 32767).astype("<i2")
    with wave.open(str(path), "wb") as w:
        w.setnchannels(data.shape[0])
        w.setsampwidth(2)
        w.setframerate(rate)
        w.writeframes(pcm.tobytes())


def make(folder: Path) -> list[Path]:
    folder.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory() as tmp:
        _wav(Path(tmp, "theme.wav"), theme(), 48000)
        _wav(Path(tmp, "sting.wav"), sting(), 22050)
        run = ["ffmpeg", "-nostdin", "-y", "-loglevel", "error", "-bitexact"]
        subprocess.run([*run, "-i", str(Path(tmp, "theme.wav")), "-c:a", "libopus", "-b:a", "32k",
                        "-map_metadata", "-1", str(Path(tmp, THEME))], check=True)
        subprocess.run([*run, "-i", str(Path(tmp, "sting.wav")), "-c:a", "flac", "-compression_level", "8",
                        "-map_metadata", "-1", str(Path(tmp, STING))], check=True)
        for name in (THEME, STING):  # (a copy, then a rename: the temporary folder may be another file system)
            shutil.copyfile(Path(tmp, name), folder / f".{name}.part")
            os.replace(folder / f".{name}.part", folder / name)
    return [folder / THEME, folder / STING]


if __name__ == "__main__":
    try:
        made = make(Path(sys.argv[1]) if len(sys.argv) > 1 else ROOT / "seeds")
    except (subprocess.CalledProcessError, OSError) as exc:  # one line, as the tool's own errors are
        raise SystemExit(f"make_demo_music: {exc}") from None
    for path in made:
        print(f"{path}: {path.stat().st_size // 1024} kB")
