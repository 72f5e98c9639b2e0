"""Stage 5: does the episode say what the transcript says, in order, on time?

The reference is what was rendered (the written transcript, before any
lexicon respelling): given as ``--transcript``, or read from the episode's
own tags (USLT lines, CHAP frames and the render's timeline).  When the
render's word timeline (``STEM.words.json``) is beside the audio, or given,
its word starts are measured against where Whisper heard each word
(``wordtiming``).
"""

from __future__ import annotations

import logging
import statistics
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path

from . import align as al
from .errors import VerifyError
from .outputs.wordtiming import WordTimingResult, measure, read_words
from .transcribe import Recognition, RecognitionOptions, recognise

# The CLI imports this module at start-up for the default thresholds, so the
# tag reader (mutagen, numpy) and jiwer are imported where they are used:
# every `episode render` would otherwise wait about 0.1 s for them.

log = logging.getLogger(__name__)

MISSING_BELOW = 0.3  # of a turn's word trigrams heard anywhere


@dataclass(frozen=True)
class Thresholds:
    # Defaults sit above what the rendered seed scores with tiny.en (7.4%
    # overall, worst turn 15%: one or two words of a 13-word question) and
    # far below what any damage tried scores (a swapped-in transcript: 90%).
    max_wer: float = 0.10
    max_turn_wer: float = 0.35
    max_chapter_drift_ms: int = 1500
    max_deletion_run: int = 10  # consecutive reference words unheard: a stretch is missing
    # |Δ start| of the word timeline against Whisper's word timestamps.  The
    # seed's marks sit on the sound onsets (within a few ms of the end of the
    # silence before each word), and tiny.en hears words a median 78 ms
    # late: it measures a median of 91 ms and a 90th percentile of 212 ms.
    max_word_median_ms: int = 120
    max_word_p90_ms: int = 350


@dataclass(frozen=True)
class RefTurn:
    speaker: str
    text: str
    expected_start_ms: int | None = None


@dataclass(frozen=True)
class RefChapter:
    title: str
    start_ms: int  # from the CHAP frame
    turn_index: int


@dataclass(frozen=True)
class Score:
    words: int
    substitutions: int
    deletions: int
    insertions: int

    @property
    def wer(self) -> float:
        return (self.substitutions + self.deletions + self.insertions) / self.words if self.words else 0.0


@dataclass(frozen=True)
class TurnResult:
    index: int
    speaker: str
    score: Score
    heard_start_ms: int | None
    drift_ms: int | None  # heard start minus the render's start, when known
    heard_fraction: float  # of its word trigrams, heard anywhere
    longest_deletion: int
    status: str  # ok | missing | incomplete | out-of-order | repeated
    text: str


@dataclass(frozen=True)
class ChapterResult:
    index: int
    title: str
    start_ms: int
    heard_start_ms: int | None
    drift_ms: int | None
    score: Score


@dataclass(frozen=True)
class FidelityReport:
    audio: str
    model: str
    normaliser: str
    overall: Score
    speakers: dict[str, Score]
    turns: tuple[TurnResult, ...]
    chapters: tuple[ChapterResult, ...]
    thresholds: Thresholds
    failures: tuple[str, ...] = field(default=())
    notes: tuple[str, ...] = field(default=())
    word_timing: WordTimingResult | None = None  # when a word timeline was given or found

    @property
    def passed(self) -> bool:
        return not self.failures

    def to_json(self) -> dict:
        def score(s: Score) -> dict:
            return {**asdict(s), "wer": round(s.wer, 4)}
        data = asdict(self)
        data["overall"] = score(self.overall)
        data["speakers"] = {k: score(v) for k, v in self.speakers.items()}
        for item, obj in zip(data["turns"], self.turns):
            item["score"] = score(obj.score)
        for item, obj in zip(data["chapters"], self.chapters):
            item["score"] = score(obj.score)
        data["passed"] = self.passed
        return data


def reference_from_transcript(transcript: Path, manifest: Path | None,
                              audio: Path) -> tuple[list[RefTurn], list[RefChapter]]:
    """A transcript given with ``--transcript`` as the reference for *audio*.

    Chapter times come from the MP3's CHAP frames, paired in order with the
    transcript's chapters; turn start times from the render's timeline when
    the MP3 carries one for the same number of turns.
    """
    from .episode import load_episode
    from .outputs.tag import read_chapters, read_timeline

    episode = load_episode(transcript, manifest)
    marks = read_chapters(audio) if Path(audio).is_file() else ()
    timeline = (read_timeline(audio) if Path(audio).is_file() else None) or {}
    marks = _speech_marks(marks, timeline)
    starts = timeline.get("turn_start_ms") or []
    if len(starts) != len(episode.turns):
        starts = [None] * len(episode.turns)
    turns = [RefTurn(episode.speaker(t.speaker_id).name, t.text, s) for t, s in zip(episode.turns, starts)]
    chapters = [RefChapter(m.title, m.start_ms, c.turn_index) for m, c in zip(marks, episode.chapters)]
    return turns, chapters


def reference_from_tags(audio: Path) -> tuple[list[RefTurn], list[RefChapter]]:
    """The transcript and chapters an episode carries in its own tags."""
    from .outputs.tag import read_chapters, read_timeline, read_transcript

    uslt = read_transcript(audio)
    if not uslt:
        raise VerifyError(f"{audio} carries no transcript (USLT); give one with --transcript")
    turns = []
    for line in uslt.splitlines():
        speaker, sep, text = line.partition(": ")
        if sep and text.strip():
            turns.append([speaker.strip(), text.strip()])
        elif turns:
            turns[-1][1] += " " + line.strip()
    timeline = read_timeline(audio) or {}
    starts = timeline.get("turn_start_ms") or [None] * len(turns)
    if len(starts) != len(turns):
        starts = [None] * len(turns)
    ref_turns = [RefTurn(s, t, start) for (s, t), start in zip(turns, starts)]
    marks = _speech_marks(read_chapters(audio), timeline)
    chapter_turns = [t for t in timeline.get("chapter_turns") or [] if t is not None]
    if not chapter_turns or len(chapter_turns) != len(marks):
        chapter_turns = _turns_at(marks, starts) if all(x is not None for x in starts) else None
    chapters = [RefChapter(m.title, m.start_ms, t) for m, t in zip(marks, chapter_turns or [])]
    return ref_turns, chapters


def _speech_marks(marks, timeline: dict) -> tuple:
    """The chapters that start with speech: without the music's ("Intro", "Outro"), which no words begin."""
    music = set((timeline.get("sound") or {}).get("music_chapters", ()))
    return tuple(m for n, m in enumerate(marks) if n not in music)


def _turns_at(marks, starts) -> list[int]:
    return [max([i for i, s in enumerate(starts) if s <= m.start_ms + 1000] or [0]) for m in marks]


def _score(indices: Sequence[int], a: al.Alignment) -> Score:
    subs = sum(1 for i in indices if a.ref_to_hyp[i] is not None and not a.correct[i])
    dels = sum(1 for i in indices if a.ref_to_hyp[i] is None)
    ins = sum(a.insertions_after[i] for i in indices) + (a.insertions_before_first if 0 in indices else 0)
    return Score(len(indices), subs, dels, ins)


def _heard_start(indices: Sequence[int], a: al.Alignment) -> int | None:
    """When the turn's first words are heard, if one of its first four was heard right.

    A misheard word before it still marks where the turn began ("Part of
    this" heard as "how this" starts at "how", not 0.7 s later at "this").
    """
    first = indices[:4]
    if not any(a.correct[i] for i in first):
        return None
    i = next(i for i in first if a.ref_to_hyp[i] is not None)
    return a.hyp[a.ref_to_hyp[i]].start_ms


def _longest_deletion(indices: Sequence[int], a: al.Alignment) -> int:
    best = run = 0
    for i in indices:
        run = run + 1 if a.ref_to_hyp[i] is None else 0
        best = max(best, run)
    return best


def evaluate(turns: Sequence[RefTurn], chapters: Sequence[RefChapter], heard: Recognition,
             thresholds: Thresholds = Thresholds(), audio: str = "",
             word_timing: WordTimingResult | None = None) -> FidelityReport:
    """Score *heard* against the reference turns and chapters (and *word_timing*, measured on it)."""
    import jiwer

    ref = al.reference_tokens([t.text for t in turns])
    if not ref:
        raise VerifyError("the reference transcript has no words")
    hyp = al.hypothesis_tokens(heard.words)
    a = al.align(ref, hyp)
    hyp_words = [h.text for h in hyp]
    by_turn: dict[int, list[int]] = {}
    for i, tok in enumerate(ref):
        by_turn.setdefault(tok.turn_index, []).append(i)

    located: dict[int, float] = {}
    results = []
    for index, turn in enumerate(turns):
        idx = by_turn.get(index, [])
        score = _score(idx, a)
        fraction, positions = al.locate([ref[i].text for i in idx], hyp_words)
        start = _heard_start(idx, a)
        drift = start - turn.expected_start_ms if start is not None and turn.expected_start_ms is not None else None
        longest = _longest_deletion(idx, a)
        # "missing" is judged order-free: a turn the global alignment deleted
        # but whose words are heard elsewhere has moved, not gone.
        status = "missing" if idx and fraction < MISSING_BELOW else "ok"
        if positions and status == "ok":
            located[index] = statistics.median(positions)
        results.append([index, turn.speaker, score, start, drift, fraction, longest, status, turn.text])
    order_keys = sorted(located)
    in_order = al.longest_increasing([located[i] for i in order_keys])
    for k, index in enumerate(order_keys):
        if k not in in_order and results[index][7] == "ok":
            results[index][7] = "out-of-order"
    for index, turn in enumerate(turns):
        idx = by_turn.get(index, [])
        if results[index][7] != "ok":
            continue
        if results[index][6] > thresholds.max_deletion_run:
            results[index][7] = "incomplete"
        elif len(idx) >= 6 and _heard_twice([ref[i].text for i in idx], hyp_words):
            results[index][7] = "repeated"
    turn_results = tuple(TurnResult(*r) for r in results)

    chapter_results = []
    for n, ch in enumerate(chapters):
        last = chapters[n + 1].turn_index if n + 1 < len(chapters) else len(turns)
        idx = [i for t in range(ch.turn_index, last) for i in by_turn.get(t, [])]
        heard_start = _heard_start(by_turn.get(ch.turn_index, []), a)
        drift = heard_start - ch.start_ms if heard_start is not None else None
        chapter_results.append(ChapterResult(n, ch.title, ch.start_ms, heard_start, drift, _score(idx, a)))

    speakers: dict[str, list[int]] = {}
    for index, turn in enumerate(turns):
        speakers.setdefault(turn.speaker, []).extend(by_turn.get(index, []))
    overall = jiwer.process_words(" ".join(r.text for r in ref), " ".join(hyp_words) or "")
    overall_score = Score(len(ref), overall.substitutions, overall.deletions, overall.insertions)
    notes = [] if chapters else ["the audio has no chapters: chapter timing not checked"]
    if word_timing is None:
        notes.append("no word timeline (STEM.words.json or --words): word timing not checked")
    report = FidelityReport(
        audio=audio, model=heard.model, normaliser=al.NORMALISER, overall=overall_score,
        speakers={name: _score(idx, a) for name, idx in speakers.items()},
        turns=turn_results, chapters=tuple(chapter_results), thresholds=thresholds, notes=tuple(notes),
        word_timing=word_timing)
    return _judge(report)


def _heard_twice(tokens: Sequence[str], hyp_words: Sequence[str], n: int = 3) -> bool:
    grams = {tuple(tokens[i:i + n]) for i in range(len(tokens) - n + 1)}
    hits = [i for i in range(len(hyp_words) - n + 1) if tuple(hyp_words[i:i + n]) in grams]
    if len(hits) < 2:
        return False
    gap = max(len(tokens) * 2, 20)
    clusters = [[hits[0]]]
    for h in hits[1:]:
        if h - clusters[-1][-1] > gap:
            clusters.append([])
        clusters[-1].append(h)
    big = [c for c in clusters if len(c) >= 0.5 * len(grams)]
    return len(big) >= 2


def _judge(report: FidelityReport) -> FidelityReport:
    t = report.thresholds
    failures = []
    if report.overall.wer > t.max_wer:
        failures.append(f"overall WER {report.overall.wer:.1%} is over {t.max_wer:.0%}")
    worst = max(report.turns, key=lambda r: r.score.wer)
    if worst.score.wer > t.max_turn_wer:
        failures.append(f"turn {worst.index + 1} ({worst.speaker}) WER {worst.score.wer:.1%} is over {t.max_turn_wer:.0%}")
    for status in ("missing", "incomplete", "out-of-order", "repeated"):
        bad = [str(r.index + 1) for r in report.turns if r.status == status]
        if bad:
            failures.append(f"turn(s) {', '.join(bad)} {status}")
    drifts = [c for c in report.chapters if c.drift_ms is not None]
    if drifts:
        far = max(drifts, key=lambda c: abs(c.drift_ms))
        if abs(far.drift_ms) > t.max_chapter_drift_ms:
            failures.append(f"chapter {far.index + 1} starts {far.drift_ms:+d} ms from its first words "
                            f"(limit {t.max_chapter_drift_ms} ms)")
    unheard = [str(c.index + 1) for c in report.chapters if c.drift_ms is None]
    if unheard:
        failures.append(f"chapter(s) {', '.join(unheard)}: first words not heard")
    failures += _judge_words(report.word_timing, t)
    return FidelityReport(**{**report.__dict__, "failures": tuple(failures)})


def _judge_words(timing: WordTimingResult | None, t: Thresholds) -> list[str]:
    if timing is None:
        return []
    if timing.median_ms is None:
        return [f"word timing: no word of {timing.source} was heard"]
    out = []
    if timing.median_ms > t.max_word_median_ms:
        out.append(f"word starts are a median {timing.median_ms} ms from where they are heard "
                   f"(limit {t.max_word_median_ms} ms)")
    if timing.p90_ms > t.max_word_p90_ms:
        out.append(f"word starts are {timing.p90_ms} ms from where they are heard at the 90th percentile "
                   f"(limit {t.max_word_p90_ms} ms)")
    return out


def verify(audio: Path, reference: tuple[list[RefTurn], list[RefChapter]] | None = None, *,
           model: str | None = None, thresholds: Thresholds = Thresholds(),
           options: RecognitionOptions = RecognitionOptions(), words: Path | None = None,
           samples=None) -> FidelityReport:
    """Transcribe *audio* and score it against *reference* (default: its own tags).

    *words* is the render's word timeline; by default ``STEM.words.json``
    beside the audio, when there is one.  *samples* are the audio decoded
    (transcribe.decode_16k), when the caller has them.
    """
    audio = Path(audio)
    if not audio.is_file():
        raise VerifyError(f"audio not found: {audio}")
    turns, chapters = reference if reference is not None else reference_from_tags(audio)
    if words is None and audio.with_suffix(".words.json").is_file():
        words = audio.with_suffix(".words.json")
    timeline = read_words(words) if words is not None else None  # a bad file fails before Whisper runs
    heard = recognise(audio, model, options, samples)
    timing = measure(timeline, heard, source=str(words)) if timeline is not None else None
    return evaluate(turns, chapters, heard, thresholds, audio=str(audio), word_timing=timing)
