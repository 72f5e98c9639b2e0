#!/usr/bin/env python3
"""Try respellings for the lexicon: which one does Whisper hear as the word?

Each probe puts a word, spelled several ways, in a carrier sentence, speaks it
with every voice of a manifest (espeak-ng, the manifest's rate and word gap)
and transcribes it with the default Whisper model; a spelling scores one point
per voice whose transcript contains the target word.

Run: .venv/bin/python scripts/lexicon_probe.py probes.json [--manifest seeds/flashpoint-iran-zelin.toml]
probes.json: [{"carrier": "The leaders of {} said so.", "target": "Iran", "variants": ["Iran", "Ee-rahn"]}]
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from audio import align  # noqa: E402
from audio.manifest import load_manifest  # noqa: E402
from audio.transcribe import load_model, resolve_model  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("probes", type=Path)
    parser.add_argument("--manifest", type=Path, default=ROOT / "seeds" / "flashpoint-iran-zelin.toml")
    args = parser.parse_args()
    speakers = load_manifest(args.manifest).speakers
    model = load_model(resolve_model(None))
    with tempfile.TemporaryDirectory() as tmp:
        wav = Path(tmp, "probe.wav")
        for probe in json.loads(args.probes.read_text(encoding="utf-8")):
            want = align.normalise(probe["target"])
            for variant in probe["variants"]:
                heard_by = []
                for s in speakers:
                    subprocess.run(["espeak-ng", "-v", s.voice, "-s", str(s.rate_wpm), "-g",
                                    str(round(s.word_gap_ms / 10)), "-w", str(wav),
                                    probe["carrier"].replace("{}", variant)], check=True)
                    segments, _ = model.transcribe(str(wav), language="en", beam_size=1)
                    heard = " ".join(seg.text for seg in segments).strip()
                    tokens = align.normalise(heard)
                    heard_by.append((all(w in tokens for w in want), heard))
                score = sum(ok for ok, _ in heard_by)
                print(f"{probe['target']:<14} {variant:<20} {score}/{len(speakers)}  "
                      + " | ".join(h for _, h in heard_by))


if __name__ == "__main__":
    main()
