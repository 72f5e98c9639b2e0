"""`scripts/bench.py --sound`: the seed with its music (seeds/flashpoint-iran-zelin.sound.toml).

cold: `episode render` of the seed with intro, bed, stingers and outro against the same render
without [sound] (the seed's own manifest), each with an empty clip cache, interleaved --repeat
times, medians compared.

warm: after editing one answer, a render of the music manifest with the cache of its cold render,
against a cold render of the edited transcript with music (as bench.py's warm pair).

verify: `episode verify -t -m --json` of the render with music: tiny.en WER with the music and
without it (its speech alone, rendered from the cache), speech over the bed in 400 ms windows
from each word's start under a bed (median, 10th percentile, lowest), and how far the chapter
marks are from where their first words are heard, beside the same for the render without music.
"As mixed" is the same ratio from the render's own plan (the bed's samples as placed, against the
speech stem): what the MP3 measure estimates.
"""

from __future__ import annotations

import json
import shutil
import statistics
import subprocess
import time
from pathlib import Path

from bench import EPISODE_BIN, SEED, synthesised, turns_encoded

SOUND = SEED.with_name("flashpoint-iran-zelin.sound.toml")
EDIT = ("It has only gotten stronger over time.", "It has only grown stronger as time went on.")


def _render(transcript: Path, manifest: Path, out: Path, cache: Path) -> tuple[float, str]:
    start = time.perf_counter()
    proc = subprocess.run([str(EPISODE_BIN), "-v", "render", str(transcript), "-m", str(manifest), "-o", str(out),
                           "--no-sidecars", "--cache-dir", str(cache)], capture_output=True, text=True)
    if proc.returncode:
        raise SystemExit(f"render failed: {proc.stderr.strip().splitlines()[-1:]}")
    return time.perf_counter() - start, proc.stdout + proc.stderr


def _verify(mp3: Path, manifest: Path, cache: Path) -> dict:
    report = mp3.with_suffix(".fidelity.json")
    proc = subprocess.run([str(EPISODE_BIN), "verify", str(mp3), "-t", str(SEED), "-m", str(manifest),
                           "--cache-dir", str(cache), "--json", str(report)], capture_output=True, text=True)
    if proc.returncode not in (0, 1):
        raise SystemExit(f"episode verify failed ({proc.returncode}): {proc.stderr.strip()}")
    return json.loads(report.read_text(encoding="utf-8"))


def _drift(report: dict) -> tuple[int, float]:
    drifts = [abs(c["drift_ms"]) for c in report["chapters"] if c["drift_ms"] is not None]
    return max(drifts), statistics.median(drifts)


def _as_mixed(mp3_cache: Path) -> tuple[float, float, float]:
    """Speech over the bed from the plan: the placed bed samples against the speech stem, 400 ms windows."""
    import numpy as np

    from audio.encode import decode
    from audio.engines.clip import resampled
    from audio.episode import load_episode
    from audio.render import RenderOptions, render
    from audio.sound.check import _k_weighted

    episode = load_episode(SEED, SOUND)
    stem = render(episode, mp3_cache.parent / "stem.mp3", RenderOptions(cache_dir=mp3_cache, music=False))
    placement, rate = stem.placement, 44100
    bed = np.zeros(placement.end, np.float32)
    for p in placement.placed:
        if p.bed:
            bed[p.start:p.start + len(p.samples)] += p.samples
    speech = decode(stem.path, rate)
    bed = np.pad(resampled(bed, placement.rate_hz, rate), (0, len(speech)))[:len(speech)]
    ks, kb = _k_weighted(speech.astype(np.float64), rate), _k_weighted(bed.astype(np.float64), rate)
    width = rate * 400 // 1000
    spans = [(p.start * 1000 // placement.rate_hz, (p.start + len(p.samples)) * 1000 // placement.rate_hz)
             for p in placement.placed if p.bed]  # (assembly ms: within a few ms of the MP3's)
    ratios = [10 * np.log10(np.mean(ks[i:i + width] ** 2) / max(np.mean(kb[i:i + width] ** 2), 1e-20))
              for s in stem.sentences for w in s.word_starts_ms if any(a <= w < b for a, b in spans)
              for i in [w * rate // 1000]]
    return float(np.median(ratios)), float(np.percentile(ratios, 10)), float(min(ratios))


def sound_bench(tmp: Path, repeat: int) -> None:
    manifest = SEED.with_suffix(".toml")
    plain, music = [], []
    for n in range(repeat):  # interleaved, so drift hits both alike
        for times, man, name in ((plain, manifest, "plain"), (music, SOUND, "sound")):
            cache = tmp / f"cache-{name}-{n}"
            times.append(_render(SEED, man, tmp / f"{name}.mp3", cache)[0])
            if n < repeat - 1:
                shutil.rmtree(cache)
    edited = tmp / "edited.txt"
    edited.write_text(SEED.read_text(encoding="utf-8").replace(*EDIT), encoding="utf-8")
    warm_cache = tmp / f"cache-sound-{repeat - 1}"  # the last cold render's, kept
    t_warm, out_warm = _render(edited, SOUND, tmp / "warm.mp3", warm_cache)
    t_cold, out_cold = _render(edited, SOUND, tmp / "cold.mp3", tmp / "cache-edited")
    with_music = _verify(tmp / "sound.mp3", SOUND, warm_cache)
    without = _verify(tmp / "plain.mp3", manifest, tmp / f"cache-plain-{repeat - 1}")
    mixed = _as_mixed(warm_cache)
    p, m = statistics.median(plain), statistics.median(music)
    bed, wer = with_music["music"]["bed"], with_music["music"]
    print(f"{'the seed with music (--sound)':<52}{'value':>10}{'ratio':>8}{'target':>10}")
    print(f"{'cold render without [sound], s':<52}{p:>10.2f}{1.0:>8.2f}{'':>10}")
    print(f"{'cold render with intro, bed, stingers, outro, s':<52}{m:>10.2f}{m / p:>8.2f}{'<= 1.10':>10}")
    print(f"{'cold render of the edited transcript, s':<52}{t_cold:>10.2f}{1.0:>8.2f}{'':>10}  "
          f"{synthesised(out_cold)}; {turns_encoded(out_cold)}")
    print(f"{'warm re-render after editing one answer, s':<52}{t_warm:>10.2f}{t_warm / t_cold:>8.2f}{'<= 0.3':>10}  "
          f"{synthesised(out_warm)}; {turns_encoded(out_warm)}")
    print(f"{'speech over bed, 400 ms from each word (MP3), median dB':<52}{bed['median_db']:>10.1f}{'':>8}"
          f"{'>= 20':>10}  ({bed['windows']} words)")
    print(f"{'  10th percentile, dB':<52}{bed['p10_db']:>10.1f}{'':>8}{'>= 17':>10}  (lowest {bed['min_db']:.1f})")
    label = "  as mixed (the placed bed, the speech stem), median"
    print(f"{label:<52}{mixed[0]:>10.1f}{'':>8}{'':>10}  "
          f"(10th percentile {mixed[1]:.1f}, lowest {mixed[2]:.1f})")
    ratio = wer["wer_ratio"] if wer["wer_ratio"] is not None else float("nan")
    print(f"{'tiny.en WER with the music / without it':<52}{wer['wer_with']:>9.1%} {ratio:>8.2f}{'<= 1.15':>10}  "
          f"(without: {wer['wer_without']:.1%})")
    worst, median = _drift(with_music)
    worst_p, median_p = _drift(without)
    print(f"{'chapter starts against heard words, largest |drift| ms':<52}{worst:>10d}{'':>8}{'<= 1500':>10}  "
          f"(median {median:.0f}; without [sound]: {worst_p}, median {median_p:.0f})")
    print(f"  verify with music: {'passed' if with_music['passed'] and not with_music['music']['failures'] else 'FAILED'}"
          f"{'; ' + '; '.join(with_music['failures'] + with_music['music']['failures']) if not with_music['passed'] or with_music['music']['failures'] else ''}")
