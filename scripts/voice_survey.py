#!/usr/bin/env python3
"""Survey espeak-ng voices: how well does the verifier understand each one?

Each candidate voice (an English espeak-ng base, plain or with a variant)
speaks the same three short passages (a news interview, a panel answer, a
technical explanation; about 500 words in all) through the espeak-ng program
at the project's default speaking settings (160 wpm, 40 ms word gap: what
the pyttsx3 worker produces, closely enough to rank voices).  Whisper
tiny.en transcribes each passage as `episode verify` does
(``audio.transcribe.recognise``), and the word error rate is computed on
both sides normalised as `episode verify` normalises them (``audio.align``)
with jiwer.  The table lists voice, variant, gender (espeak-ng's Age/Gender
column of the variant, or of the base for a plain voice), WER per passage
and overall (all passages' errors over all their words), the median pitch
and a few of the words misheard, sorted by overall WER.

The MBROLA voices (``mb/...``) are skipped: they need the mbrola program and
its voice files, which the project does not install.

Results go to a JSON file as each candidate finishes; a second run with the
same file skips the candidates already in it (so an interrupted survey
resumes), and ``--table-only`` prints the table from the file alone.

Run (from the repository root):
  PYTHONPATH=$PWD .venv/bin/python scripts/voice_survey.py                  # every base plain, then
      # m1..m8 and f1..f5 on the --top-bases best bases (default 4)
  PYTHONPATH=$PWD .venv/bin/python scripts/voice_survey.py --top-bases 0    # every base x every variant
  PYTHONPATH=$PWD .venv/bin/python scripts/voice_survey.py --bases gmw/en-us --variants m3,f2,Annie
  PYTHONPATH=$PWD .venv/bin/python scripts/voice_survey.py --voices gmw/en-gb-scotland+f2,gmw/en-029+f4
  PYTHONPATH=$PWD .venv/bin/python scripts/voice_survey.py --table-only
A candidate takes 10-30 s (three passages of about a minute each) on two shared cores;
the default survey (8 bases, then 13 variants on 4 of them: 60 voices) took 21 minutes.
"""

from __future__ import annotations

import argparse
import functools
import json
import statistics
import subprocess
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from audio import align  # noqa: E402
from audio.engines import pyttsx3  # noqa: E402
from audio.pitch import median_f0_hz  # noqa: E402
from audio.transcribe import recognise  # noqa: E402

RATE_WPM = 160  # the manifest's default rate_wpm
WORD_GAP_MS = 40  # the manifest's default word_gap_ms; espeak-ng's -g counts 10 ms units

# The same passages for every voice: names, numbers and ordinary speech of
# three kinds, so that a voice is not judged on one kind of sentence.  No
# thousands with a comma and no per cent: Whisper writes "4,200" and "80%"
# as two words each, which the verifier normalises word by word into
# errors for every voice alike (noise in a ranking).
PASSAGES = {
    "news": (
        "Good evening, and welcome back. I'm joined tonight by Doctor Sarah Mitchell, who led the "
        "flood response in Leeds last winter. Sarah, thank you for coming in. Thank you for having me. "
        "Let's start with the numbers. How many homes were affected? In the first week we counted just "
        "over 400 homes, and about 60 of those had water above the floorboards. By the end of January "
        "the figure had risen to nearly 900. And how quickly did help arrive? Honestly, not quickly "
        "enough. The first crews reached the worst streets within six hours, but some families waited "
        "three days for a hot meal. That is the part I find hardest to talk about. What would you change "
        "next time? We need pumps stored closer to the river, and we need a single phone number that "
        "people can actually remember. We asked for both in 2019. The council has promised to fund them "
        "by March, and I intend to hold them to that promise."),
    "panel": (
        "Well, I think that's a fair question, and I'm going to be a bit careful with it. When I started "
        "teaching, twenty years ago, nobody asked me what the students wanted from a lesson. You turned "
        "up, you wrote on the board, and you hoped for the best. These days it's different. My daughter "
        "is fourteen, and she tells me every evening exactly which of her teachers are worth listening "
        "to and which ones aren't. She's usually right, which is annoying. So when people on this panel "
        "say that young people don't care about school, I just don't recognise that. They care a great "
        "deal. What they don't care about is being talked down to. If you give them a real problem, "
        "something from their own town, like the bus timetable or the price of a sandwich at the "
        "station, they'll argue about it for an hour. I've seen it happen. The trick, if there is one, "
        "is to stop pretending you have all the answers and let them find a few of their own."),
    "technical": (
        "Let me explain how the battery in your phone actually wears out. Inside each cell there are two "
        "layers, and lithium ions travel between them every time you charge or use the phone. Each trip "
        "causes a little damage. After about 500 full cycles, a typical battery holds noticeably less "
        "charge than it did when it was new. Heat makes this much worse. If you leave your phone on the dashboard "
        "of a car in July, the temperature inside can pass 45 degrees, and the chemistry ages several "
        "times faster than it would on your desk. Charging habits matter too. Keeping the battery "
        "somewhere in the middle is gentler than letting it run flat and then filling it to the top "
        "every night. Some manufacturers now pause charging overnight by default, and finish the last "
        "part just before you usually wake up. None of this means you should worry about every charge. "
        "A battery is a consumable part, like the tyres on a bicycle, and replacing it after three or "
        "four years is perfectly normal."),
}

# The common numbered variants; named ones (Annie, klatt, ...) on request.
DEFAULT_VARIANTS = ("m1", "m2", "m3", "m4", "m5", "m6", "m7", "m8", "f1", "f2", "f3", "f4", "f5")


def variant_table() -> dict[str, str]:
    """Variant file name -> gender letter, as the pyttsx3 engine lists them."""
    return dict(pyttsx3.variants())


@functools.cache
def english_bases() -> dict[str, str]:
    """espeak-ng's own English voices (not MBROLA) -> gender letter."""
    return dict(sorted((vid, g) for vid, _, _, g in pyttsx3._espeak_voices() if vid.startswith("gmw/en")))


def speak(voice: str, text: str, path: Path) -> None:
    text_file = path.with_suffix(".txt")
    text_file.write_text(text, encoding="utf-8")
    subprocess.run(["espeak-ng", "-v", voice, "-s", str(RATE_WPM), "-g", str(WORD_GAP_MS // 10),
                    "-w", str(path), "-f", str(text_file)], check=True, capture_output=True)


def median_pitch_hz(path: Path) -> float | None:
    """Median F0 of the voiced frames, as `episode verify --quality` measures a speaker."""
    import wave

    import numpy as np

    with wave.open(str(path), "rb") as w:
        rate, samples = w.getframerate(), np.frombuffer(w.readframes(w.getnframes()), dtype="<i2")
    f0 = median_f0_hz(samples.astype(np.float32) / 32768, rate)
    return None if f0 is None else round(f0, 1)


def score(passage: str, heard_words) -> dict:
    """WER as `episode verify` counts it: normalised reference vs. normalised heard words."""
    import jiwer

    ref = " ".join(t.text for t in align.reference_tokens([passage]))
    hyp = " ".join(t.text for t in align.hypothesis_tokens(heard_words))
    result = jiwer.process_words(ref, hyp or "")
    misheard = []
    for chunk in result.alignments[0]:
        r = result.references[0][chunk.ref_start_idx:chunk.ref_end_idx]
        h = result.hypotheses[0][chunk.hyp_start_idx:chunk.hyp_end_idx]
        if chunk.type != "equal":
            misheard.append(f"{' '.join(r) or '-'}>{' '.join(h) or '-'}")
    return {"words": len(result.references[0]), "errors": result.substitutions + result.deletions
            + result.insertions, "misheard": misheard, "heard": " ".join(w.text for w in heard_words)}


def survey(voice: str, workdir: Path) -> dict:
    per = {}
    pitch = None
    for name, text in PASSAGES.items():
        wav = workdir / f"{name}.wav"
        speak(voice, text, wav)
        per[name] = score(text, recognise(wav).words)
        if pitch is None:
            pitch = median_pitch_hz(wav)
    return {"passages": per, "pitch_hz": pitch}


def wer(entry: dict, passage: str | None = None) -> float:
    parts = [entry["passages"][passage]] if passage else entry["passages"].values()
    return sum(p["errors"] for p in parts) / sum(p["words"] for p in parts)


def print_table(results: dict) -> None:
    names = list(PASSAGES)
    head = f"{'rank':>4}  {'voice':<20} {'variant':<8} {'sex':<3} " + " ".join(f"{n:>9}" for n in names) \
        + f" {'overall':>8} {'spread':>7} {'F0 Hz':>6}  most misheard"
    print(head)
    print("-" * len(head))
    ranked = sorted(results.items(), key=lambda kv: (wer(kv[1]), kv[0]))
    for rank, (key, e) in enumerate(ranked, 1):
        per = [wer(e, n) for n in names]
        misheard = Counter(m for p in e["passages"].values() for m in p["misheard"]).most_common(3)
        print(f"{rank:>4}  {e['base']:<20} {e['variant'] or '-':<8} {e['gender']:<3} "
              + " ".join(f"{w:>9.1%}" for w in per)
              + f" {wer(e):>8.1%} {max(per) - min(per):>7.1%} {e['pitch_hz'] or 0:>6.0f}  "
              + "; ".join(m for m, _ in misheard))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--bases", help="comma-separated base voices (default: every gmw/en* voice)")
    parser.add_argument("--variants", help=f"comma-separated variants (default: {','.join(DEFAULT_VARIANTS)})")
    parser.add_argument("--voices", help="comma-separated BASE+VARIANT voices to survey as well "
                        "(e.g. the current defaults: gmw/en-gb-scotland+f2,gmw/en-029+f4)")
    parser.add_argument("--top-bases", type=int, default=4,
                        help="try the variants only on this many bases, the best plain ones (0: on all)")
    parser.add_argument("--json", type=Path, default=ROOT / "output" / "voice_survey.json",
                        help="results file, read to resume and written after each candidate")
    parser.add_argument("--table-only", action="store_true", help="print the table from --json, run nothing")
    args = parser.parse_args()

    results = json.loads(args.json.read_text(encoding="utf-8")) if args.json.exists() else {}
    if not args.table_only:
        bases = english_bases()
        if args.bases:
            wanted = [b.strip() for b in args.bases.split(",")]
            missing = [b for b in wanted if b not in bases]
            if missing:
                sys.exit(f"Error: not an installed espeak-ng English voice: {', '.join(missing)}")
            bases = {b: bases[b] for b in wanted}
        variants = variant_table()
        chosen = [v.strip() for v in args.variants.split(",")] if args.variants else list(DEFAULT_VARIANTS)
        missing = [v for v in chosen if v not in variants]
        if missing:
            sys.exit(f"Error: not an installed espeak-ng variant: {', '.join(missing)}")

        def run(base: str, variant: str) -> None:
            key = f"{base}+{variant}" if variant else base
            if key in results:
                return
            started = time.monotonic()
            with tempfile.TemporaryDirectory() as tmp:
                entry = survey(key, Path(tmp))
            entry.update(base=base, variant=variant,
                         gender=variants[variant] if variant else english_bases()[base])
            results[key] = entry
            args.json.parent.mkdir(parents=True, exist_ok=True)
            partial = args.json.with_suffix(".tmp")
            partial.write_text(json.dumps(results, indent=1), encoding="utf-8")
            partial.replace(args.json)  # never a half-written results file
            print(f"{key:<28} WER {wer(entry):6.1%}  ({time.monotonic() - started:.0f} s)", file=sys.stderr)

        extra = [v.strip().partition("+")[::2] for v in args.voices.split(",")] if args.voices else []
        unknown = [f"{b}+{v}" for b, v in extra if b not in english_bases() or (v and v not in variants)]
        if unknown:
            sys.exit(f"Error: not an installed espeak-ng English voice and variant: {', '.join(unknown)}")
        for base in bases:
            run(base, "")
        plain = sorted(bases, key=lambda b: wer(results[b]))
        for base in plain[:args.top_bases] if args.top_bases else plain:
            for variant in chosen:
                run(base, variant)
        for base, variant in extra:
            run(base, variant)
    print_table(results)
    print(f"\n{len(results)} voices; passages of "
          + ", ".join(f"{n} {len(align.normalise(t))}" for n, t in PASSAGES.items())
          + f" words; {RATE_WPM} wpm, {WORD_GAP_MS} ms word gap; Whisper tiny.en, greedy, as `episode verify`")
    if results:
        print(f"median overall WER {statistics.median(wer(e) for e in results.values()):.1%}")


if __name__ == "__main__":
    main()
