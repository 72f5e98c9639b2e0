"""bench.py --deliverables: issue 23's targets on the seed (see bench.py's docstring)."""

from __future__ import annotations

import shutil
import statistics
import time
from pathlib import Path

from bench import EPISODE_BIN, SEED, timed

from audio.episode import load_episode


def _timed_render(out: Path, cache: Path, *extra: str) -> float:
    return timed([str(EPISODE_BIN), "render", str(SEED), "-o", str(out), "--cache-dir", str(cache), *extra])


def _opus_starts(path: Path) -> list[tuple[int, str]]:
    from mutagen.oggopus import OggOpus

    tags, out, n = OggOpus(str(path)).tags, [], 0
    while f"CHAPTER{n:03d}" in tags:
        h, m, sec = tags[f"CHAPTER{n:03d}"][0].split(":")
        out.append((round((int(h) * 3600 + int(m) * 60 + float(sec)) * 1000), tags[f"CHAPTER{n:03d}NAME"][0]))
        n += 1
    return out


def deliverables_bench(tmp: Path, repeat: int) -> None:
    """Issue 23's targets: the EPUB, its clips, --all against a plain render, chapters of M4B and Opus."""
    from mutagen.mp4 import MP4

    from audio.outputs.epub import write_epub
    from audio.outputs.overlay import check_clips
    from audio.outputs.tag import ffprobe_chapters, mp3_duration_ms
    from audio.render import RenderOptions, render
    from tests.epubtools import book_clips, epubcheck

    cold_mp3, cold_all = [], []
    for n in range(repeat):  # interleaved, each with an empty cache, so drift hits both alike
        cold_mp3.append(_timed_render(tmp / "plain" / "seed.mp3", tmp / f"cache-plain-{n}"))
        cold_all.append(_timed_render(tmp / "all" / "seed.mp3", tmp / f"cache-all-{n}", "--all"))
        shutil.rmtree(tmp / f"cache-plain-{n}", ignore_errors=True)
        if n < repeat - 1:
            shutil.rmtree(tmp / f"cache-all-{n}", ignore_errors=True)
    warm_cache = tmp / f"cache-all-{repeat - 1}"
    warm_mp3, warm_all = [], []
    for _ in range(repeat):
        warm_mp3.append(_timed_render(tmp / "plain" / "seed.mp3", warm_cache))
        warm_all.append(_timed_render(tmp / "all" / "seed.mp3", warm_cache, "--all"))
    result = render(load_episode(SEED), tmp / "book" / "seed.mp3", RenderOptions(cache_dir=warm_cache))
    builds = []
    for _ in range(max(repeat, 3)):
        start = time.perf_counter()
        book = write_epub(result, tmp / "book" / "seed.epub", identifier="urn:uuid:00000000-0000-0000-0000-000000000000")
        builds.append(time.perf_counter() - start)
    messages = epubcheck(book)
    errors = sum(m[0] in ("FATAL", "ERROR") for m in messages)
    warnings = sum(m[0] == "WARNING" for m in messages)
    clips, _, _, _ = book_clips(book)
    checked = check_clips(clips, mp3_duration_ms(result.path))
    folder = tmp / "all"
    mp3 = [(c["start_ms"], c["end_ms"], c["title"]) for c in ffprobe_chapters(folder / "seed.mp3")]
    m4b = [(c["start_ms"], c["end_ms"], c["title"]) for c in ffprobe_chapters(folder / "seed.m4b")]
    nero = [(round(c.start * 1000), c.title) for c in MP4(str(folder / "seed.m4b")).chapters]
    opus = _opus_starts(folder / "seed.opus")
    starts = [(a, t) for a, _, t in mp3]

    def same(got: list, want: list) -> str:
        if got == want:
            return f"equal ({len(want)})"
        worst = max((abs(g[0] - w[0]) for g, w in zip(got, want)), default=0)
        return f"DIFFERENT ({len(got)} vs {len(want)}, up to {worst} ms)"

    cm, ca, wm, wa = (statistics.median(x) for x in (cold_mp3, cold_all, warm_mp3, warm_all))
    print(f"{'deliverables (the seed)':<52}{'figure':>16}{'target':>10}")
    print(f"{'EPUB build, s (median of ' + str(len(builds)) + ')':<52}{statistics.median(builds):>16.3f}{'<= 1':>10}")
    print(f"{'EPUBCheck errors / warnings':<52}{f'{errors} / {warnings}':>16}{'0 / 0':>10}")
    print(f"{'SMIL clips: gaps / overlaps / past the end':<52}"
          f"{f'{checked.gaps} / {checked.overlaps} / {checked.past_end}':>16}{'0 / 0 / 0':>10}")
    print(f"{'SMIL clips (one per sentence), empty':<52}{f'{len(clips)}, {checked.empty}':>16}{'':>10}")
    print(f"{'episode render, cold, s':<52}{cm:>16.2f}{'':>10}")
    print(f"{'episode render --all, cold, s':<52}{ca:>16.2f}{'':>10}")
    print(f"{'render --all / render, cold':<52}{ca / cm:>16.2f}{'<= 1.6':>10}")
    print(f"{'render --all / render, warm cache (' + f'{wa:.2f} / {wm:.2f} s)':<52}{wa / wm:>16.2f}{'<= 1.6':>10}")
    print(f"{'M4B chapters (ffprobe) against the MP3s':<52}{same(m4b, mp3):>16}{'equal':>10}")
    print(f"{'M4B Nero chapters (mutagen) against the MP3s':<52}{same(nero, starts):>16}{'equal':>10}")
    print(f"{'Opus chapters (mutagen) against the MP3s':<52}{same(opus, starts):>16}{'equal':>10}")
