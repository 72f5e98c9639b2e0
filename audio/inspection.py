"""Stage 1, shown: what `episode inspect` prints, before any speech.

The parse (turns, chapters, cues), each speaker's voice as it will be
spoken (a derived voice's pitch and pace under the manifest's), the music
and where it plays, and what is not spoken and why.  A library function, so
that the command stays a thin layer over it.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from .engines import canonical, derived_settings, parse_voice
from .lexicon import spoken_text

if TYPE_CHECKING:
    from .episode import Episode


def describe(episode: Episode) -> list[str]:
    """The episode as it would be rendered, line by line: speakers, chapters, turns, cues, music, drops, doubts."""
    lines: list[str] = []
    meta = episode.metadata
    lines.append(f"Read as: {episode.format}")
    number = f", episode {meta.number}" if meta.number else ""
    lines.append(f"Episode: {meta.title} ({meta.date}{number})")
    lines.append("Speakers:")
    for s in episode.manifest.speakers:
        shift, speed = derived_settings(parse_voice(s.voice))  # a derived voice's own, under the speaker's
        pace = f"{s.rate_wpm} wpm" if canonical(s.voice).startswith("pyttsx3:") else f"speed {speed * s.speed:g}"
        pitch = f", {shift + s.pitch_st:+g} st" if shift + s.pitch_st else ""
        lines.append(f"  {s.id:<12} {s.name:<20} {s.role:<8} {canonical(s.voice)} @ {pace}{pitch}")
    lines.append("Chapters:")
    for c in episode.chapters:
        lines.append(f"  {c.index + 1:>2}. {c.title}  (turn {c.turn_index + 1})")
    lines.append("Turns:")
    for t in episode.turns:
        kind = " (narration)" if t.narration else ""
        lines.append(f"  {t.index + 1:>3}. line {t.line_no}: {episode.speaker(t.speaker_id).name}{kind}, "
                     f"{len(t.sentences)} sentences: {t.text[:70]}")
        spoken = spoken_text(t.text, episode.lexicon_of(t.speaker_id))
        if spoken != " ".join(t.text.split()):
            lines.append(f"       spoken: {spoken[:70]}")
    if episode.cues:
        lines.append("Sound cues (not spoken):")
        for c in episode.cues:
            where = (f"before turn {c.turn_index + 1}" + (f", sentence {c.sentence_index + 1}" if c.sentence_index else "")
                     if c.turn_index < len(episode.turns) else "after the last turn")
            lines.append(f"  line {c.line_no}: {c.kind}, {where}: {c.text}")
    if episode.manifest.sound is not None:
        from .sound.plan import describe as music, layout

        lines += music(layout(episode), episode)
    dropped = [d for d in episode.decisions if d.dropped and not d.doubtful and not d.message.startswith("a sound cue")]
    if dropped:
        lines.append("Not spoken:")
        for d in dropped:
            lines.append(f"  line {d.line_no}: {d.message.replace(', not spoken', '')}")
    doubtful = [d for d in episode.decisions if d.doubtful]
    if doubtful:
        lines.append("Check:")
        for d in doubtful:
            lines.append(f"  line {d.line_no}: {d.message}" if d.line_no else f"  {d.message}")
    return lines
