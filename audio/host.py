"""Stage 1b, the host: who introduces the show, else who asks the questions.

In order: a label that says so (``HOST:``, ``Q:``, ``LEAH MARSH, HOST:``);
whoever introduces themselves as the show's voice in the first turns ("I'm
Leah Marsh, and this is The Long View", "This is Weekend Edition. I'm Scott
Simon", "From NPR News, I'm ...", "Welcome to Field Day", "I'm your host"),
also when that introduction is unlabelled narration and names a speaker;
else whoever says a host's weaker lines ("my guest today is ...") and asks
questions; else whoever asks the most questions; else whoever speaks
first.  A one-off voice (``UNIDENTIFIED MAN``) is never the host.
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Sequence

from .formats.labels import is_anonymous
from .manifest import Speaker

HOST_HEADS = frozenset({"host", "hosts", "q", "question", "interviewer", "moderator", "presenter", "anchor"})
HOST_ROLES = frozenset({"host", "co-host", "cohost", "guest host", "anchor", "presenter", "moderator", "interviewer"})
INTRO_TURNS = 8  # an introduction comes within the first few turns

_APOS = r"(?:'|’)"
def _name(n: int) -> str:
    """A person's name said in an introduction, as group name<n> (each alternative has its own)."""
    return rf"(?P<name{n}>[A-Z][\w'’.-]+(?:\s+(?:[A-Z][\w'’.-]+|de|van|von|der|al|el|da|di|du|la|le|bin)){{0,3}})"


# a show's name: capitalised words (THE LONG VIEW, Field Day, The Long View), not "my kitchen" or "the show"
_SHOW = r"(?:[Tt]he\s+)?[A-Z0-9][\w'’&:!-]*(?:\s+(?:[A-Z0-9][\w'’&:!-]*|of|the|and|for|in|on|at|a|&)){0,6}"
_STRONG_RE = re.compile(
    rf"\bI{_APOS}?m {_name(1)},?\s+(?:and\s+)?(?:this is|you{_APOS}?re listening to|welcome to)\s+{_SHOW}"
    rf"|\b(?:this is|welcome (?:back )?to|you{_APOS}?re listening to)\s+{_SHOW}[^.!?]{{0,80}}[.,;!?—–-]\s*"
    rf"(?:I{_APOS}?m|I am|my name is)\s+{_name(2)}"
    rf"|\b[Ff]rom (?:[A-Z][\w&.'’-]*\s?){{1,5}},\s*I{_APOS}?m {_name(3)}"
    rf"|\bI{_APOS}?m {_name(4)},? your host\b|\bI{_APOS}?m your host,? {_name(5)}"
    rf"|(?i:\bi{_APOS}?m your host\b)"
    rf"|\b(?i:welcome (?:back )?to) (?!(?:[Tt]he )?(?:show|program|podcast|episode)\b){_SHOW}"
    rf"|\bthis is {_SHOW},? (?:the |a )?(?:podcast|show|program)")
_WEAK_RE = re.compile(
    r"\b(?:welcome (?:back )?to\b|you(?:'|’)?re listening to\b"
    r"|(?:my|our) guests? (?:today|this week|on (?:the|this) (?:show|episode)|is|are)\b"
    r"|joining (?:me|us) (?:today|now|this week|on)\b|i(?:'|’)?m joined (?:today |now )?by\b"
    r"|with me (?:today|now|in the studio)\b|on (?:today(?:'|’)s|this week(?:'|’)s|this) (?:episode|show|program)\b)",
    re.I)


def introduces_show(text: str) -> bool:
    """Says what a host says first ("Welcome to ...", "I'm X, and this is ...", "my guest today is ...")."""
    head = text[:800]
    return bool(_WEAK_RE.search(head) or _STRONG_RE.search(head))


def introduction(text: str) -> tuple[bool, str] | None:
    """``(True, name said or "")`` for a host's own introduction, ``(False, "")`` for a weaker host's line, or None."""
    head = text[:800]
    match = _STRONG_RE.search(head)
    if match is not None:
        names = [v for k, v in match.groupdict().items() if k.startswith("name") and v]
        return True, names[0] if names else ""
    return (False, "") if _WEAK_RE.search(head) else None


def asks(sentences: Sequence[str]) -> bool:
    """Does a turn ask a question?"""
    return "?" in " ".join(sentences)  # faster than testing each sentence


def _named(name: str, speakers: Sequence[Speaker]) -> Speaker | None:
    """The speaker *name* ("Leah Marsh") is: by full name, else by the one speaker whose name holds its words."""
    folded = name.casefold()
    for s in speakers:
        if s.name.casefold() == folded:
            return s
    words = set(folded.split())
    found = [s for s in speakers if words & set(s.name.casefold().split()) and not is_anonymous(s.name)]
    return found[0] if len(found) == 1 else None


def choose_host(turns: Sequence[tuple[str, Sequence[str], int]], speakers: Sequence[Speaker],
                opening: Sequence[tuple[str, Sequence[str], int]] = ()) -> tuple[str, str, int]:
    """``(speaker id, why, line)`` of the host, from ``(speaker id, sentences, line)`` per labelled turn
    and the first turns, narration included (speaker id ""), in *opening*."""
    for s in speakers:
        if s.role == "host" or any(label.casefold() in HOST_HEADS for label in s.labels):
            first = next((line for sid, _, line in turns if sid == s.id), 0)
            return s.id, f"labelled {s.labels[0]!r}" + (", host" if s.role == "host" else ""), first
    anonymous = {s.id for s in speakers if any(is_anonymous(label) for label in s.labels)}
    for sid, sentences, line in opening or turns[:INTRO_TURNS]:
        found = introduction(" ".join(sentences))
        if found is None or not found[0]:
            continue
        if sid and sid not in anonymous:
            return sid, "introduces the show", line
        named = _named(found[1], speakers) if found[1] and not sid else None
        if named is not None and named.id not in anonymous:
            return named.id, f"introduces the show by name on line {line}", line
    questions: Counter[str] = Counter()
    for sid, sentences, _ in turns:
        if sid not in anonymous and asks(sentences):
            questions[sid] += 1
    introducer = next(((sid, line) for sid, sentences, line in turns[:INTRO_TURNS]
                       if sid not in anonymous and introduces_show(" ".join(sentences))), None)
    asker = max(questions, key=lambda sid: (questions[sid], -next(i for i, t in enumerate(turns) if t[0] == sid)),
                default=None)
    if introducer is not None and (questions[introducer[0]] or not asker or questions[asker] < 2):
        return introducer[0], "introduces the show", introducer[1]
    if asker is not None:
        first = next(line for sid, _, line in turns if sid == asker)
        return asker, f"asks the most questions ({questions[asker]})", first
    sid, _, line = next((t for t in turns if t[0] not in anonymous), turns[0])
    return sid, "speaks first", line
