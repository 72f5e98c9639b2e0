"""Where each sound goes on the timeline: the room it takes before speech, its place after it.

Two steps, either side of speech:

1. :func:`layout`, from the transcript and the ``[sound]`` table alone
   (before anything is spoken, so that :mod:`audio.precheck` refuses what
   cannot play): which sounds are *spliced* into a pause (a stinger at each
   chapter start after the first, the sound each transcript cue is given)
   and how long that pause must become, how far the first word moves for
   the intro's ``lead_s``, how much silence the outro needs after the last
   word.  The assembly makes that room (``assemble(room_ms=, tail_ms=)``).
2. :func:`place`, once the assembly knows where every sentence sounds:
   each sound's first sample, its level and its gain envelope.

Levels: each file is measured (BS.1770) over what plays of it and given
the episode's loudness target plus its ``gain_db``.  A bed (the intro after
its lead, an outro under the last turn) is ducked under speech so that its
loudest 400 ms stays ``duck_db`` plus a margin under the target the speech
is levelled to; spliced sounds never sound under speech and are not
ducked.  A cue at the very start or end of the transcript, where the
intro or the outro plays, is that intro or outro: it is not played twice.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import TYPE_CHECKING

from ..assemble import CHAPTER_LEAD_MS, TAIL_MS
from ..errors import InputError
from .settings import Music, SoundSettings

if TYPE_CHECKING:
    import numpy as np

    from ..assemble import Assembly
    from ..episode import Episode

log = logging.getLogger(__name__)

MAX_SPLICED_S = 600.0  # a stinger or a cue's sound longer than 10 minutes is not a stinger
SPLICE_BEFORE_MS = 600  # silence between the speech before a spliced sound and the sound
SPLICE_AFTER_MS = 700  # and after it: both more than the 500 ms Whisper's VAD needs to part it from the speech
SPLICE_BETWEEN_MS = 200  # between two sounds spliced at one place
OUTRO_GAP_MS = 300  # an outro after the last turn starts under the bed's rise after the last word
OUTRO_TAIL_MS = 500  # silence after the last sound
OUTRO_RISE_S = 3.0  # under the last turn, at least this much of the outro plays at full level after it
OUTRO_FADE_IN_MS = 1000  # an outro entering under the last turn fades in, already ducked
CLICK_MS = 10  # every sound starts and ends with a fade this long, so that no edge clicks
# The bed's loudest 400 ms sits this far under the speech's target beyond duck_db: the speech's
# own 400 ms windows fall a few dB under its integrated loudness at the ends of words and sentences.
DUCK_MARGIN_DB = 6.0


@dataclass(frozen=True)
class Splice:
    boundary: int  # the sound plays in the pause before this sentence (by index; len(sentences): after the last)
    music: Music
    what: str  # "stinger", "cue (music) on line 12"


@dataclass(frozen=True)
class Layout:
    settings: SoundSettings
    seconds: tuple[tuple[Path, float], ...]  # each file's length, decoded
    splices: tuple[Splice, ...]
    room_ms: tuple[tuple[int, int], ...]  # sentence index -> the pause it needs before it
    tail_ms: int  # silence the assembly leaves after the last word

    def played_s(self, music: Music) -> float:
        whole = dict(self.seconds)[music.path]
        return min(whole, music.length_s) if music.length_s else whole


@dataclass(frozen=True)
class Placed:
    what: str
    start: int  # first sample on the assembled timeline
    samples: np.ndarray  # float32: level, fades and envelope applied; added to the levelled speech
    bed: bool  # ducked under speech


@dataclass(frozen=True)
class Placement:
    placed: tuple[Placed, ...]
    rate_hz: int
    end: int  # the timeline's length, in samples
    intro: tuple[int, int] | None = None  # (first sample, first word) of the intro
    outro: int | None = None  # where the outro plays on its own, if there is one
    duck_db: float = 0.0


def _sentence_index(episode: Episode) -> dict[tuple[int, int], int]:
    out, n = {}, 0
    for turn in episode.turns:
        for s in range(len(turn.sentences)):
            out[(turn.index, s)] = n
            n += 1
    return out


def _check_references(settings: SoundSettings, where: str) -> None:
    for kind, value in settings.cues:
        if isinstance(value, str) and getattr(settings, value) is None:
            raise InputError(f"{where} cues: {kind} = {value!r}, but [sound] has no {value}")


def layout(episode: Episode) -> Layout:
    """What plays where and the room it needs; refuses, before speech, what cannot play."""
    from .music import probe

    settings = episode.manifest.sound
    where = "[sound]"
    _check_references(settings, where)
    given = dict(settings.cues)
    if settings.cues:  # a cues table must say what each kind the transcript marks plays
        for cue in episode.cues:
            if cue.kind not in given:
                raise InputError(f"line {cue.line_no}: {cue.text} is a {cue.kind!r} cue, and {where} cues gives "
                                 f"{cue.kind!r} no sound (give cues.{cue.kind} = \"FILE\", or \"\" for none)")
    seconds: dict[Path, float] = {}
    for what, music in settings.files():
        seconds[music.path] = probe(music.path, f"{where} {what}").seconds
    lay = Layout(settings, tuple(seconds.items()), (), (), 0)
    intro, outro = settings.intro, settings.outro
    if intro and seconds[intro.music.path] < intro.lead_s:
        raise InputError(f"{where} intro: {intro.music.path} lasts {seconds[intro.music.path]:.1f} s, shorter than "
                         f"its lead_s {intro.lead_s:g}")
    index = _sentence_index(episode)
    last = len(index)
    splices: list[Splice] = []
    if settings.stinger:
        for chapter in episode.chapters[1:]:
            splices.append(Splice(index[(chapter.turn_index, 0)], settings.stinger, "stinger"))
    for cue in episode.cues:
        music = settings.cue_sound(cue.kind)
        boundary = last if cue.turn_index >= len(episode.turns) else index[(cue.turn_index, cue.sentence_index)]
        if music is None or boundary == 0 and intro or boundary == last and outro:
            continue
        splices.append(Splice(boundary, music, f"cue ({cue.kind}) on line {cue.line_no}"))
    spliced = [("stinger", settings.stinger)] * bool(settings.stinger) + [
        (f"cues.{kind}", settings.cue_sound(kind)) for kind, _ in settings.cues if settings.cue_sound(kind)]
    for what, music in spliced:  # whether this episode plays them or not: the table is wrong
        if lay.played_s(music) > MAX_SPLICED_S:
            raise InputError(f"{where} {what}: {music.path} lasts {_minutes(seconds[music.path])}, longer than "
                             "the 10 minutes a spliced sound may last")
    splices.sort(key=lambda s: s.boundary)  # (stable: a chapter's stinger before its cues)
    room: dict[int, int] = {}
    for boundary in sorted({s.boundary for s in splices}):
        here = [s for s in splices if s.boundary == boundary]
        room[boundary] = (SPLICE_BEFORE_MS + SPLICE_AFTER_MS + SPLICE_BETWEEN_MS * (len(here) - 1)
                          + sum(_ms_up(lay.played_s(s.music)) for s in here))
    tail = room.pop(last, 0)
    tail_ms = max(TAIL_MS, tail - SPLICE_AFTER_MS + TAIL_MS) if tail else TAIL_MS
    if intro:
        room[0] = max(room.get(0, 0), round(intro.lead_s * 1000))
    if outro:
        length = _ms_up(lay.played_s(outro.music))
        # under the last turn, how much plays after its last word is known once it is spoken: room for all of it
        tail_ms = max(tail_ms, length + OUTRO_TAIL_MS + (TAIL_MS if outro.under_last_turn else OUTRO_GAP_MS))
    return replace(lay, splices=tuple(splices), room_ms=tuple(sorted(room.items())), tail_ms=tail_ms)


def describe(lay: Layout, episode: Episode) -> list[str]:
    """What ``episode inspect`` says of the music: each sound, how long it plays and where, before speech."""
    settings = lay.settings
    turn_of = {n: key for key, n in _sentence_index(episode).items()}

    def sound(music: Music) -> str:
        gain = f", {music.gain_db:+g} dB" if music.gain_db else ""
        return f"{_shown(music.path)} ({lay.played_s(music):.1f} s{gain})"

    lines = [f"Music (ducked {settings.duck_db:g} dB under speech):"]
    if intro := settings.intro:
        bed = f", then {intro.bed_s:g} s under the opening as a bed" if intro.bed_s else ""
        lines.append(f"  intro: {sound(intro.music)}, {intro.lead_s:g} s before the first word{bed}")
    for splice in lay.splices:
        if splice.boundary not in turn_of:
            where = "after the last turn"
        else:
            turn, sentence = turn_of[splice.boundary]
            where = f"before turn {turn + 1}" + (f", sentence {sentence + 1}" if sentence else "")
            chapter = next((c for c in episode.chapters if c.turn_index == turn and not sentence), None)
            where += f" (chapter {chapter.index + 1}, {chapter.title})" if chapter else ""
        lines.append(f"  {splice.what}: {sound(splice.music)}, {where}")
    if outro := settings.outro:
        lines.append(f"  outro: {sound(outro.music)}, "
                     + ("under the last turn, then on its own" if outro.under_last_turn else "after the last turn"))
    return lines


def _shown(path: Path) -> str:
    """A path relative to the working folder when it is under it, as the user would type it."""
    try:
        return str(path.resolve().relative_to(Path.cwd().resolve()))
    except ValueError:
        return str(path)


def _ms_up(seconds: float) -> int:
    return math.ceil(seconds * 1000) + 5  # (resampling may add a sample or two)


def _minutes(seconds: float) -> str:
    return f"{int(seconds // 60)}:{int(seconds % 60):02d}"


def _levels(x: np.ndarray, rate_hz: int) -> tuple[float, float]:
    """Integrated loudness and the loudest 400 ms block (LUFS) of *x*."""
    import numpy as np

    from ..loudness import LoudnessMeter, integrated_from_energies

    meter = LoudnessMeter(rate_hz, true_peak=False)
    meter.add(x)
    energies = meter.energy_blocks()
    integrated = integrated_from_energies(energies, rate_hz)
    if len(energies) < 4:
        return integrated, integrated
    blocks = np.convolve(energies, np.ones(4), "valid") / (4 * meter.hop)
    return integrated, -0.691 + 10 * math.log10(max(float(blocks.max()), 1e-20))


def _fade(n: int, fade_in: int, fade_out: int) -> np.ndarray:
    import numpy as np

    curve = np.ones(n, np.float32)
    fade_in, fade_out = min(fade_in, n), min(fade_out, n)
    if fade_in:
        curve[:fade_in] *= np.linspace(0.0, 1.0, fade_in, endpoint=False, dtype=np.float32)
    if fade_out:
        curve[n - fade_out:] *= np.linspace(1.0, 0.0, fade_out, dtype=np.float32)
    return curve


def place(lay: Layout, assembly: Assembly, target_lufs: float) -> Placement:
    """Each sound's samples and first sample on the assembled timeline."""
    from . import duck
    from .music import decode

    settings, rate = lay.settings, assembly.rate_hz
    spans = assembly.spans
    ducking = duck.Ducking(0.0, settings.ramp_down_ms, settings.hold_ms, settings.ramp_ms)
    speech = duck.merged_spans(spans, rate, ducking)
    click = rate * CLICK_MS // 1000
    placed: list[Placed] = []

    def level(music: Music, n: int, what: str) -> tuple[np.ndarray, float]:
        """The first *n* samples of *music* at its level, and how far a bed of it must duck."""
        x = decode(music.path, rate)[:n]
        integrated, loudest = _levels(x, rate)
        if not math.isfinite(integrated):
            raise InputError(f"[sound] {what}: {music.path} is silent where it plays")
        gain_db = target_lufs + music.gain_db - integrated
        depth = max(0.0, loudest + gain_db - (target_lufs - settings.duck_db - DUCK_MARGIN_DB))
        return x * (10 ** (gain_db / 20)), depth

    def bed(what: str, music: Music, start: int, n: int, fade_in: int) -> None:
        x, depth = level(music, n, what)
        n = len(x)
        fade_out = max(click, round(music.fade_s * rate))
        envelope = duck.gain(start, n, speech, rate, replace(ducking, depth_db=depth))
        placed.append(Placed(what, start, (x * _fade(n, fade_in, fade_out) * envelope).astype("float32"), True))

    # spliced sounds first: the beds stop where one starts
    for boundary in sorted({s.boundary for s in lay.splices}):
        here = [s for s in lay.splices if s.boundary == boundary]
        made = [level(s.music, round(lay.played_s(s.music) * rate), s.what)[0] for s in here]
        made = [x * _fade(len(x), click, max(click, round(s.music.fade_s * rate))) for x, s in zip(made, here)]
        if boundary < len(spans):  # laid back from the next sentence
            at = spans[boundary][0] - rate * SPLICE_AFTER_MS // 1000
            starts = []
            for x in reversed(made):
                at -= len(x)
                starts.append(at)
                at -= rate * SPLICE_BETWEEN_MS // 1000
            starts.reverse()
        else:  # laid on from the last word
            at, starts = spans[-1][1] + rate * SPLICE_BEFORE_MS // 1000, []
            for x in made:
                starts.append(at)
                at += len(x) + rate * SPLICE_BETWEEN_MS // 1000
        placed += [Placed(s.what, a, x.astype("float32"), False) for s, a, x in zip(here, starts, made)]
    spliced = sorted(p.start for p in placed)

    def room_until(start: int, n: int) -> int:
        """*n*, or less so that a bed from *start* ends before the next spliced sound."""
        nxt = next((a for a in spliced if a > start), None)
        return n if nxt is None else max(0, min(n, nxt - start))

    intro_span = outro_at = None
    first_word, last_end = spans[0][0], spans[-1][1]
    if settings.intro:
        intro = settings.intro
        start = max(0, first_word - round(intro.lead_s * rate))
        n = min(round(lay.played_s(intro.music) * rate),
                round((intro.lead_s + intro.bed_s + intro.music.fade_s) * rate))
        bed("intro", intro.music, start, room_until(start, n), click)
        intro_span = (start, first_word)
    end = len(assembly.samples)
    if settings.outro:
        outro = settings.outro
        n = round(lay.played_s(outro.music) * rate)
        after = last_end + rate * OUTRO_GAP_MS // 1000
        start, fade_in = after, click
        if outro.under_last_turn:
            last_turn = spans[len(spans) - len(_last_turn_sentences(assembly))][0]
            rise = last_end + rate * (settings.hold_ms + settings.ramp_ms) // 1000 + round(OUTRO_RISE_S * rate)
            start = max(last_turn, rise - n)
            start, fade_in = (start, rate * OUTRO_FADE_IN_MS // 1000) if start < after else (after, click)
        bed("outro", outro.music, start, n, fade_in)
        outro_at = max(start, last_end + rate * settings.hold_ms // 1000)
        end = min(end, max(last_end + rate * TAIL_MS // 1000, start + n + rate * OUTRO_TAIL_MS // 1000))
    placed.sort(key=lambda p: p.start)
    for p in placed:
        log.info("sound: %s at %.2f s for %.2f s%s", p.what, p.start / rate, len(p.samples) / rate,
                 " (ducked under speech)" if p.bed else "")
    return Placement(tuple(p for p in placed if len(p.samples)), rate, end, intro_span, outro_at, settings.duck_db)


def _last_turn_sentences(assembly: Assembly) -> Sequence:
    last = assembly.sentences[-1].turn_index
    return [s for s in assembly.sentences if s.turn_index == last]


def heard_ms(sample: int, assembly: Assembly, offsets_ms: Sequence[int]) -> int:
    """Where *sample* of the assembly is heard in the MP3: its turn moved as mastering moved it."""
    import bisect

    k = max(0, bisect.bisect_right(assembly.turn_starts, sample) - 1)
    return offsets_ms[k] + (sample - assembly.turn_starts[k]) * 1000 // assembly.rate_hz


def with_sound(marks: Sequence, timeline: dict, placement: Placement, assembly: Assembly,
               offsets_ms: Sequence[int], duration_ms: int, chapters: bool) -> tuple[tuple, dict]:
    """The chapters with "Intro" and "Outro" (when *chapters*), and the timeline with where music plays.

    The intro's chapter ends where the first chapter now starts, a little
    before its first word; the outro's starts where it plays on its own.
    The timeline's ``sound`` entry tells ``episode verify`` where music
    sounds (MP3 milliseconds) and which chapters are music, not speech.
    """
    out = list(marks)
    music_chapters = []
    if chapters and placement.intro is not None and out:
        first = max(0, heard_ms(placement.intro[1], assembly, offsets_ms) - CHAPTER_LEAD_MS)
        if first > 0:
            out[0] = replace(out[0], start_ms=first)
            out.insert(0, replace(out[0], index=-1, element_id="chp-intro", title="Intro", start_ms=0,
                                  end_ms=first, toc=False))
            music_chapters.append(0)
    if chapters and placement.outro is not None and out:
        at = heard_ms(placement.outro, assembly, offsets_ms)
        if out[-1].start_ms < at < duration_ms:
            out[-1] = replace(out[-1], end_ms=at)
            out.append(replace(out[-1], index=len(out), element_id="chp-outro", title="Outro", start_ms=at,
                               end_ms=duration_ms, toc=False))
            music_chapters.append(len(out) - 1)
    turns = iter(timeline.get("chapter_turns", []))
    timeline = {**timeline,
                "chapter_turns": [None if n in music_chapters else next(turns) for n in range(len(out))],
                "sound": {"duck_db": placement.duck_db, "music_chapters": music_chapters,
                          "music_ms": [[heard_ms(p.start, assembly, offsets_ms),
                                        heard_ms(p.start + len(p.samples), assembly, offsets_ms), p.what, p.bed]
                                       for p in placement.placed]}}
    return tuple(out), timeline
