#!/usr/bin/env python3
"""Benchmarks, printed as ratios measured in one run.

render: `episode render` of the seed with an empty clip cache, against the
bare baseline: espeak-ng reading the same text to a WAV (same voice, rate
and word gap), plus ffmpeg encoding that WAV with the render's own encoder
settings.

warm: after editing one answer, a render with the cache of the cold render,
against that cold render (prints how many sentences each synthesised).

scale: synthetic interviews of about 10, 30 and 60 minutes, built by
repeating the seed's turns: time and peak memory (largest process) of each.

verify: `episode verify` of the rendered seed, against a bare faster-whisper
transcription of the same file with the same model and settings (both as
fresh processes, so both pay for start-up and model loading).

parse (only with --parse, and then alone): a transcript of about 10 MB in
each input format (plain text, Markdown, a web page, Otter, Rev and Descript
exports, WebVTT with voices, Zoom's WebVTT, SRT, Podcasting 2.0 JSON), built
from the seed's turns, read and parsed as `episode` does (load_episode).

Run: .venv/bin/python scripts/bench.py [--repeat N]
     .venv/bin/python scripts/bench.py --parse [--repeat N]
"""

from __future__ import annotations

import argparse
import re
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
    sys.argv[1], language=o.language, beam_size=o.beam_size, word_timestamps=True, batch_size=o.batch_size,
    no_repeat_ngram_size=o.no_repeat_ngram_size, vad_parameters={"min_silence_duration_ms": o.vad_min_silence_ms})
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


def render_measured(transcript: Path, out: Path, cache: Path | None) -> tuple[float, float, str]:
    """Seconds, peak RSS in MB of the largest process, and the command's output."""
    cache_args = ["--cache-dir", str(cache)] if cache else ["--no-cache"]
    probe = ("import resource, subprocess, sys, time\n"
             "t = time.perf_counter()\n"
             "p = subprocess.run(sys.argv[1:], capture_output=True, text=True)\n"
             "dt = time.perf_counter() - t\n"
             "print(dt, resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024, p.returncode)\n"
             "print(p.stdout + p.stderr)\n")
    proc = subprocess.run([sys.executable, "-c", probe, str(EPISODE_BIN), "-v", "render", str(transcript),
                           "-m", str(SEED.with_suffix(".toml")), "-o", str(out), "--no-sidecars", *cache_args],
                          capture_output=True, text=True, check=True)
    head, _, output = proc.stdout.partition("\n")
    seconds, peak_mb, code = head.split()
    if code != "0":
        raise SystemExit(f"render failed: {output.strip().splitlines()[-1:]}")
    return float(seconds), float(peak_mb), output


def synthesised(output: str) -> str:
    for line in output.splitlines():
        if "clips synthesised" in line:
            return line.split("speech: ")[1]
    return "?"


def turns_encoded(output: str) -> str:
    for line in output.splitlines():
        if "mastered " in line:
            done, _, rest = line.split("mastered ")[1].partition(" turns (")
            cached = rest.split(" from cache")[0]
            return f"{int(done) - int(cached)} of {done} turns encoded"
    return "?"


def synthetic_interview(minutes: float, dest: Path) -> Path:
    """Repeat the seed's question/answer turns until about *minutes* of speech.

    Every sentence of a repeat ends in ", take N", so that no clip or turn
    is the same as another: the caches would otherwise render each repeat
    once and the benchmark would time deduplication, not rendering.
    """
    lines = [ln for ln in SEED.read_text(encoding="utf-8").splitlines() if ln.strip()]
    first_label = next(i for i, ln in enumerate(lines) if ln.startswith("VOA:"))
    intro, body = lines[:first_label], lines[first_label:]
    words_per_minute = 150  # the seed's 1051 words take about 7.9 minutes, plus ", take N"
    out, words, take = list(intro), sum(len(ln.split()) for ln in intro), 0
    while words < minutes * words_per_minute:
        take += 1
        for ln in body:
            label, sep, text = ln.partition(": ")
            text = re.sub(r"([.?!])(?=\s|$)", f", take {take}\\1", text if sep else ln)
            out.append(f"{label}{sep}{text}" if sep else text)
            words += len(out[-1].split())
    dest.write_text("\n".join(out) + "\n", encoding="utf-8")
    return dest


PARSE_BYTES = 10_000_000


def parse_speed(repeat: int) -> None:
    """Seconds to read and parse about 10 MB of each input format (target: at most 1 s)."""
    from tests.format_writers import WRITERS

    seed = load_episode(SEED)
    turns = [(seed.speaker(t.speaker_id).name, t.text) for t in seed.turns if not t.narration]
    print(f"{'10 MB transcript, parsed':<28}{'MB':>7}{'turns':>8}{'seconds':>10}{'target':>8}")
    with tempfile.TemporaryDirectory(prefix="episode-parse-") as name:
        for fmt, (writer, extension) in WRITERS.items():
            one = writer(turns)
            path = Path(name) / f"big{extension}"
            path.write_text(writer(turns * (PARSE_BYTES // len(one.encode()) + 1)), encoding="utf-8")
            times = []
            for _ in range(repeat):
                start = time.perf_counter()
                episode = load_episode(path, find_manifest=False)
                times.append(time.perf_counter() - start)
            seconds = statistics.median(times)
            print(f"{fmt:<28}{path.stat().st_size / 1e6:>7.1f}{len(episode.turns):>8}{seconds:>10.2f}{'<= 1.0':>8}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=3, help="runs of each, median taken")
    parser.add_argument("--scale", default="10,30,60", help="synthetic interview lengths in minutes ('' to skip)")
    parser.add_argument("--parse", action="store_true", help="measure only parsing 10 MB of each input format")
    args = parser.parse_args()
    if args.parse:
        parse_speed(args.repeat)
        return
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
        # warm re-render after editing one answer, against a cold render, same run
        edited = tmp / "edited.txt"
        text = SEED.read_text(encoding="utf-8")
        edited.write_text(text.replace("It has only gotten stronger over time.",
                                       "It has only grown stronger as time went on."), encoding="utf-8")
        cache = tmp / "warm-cache"
        t_seed, _, out_seed = render_measured(SEED, tmp / "s.mp3", cache)
        t_warm, _, out_warm = render_measured(edited, tmp / "w.mp3", cache)
        t_cold, _, out_cold = render_measured(edited, tmp / "c.mp3", tmp / "cold-cache")
        scale = []
        for minutes in [float(m) for m in args.scale.split(",") if m]:
            src = synthetic_interview(minutes, tmp / f"synthetic-{minutes:g}.txt")
            seconds, peak, _ = render_measured(src, tmp / f"synthetic-{minutes:g}.mp3", tmp / f"scale-cache-{minutes:g}")
            length = float(subprocess.run(["ffprobe", "-v", "error", "-show_entries", "format=duration", "-of",
                                           "csv=p=0", str(tmp / f"synthetic-{minutes:g}.mp3")],
                                          capture_output=True, text=True).stdout)
            scale.append((minutes, length / 60, seconds, peak))
    b, c = statistics.median(base), statistics.median(cold)
    w, v = statistics.median(bare), statistics.median(ver)
    print(f"{'measure':<40}{'seconds':>10}{'ratio':>8}{'target':>8}")
    print(f"{'render baseline (espeak-ng + ffmpeg)':<40}{b:>10.2f}{1.0:>8.2f}{'':>8}")
    print(f"{'episode render, cold cache':<40}{c:>10.2f}{c / b:>8.2f}{'<= 1.5':>8}")
    print(f"{'verify baseline (bare faster-whisper)':<40}{w:>10.2f}{1.0:>8.2f}{'':>8}")
    print(f"{'episode verify':<40}{v:>10.2f}{v / w:>8.2f}{'<= 1.3':>8}")
    print(f"audio: {audio_s:.1f} s; real-time factor of episode verify: {v / audio_s:.3f}")
    print()
    print(f"{'edited one answer':<40}{'seconds':>10}{'ratio':>8}{'target':>8}  synthesised; encoded")
    print(f"{'cold render of the edited transcript':<40}{t_cold:>10.2f}{1.0:>8.2f}{'':>8}  {synthesised(out_cold)}; {turns_encoded(out_cold)}")
    print(f"{'warm re-render (cache of the seed)':<40}{t_warm:>10.2f}{t_warm / t_cold:>8.2f}{'<= 0.5':>8}  {synthesised(out_warm)}; {turns_encoded(out_warm)}")
    if scale:
        print()
        print(f"{'synthetic interview':<22}{'audio min':>10}{'render s':>10}{'x 10-min':>10}{'peak MB':>9}")
        base_s = scale[0][2]
        for minutes, length, seconds, peak in scale:
            print(f"{f'~{minutes:g} min':<22}{length:>10.1f}{seconds:>10.1f}{seconds / base_s:>10.2f}{peak:>9.0f}")
        print("targets: 60-min time <= 6.5 x the 10-min time; 60-min peak memory <= 600 MB")


if __name__ == "__main__":
    main()
