"""The hibari engine: small neural voices distilled from Kokoro-82M (PyPI ``hibari-tts``).

Only the voice ``heart`` (US female, 24 kHz) ships inside the wheel; the
others download on first use, so a render refuses them unless they are in
hibari's cache already.  Its ``[word](/phonemes/)`` markup speaks
pronunciations from the lexicon.

The model is patched in memory to output each phoneme's duration, from
which each word's first sample is known: hibari's tokens keep the text
they came from, so the mapping from words to phonemes is exact.  The noise
component is seeded per sentence.
"""

from __future__ import annotations

import functools
import importlib.util
import json
import os
import sys
from importlib import metadata
from pathlib import Path

from .. import tools
from ..errors import SynthesisError, VoiceError
from . import VoiceInfo, WorkCost, file_sha256, require_packages
from .clip import VoiceWorker, aligned_marks, spoken_words

NAME = "hibari"
LICENCE = "Apache-2.0 (hibari-tts, its voices distilled from Kokoro-82M, Apache-2.0)"
SETTINGS = ("speed", "pitch_st")
VERSION = 2  # bump when this module changes how it speaks (invalidates cached clips)
COST = WorkCost(load_ms=600, per_char_ms=0.45)  # ms of one core (`python -m audio.engines.worker`, this machine)
NOISE_SEED = 0
SAMPLE_RATE_HZ = 24000
SAMPLES_PER_DURATION = 600  # one duration unit is two decoder frames of 300 samples (25 ms)
MAX_PHONEMES = 400  # hibari's own limit per model call; longer sentences are cut at a clause
PATCH_VERSION = 1  # bump when _patched changes (makes the kept model again)
_DURATIONS = "/Cast_32_output_0"  # the integer duration per phoneme id, before the decoder expands them
_PACKAGES = {"hibari": "hibari-tts", "onnxruntime": "onnxruntime", "onnx": "onnx"}


# ---------------------------------------------------------------- the rendering side

def _package_dir() -> Path | None:
    spec = importlib.util.find_spec("hibari")
    return Path(next(iter(spec.submodule_search_locations))) if spec and spec.submodule_search_locations else None


@functools.cache
def _registry() -> dict:
    """hibari's voice registry, read without importing hibari (which loads numpy and scipy)."""
    root = _package_dir()
    if root is None:
        return {}
    return json.loads((root / "assets" / "voices.json").read_text(encoding="utf-8"))


def _cache_dir() -> Path:
    """Where hibari keeps downloaded voices (hibari.voices.cache_dir, for Linux and macOS)."""
    if os.environ.get("HIBARI_HOME"):
        return Path(os.environ["HIBARI_HOME"])
    if sys.platform == "darwin":
        return Path.home() / "Library" / "Caches" / "hibari"
    return Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "hibari"


def model_path(voice_id: str) -> Path | None:
    """The voice's model file if it is on this machine, else None."""
    entry = _registry().get(voice_id)
    if entry is None:
        return None
    if entry.get("bundled"):
        return _package_dir() / "assets" / entry["file"]
    cached = _cache_dir() / entry["file"]
    return cached if cached.is_file() else None


def voices() -> list[VoiceInfo]:
    out = []
    for vid, entry in _registry().items():
        installed = model_path(vid) is not None
        where = "PyPI hibari-tts (in the wheel)" if entry.get("bundled") else \
            ("hibari's cache" if installed else "download on first use (refused offline)")
        out.append(VoiceInfo(NAME, vid, entry["language"], entry["accent"], entry["gender"], SAMPLE_RATE_HZ,
                             LICENCE, installed, where))
    return out


def check(voice_id: str) -> None:
    require_packages(NAME, _PACKAGES)
    if voice_id not in _registry():
        raise VoiceError(f"voice hibari:{voice_id} is unknown (hibari voices: {', '.join(_registry())})")
    if model_path(voice_id) is None:
        raise VoiceError(f"voice hibari:{voice_id} would need a download, and episode never downloads voices "
                         f"during a render (installed: {', '.join(v for v in _registry() if model_path(v))})")


@functools.cache
def _vocab() -> frozenset[str]:
    root = _package_dir()
    return frozenset(json.loads((root / "assets" / "vocab.json").read_text(encoding="utf-8"))) if root else frozenset()


def phonemes(word: str, ipa: str) -> str:
    """A pronunciation in IPA as hibari's ``[word](/phonemes/)`` markup."""
    from .ipa import to_misaki

    return f"[{word}](/{to_misaki(word, ipa, _vocab())}/)"


def fingerprint(voice_id: str) -> str:  # (not cached: file_sha256 sees a model file change)
    path = model_path(voice_id)
    if path is None:
        check(voice_id)
    # the noise and the inverse STFT run in numpy or scipy (hibari.dsp picks
    # scipy.fft when it is there), so which one is part of what the sound depends on
    fft = "scipy" if importlib.util.find_spec("scipy") else "numpy"
    return (f"v{VERSION}/hibari-tts-{metadata.version('hibari-tts')}/onnxruntime-{metadata.version('onnxruntime')}"
            f"/fft-{fft}/model-{file_sha256(path)[:16]}")


# ---------------------------------------------------------------- the worker side

def _patched(path: Path) -> bytes:
    """The voice's model with each phoneme's duration as an output too."""
    import onnx

    model = onnx.load(str(path))
    output = onnx.helper.ValueInfoProto()
    output.name = _DURATIONS
    model.graph.output.append(output)
    return model.SerializeToString()


def patched_model(path: Path) -> Path | bytes:
    """The patched model, kept once per voice file (importing onnx to patch it took 0.6 s of each
    worker's start); its bytes if it cannot be kept."""
    made: list[bytes] = []

    def make(dest: Path) -> None:
        made.append(_patched(path))
        dest.write_bytes(made[0])

    kept = tools.kept_model(path, "hibari", str(PATCH_VERSION), make)
    return kept if kept is not None else made[0] if made else _patched(path)


class _Voice:
    def __init__(self, voice_id: str, threads: int) -> None:
        from hibari import Hibari

        path = model_path(voice_id)
        if path is None:
            raise VoiceError(f"voice hibari:{voice_id} is not on this machine")
        model = patched_model(path)
        # model= keeps Hibari from looking the voice up (and so from downloading); given the patched
        # model (onnxruntime takes a path or bytes), it makes the one session.  *threads* is one:
        # the workers already run one per core, and a fixed thread count keeps the arithmetic (and so
        # the clip) the same on every machine.
        self.tts = Hibari(voice=voice_id, model=str(model) if isinstance(model, Path) else model, threads=threads)

    def tokens(self, text: str):
        from hibari.g2p.normalize import normalize

        g2p = self.tts.g2p
        return g2p.phonemize_tokens(g2p.tokenize(normalize(text)))

    def speak(self, text: str, speed: float) -> tuple[object, list[tuple[str, int]]]:
        """Audio of *text* and (token text, first sample) of each token that is said."""
        import numpy as np
        from hibari import dsp

        tokens = [tk for tk in self.tokens(text)]
        pieces, starts, offset = [], [], 0
        for n, chunk in enumerate(_chunks(tokens)):
            phonemes, spans = "", []
            for tk in chunk:
                spans.append((tk, len(phonemes)))
                phonemes += (tk.phonemes or "") + (" " if tk.whitespace else "")
            phonemes = phonemes.strip()
            vocab = self.tts.vocab
            kept = [i for i, c in enumerate(phonemes) if c in vocab]
            ids = [0, *[vocab[phonemes[i]] for i in kept], 0]
            if len(ids) < 3:
                continue
            out = self.tts.sess.run(None, {"ids": np.asarray([ids], np.int64),
                                           "speed": np.asarray([speed], np.float32)})
            lh, th, ln, lr, phi, f0 = (o[0] for o in out[:6])
            durations = np.asarray(out[6]).reshape(-1).astype(np.int64)
            if len(durations) != len(ids):
                raise SynthesisError(f"hibari gave {len(durations)} durations for {len(ids)} phoneme ids")
            audio = dsp.synth(lh, th, ln, lr, phi, f0, np.random.default_rng([NOISE_SEED, n]))
            before = np.concatenate([[0], np.cumsum(durations)]) * SAMPLES_PER_DURATION
            id_of_char = {char: k + 1 for k, char in enumerate(kept)}  # +1: the leading pad
            for tk, at in spans:
                if not tk.phonemes or not any(c.isalpha() for c in tk.phonemes):
                    continue
                first = next((id_of_char[i] for i in range(at, at + len(tk.phonemes)) if i in id_of_char), None)
                if first is not None:
                    starts.append((tk.text, offset + int(min(before[first], len(audio)))))
            pieces.append(np.asarray(audio, dtype=np.float32))
            offset += len(pieces[-1])
        audio = np.concatenate(pieces) if pieces else np.zeros(0, np.float32)
        return np.clip(audio, -1.0, 1.0), starts


def _chunks(tokens):
    """Tokens in runs of at most MAX_PHONEMES phoneme characters, cut after clause punctuation."""
    run, size, cut = [], 0, None
    for tk in tokens:
        run.append(tk)
        size += len(tk.phonemes or "") + 1
        if tk.phonemes in (",", ";", ":", "—"):
            cut = len(run)
        if size > MAX_PHONEMES and cut:
            yield run[:cut]
            run, cut = run[cut:], None
            size = sum(len(t.phonemes or "") + 1 for t in run)
    if run:
        yield run


def _letters(s: str) -> str:
    return "".join(c for c in s.casefold() if c.isalnum())


def word_marks(text: str, said: list[tuple[str, int]]) -> list[tuple[int, int]]:
    """(character offset, first sample) of each word of *text*, from the tokens that were said.

    hibari's tokens keep the text they came from, so words and tokens are
    aligned by their letters (its normaliser may say "3:30" as "three thirty").
    """
    return aligned_marks(text, [_letters(w) for _, w in spoken_words(text)],
                         [(c, sample) for token, sample in said for c in _letters(token)])


class Worker(VoiceWorker):
    """Speaks jobs in the worker process; each voice is loaded once."""

    engine = "hibari"
    warm_up_text = "Hello."  # its sentences are seeded one by one (NOISE_SEED), so this changes none

    def load(self, voice_id: str) -> _Voice:
        return _Voice(voice_id, self.threads)

    def say(self, voice: _Voice, text: str, speed: float):
        audio, said = voice.speak(text, speed)
        return audio, SAMPLE_RATE_HZ, word_marks(text, said)
