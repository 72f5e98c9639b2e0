#!/usr/bin/env python3
"""Try pronunciations for the lexicon: which one does Whisper hear as the word, per engine?

Each probe puts a word, said several ways, in a carrier sentence, speaks it
with every voice of a manifest through the render's own speech stage (the
engine workers, each speaker's settings) and transcribes it as `episode
verify` does; a variant scores one point per voice whose transcript contains
the target word.  A variant is a respelling, or IPA between slashes
(``/zəˈliːn/``), which each engine is given in its own phonemes.  Entries
are per engine (``[lexicon.ENGINE]``), so probe each engine's voices:
``--engine piper`` speaks with the voices `episode render --engine piper`
would use.

Run: .venv/bin/python scripts/lexicon_probe.py probes.json [--manifest seeds/flashpoint-iran-zelin.toml] [--engine E]
probes.json: [{"carrier": "The leaders of {} said so.", "target": "Iran", "variants": ["Iran", "Ee-rahn", "/ɪˈɹɑːn/"]}]
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from audio import align, engines  # noqa: E402
from audio.manifest import load_manifest  # noqa: E402
from audio.speak import SpeechJob, Synthesizer  # noqa: E402
from audio.transcribe import recognise  # noqa: E402
from audio.voices import assign_default_voices  # noqa: E402


def said(variant: str, target: str, engine: str) -> str:
    """What the engine is given for one variant."""
    if len(variant) > 2 and variant.startswith("/") and variant.endswith("/"):
        return engines.engine(engine).phonemes(target, variant[1:-1])
    return variant


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("probes", type=Path)
    parser.add_argument("--manifest", type=Path, default=ROOT / "seeds" / "flashpoint-iran-zelin.toml")
    parser.add_argument("--engine", choices=engines.ENGINES, help="speak with this engine's voices")
    args = parser.parse_args()
    man = load_manifest(args.manifest)
    speakers = assign_default_voices(man.speakers, args.engine) if args.engine else man.speakers
    probes = json.loads(args.probes.read_text(encoding="utf-8"))
    jobs = []
    for probe in probes:
        for variant in probe["variants"]:
            for s in speakers:
                engine = engines.parse_voice(s.voice).engine
                text = probe["carrier"].replace("{}", said(variant, probe["target"], engine))
                jobs.append(SpeechJob(text, engines.canonical(s.voice), s.rate_wpm, s.word_gap_ms, s.speed,
                                      s.pitch_st))
    print("voices: " + ", ".join(f"{s.id}={engines.canonical(s.voice)}" for s in speakers))
    with Synthesizer() as synth:  # a private clip folder, removed afterwards
        clips = iter(synth.synthesise(jobs))
        for probe in probes:
            want = align.normalise(probe["target"])
            for variant in probe["variants"]:
                heard_by = []
                for _ in speakers:
                    heard = recognise(next(clips)).text
                    heard_by.append((all(w in align.normalise(heard) for w in want), heard))
                score = sum(ok for ok, _ in heard_by)
                print(f"{probe['target']:<14} {variant:<22} {score}/{len(speakers)}  "
                      + " | ".join(h for _, h in heard_by))


if __name__ == "__main__":
    main()
