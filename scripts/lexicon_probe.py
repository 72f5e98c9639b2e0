#!/usr/bin/env python3
"""Try respellings for the lexicon: which one does Whisper hear as the word?

Each probe puts a word, spelled several ways, in a carrier sentence, speaks it
with every voice of a manifest through the render's own speech stage (the
pyttsx3 worker, the manifest's rate and word gap) and transcribes it as
`episode verify` does; a spelling scores one point per voice whose
transcript contains the target word.

Run: .venv/bin/python scripts/lexicon_probe.py probes.json [--manifest seeds/flashpoint-iran-zelin.toml]
probes.json: [{"carrier": "The leaders of {} said so.", "target": "Iran", "variants": ["Iran", "Ee-rahn"]}]
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from audio import align  # noqa: E402
from audio.manifest import load_manifest  # noqa: E402
from audio.speak import SpeechJob, Synthesizer  # noqa: E402
from audio.transcribe import recognise  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("probes", type=Path)
    parser.add_argument("--manifest", type=Path, default=ROOT / "seeds" / "flashpoint-iran-zelin.toml")
    args = parser.parse_args()
    speakers = load_manifest(args.manifest).speakers
    probes = json.loads(args.probes.read_text(encoding="utf-8"))
    jobs = [SpeechJob(probe["carrier"].replace("{}", variant), s.voice, s.rate_wpm, s.word_gap_ms)
            for probe in probes for variant in probe["variants"] for s in speakers]
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
                print(f"{probe['target']:<14} {variant:<20} {score}/{len(speakers)}  "
                      + " | ".join(h for _, h in heard_by))


if __name__ == "__main__":
    main()
