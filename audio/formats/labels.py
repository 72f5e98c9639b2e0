"""Speaker labels at the start of a paragraph, recognised by shape.

``VOA:``, ``Zelin:``, ``Aaron Zelin, Washington Institute ... senior
fellow:``, ``JOHN SMITH:``, ``Q:``/``A:``, ``**Name:**``, ``*Name:*`` and
``**Name**:``; the newsroom's ``SCOTT SIMON, HOST:``, ``NAME, BYLINE:`` and
the older ``Mr. SAMUEL ARDEN (Historian, Lakeside College):``, whose
honorific and role are not part of the name (the role is kept);
``UNIDENTIFIED PERSON #1:``; diarisation's ``[SPEAKER_00]:``, ``SPEAKER_00:``
and ``Speaker 1:``.  A colon inside an ordinary sentence is not a label,
because a label's head must look like a name: every word capitalised (or a
name particle), at most five words, and none of the words that head page
clutter and notes ("Listen Here:", "Transcript:", "Episode 4:", "Note:").
"""

from __future__ import annotations

import functools
import re

from .base import Label

_HEAD_RE = re.compile(r"^\s*(?P<bold>\*\*|__|\*|_)?(?P<label>[^:\n*]{1,120}?)(?:\*\*|__|\*|_)?\s*:$")
_CLOSERS = ("**", "__", "*", "_")
_WORDS_RE = re.compile(r"^[\w.'’\-]+(?: [\w.'’\-]+){0,4}$")
PARTICLES = frozenset({"de", "van", "von", "der", "den", "al", "el", "bin", "ibn", "da", "di", "del", "della",
                       "la", "le", "du", "dos", "das", "ter", "ten", "y", "bint", "ben", "st."})
_QA = {"Q", "A"}
# Words that head notes and page furniture, never a person's name.  Checked
# case-blind on every word of a head, so "Editor's Note" and "EPISODE 4" go too.
NOT_NAME_WORDS = frozenset("""
transcript transcription transcripts episode episodes ep listen listening here note notes subscribe follow share
download watch update updated correction corrections disclaimer summary chapter chapters part section read
more links link resources sponsor sponsors sponsored advertisement ad copyright tags tags topics posted
published date time length duration runtime season show contents warning caution source sources credits
related see also available subscribe keywords about description details audio video play pause website
email phone fax address produced editor's editors’ editor’s
""".split())


# "I'm Leah Marsh, and ...:" starts a sentence, not a name
_CONTRACTIONS = frozenset("""i'm i’m i've i’ve i'll i’ll i'd i’d we're we’re we've we’ve you're you’re they're they’re
it's it’s that's that’s there's there’s here's here’s let's let’s what's what’s he's he’s she's she’s who's who’s
don't don’t can't can’t won't won’t isn't isn’t""".split())


@functools.lru_cache(maxsize=4096)  # a transcript repeats its few labels thousands of times
def looks_like_name(head: str) -> bool:
    """A person's name or a speaker's tag: capitalised words, at most five."""
    words = head.split()
    if not words or len(head) > 40 or not _WORDS_RE.match(" ".join(words)):
        return False
    first = words[0][0]
    if not (first.isupper() or first.isdigit()) or words[0].casefold() in _CONTRACTIONS:
        return False
    for word in words:
        if not (word[0].isupper() or word[0].isdigit() or word in PARTICLES):
            return False
        if word.casefold().rstrip(":.") in NOT_NAME_WORDS:
            return False
    return True


# Courtesy titles, dropped from the name; office titles, which become the
# speaker's role when the label gives none ("PRESIDENT JOE BIDEN:").
_COURTESY = r"mr|mrs|ms|miss|mx|dr|prof|professor|sir|dame"
_OFFICE = (r"president|pres|vice president|senator|sen|representative|rep|congressman|congresswoman|governor|gov"
           r"|mayor|secretary|sec|minister|prime minister|ambassador|amb|judge|justice|general|gen|colonel|col"
           r"|captain|capt|lieutenant|lt|sergeant|sgt|rabbi|imam|reverend|rev|father|fr|bishop|cardinal|pope"
           r"|chancellor|commissioner|chief|sheriff|officer|detective|councilman|councilwoman|councilmember")
_HONORIFIC_RE = re.compile(rf"^(?:(?P<courtesy>{_COURTESY})|(?P<office>{_OFFICE}))\.?\s+(?=[^\W\d_])", re.I)
_ROLE_IN_BRACKETS_RE = re.compile(r"^(?P<head>[^()]+?)\s*\((?P<role>[^()]{1,100})\)$")
_ANONYMOUS_RE = re.compile(r"^(?:unidentified|unknown|unnamed|anonymous)\b[\w .'’-]{0,40}?(?:\s*#\s*\d{1,3})?$", re.I)
_DIARISED_RE = re.compile(r"^\[?(?P<head>(?:speaker|spk|spkr)(?:[ _-]?\d{1,3}))\]?$", re.I)
_NOT_ROLE_RE = re.compile(r"[.!?…] +[A-Z]|^\s*(?:and|but|so|or|then|because|if|when)\b")
_TIMESTAMP_ROLE_RE = re.compile(r"^[\d:.,\s-]+$")
_ROLE_CASES = {"byline": "Reporter"}  # the newsroom's word for the reporter who filed the story


def is_anonymous(head: str) -> bool:
    """``UNIDENTIFIED MAN``, ``UNIDENTIFIED PERSON #1``: a one-off voice, never the host."""
    return bool(_ANONYMOUS_RE.match(head))


def role_text(role: str) -> str:
    """A label's role as a description: ``BYLINE`` -> Reporter, ``HISTORIAN`` -> Historian."""
    role = " ".join(role.split()).strip(" ,;")
    if role.casefold() in _ROLE_CASES:
        return _ROLE_CASES[role.casefold()]
    if role.isupper():
        return " ".join(w if len(w) <= 3 and w.isalpha() and w not in ("AND", "THE", "FOR") else w.capitalize()
                        for w in role.split())
    return role[:1].upper() + role[1:]


@functools.lru_cache(maxsize=1024)
def without_honorific(name: str) -> tuple[str, str]:
    """``(name, office)``: "Mr. SAMUEL ARDEN" -> ("SAMUEL ARDEN", ""), "PRESIDENT JOE BIDEN" -> ("JOE BIDEN", "PRESIDENT")."""
    honorific = _HONORIFIC_RE.match(name)
    if honorific is None or len(name) <= honorific.end():
        return name, ""
    return name[honorific.end():], honorific.group().rstrip(". ") if honorific.group("office") else ""


@functools.lru_cache(maxsize=8192)
def _head(prefix: str) -> tuple[str, bool, str] | None:
    """``(head, strong, role)`` for the text before a paragraph's first colon, colon included."""
    match = _HEAD_RE.match(prefix)
    if not match:
        return None
    label = match.group("label").strip()
    diarised = _DIARISED_RE.match(label)
    if diarised is not None:  # "[SPEAKER_00]", "Speaker 1": a diarisation tool's speaker
        return diarised.group("head"), True, ""
    bracketed = _ROLE_IN_BRACKETS_RE.match(label) if label.endswith(")") else None
    if bracketed is not None and not _TIMESTAMP_ROLE_RE.match(bracketed.group("role")):
        head, role = bracketed.group("head"), bracketed.group("role")  # "Mr. SAMUEL ARDEN (Historian, ...)"
    else:
        head, _, role = label.partition(",")
    written = head.strip()
    head, office = without_honorific(written)
    honorific = head != written
    role = role or office
    if role and (len(role) > 100 or not role.strip() or _NOT_ROLE_RE.search(role)):
        return None  # "I'm Leah Marsh, and this is The Long View. Today ...:" is a sentence, not a role
    if not looks_like_name(head):
        if not is_anonymous(head):
            return None
        head = " ".join(head.replace("# ", "#").split())
    strong = (bool(match.group("bold")) or head in _QA or (head.isupper() and len(head) > 1)
              or bool(role) or honorific or len(head.split()) in (2, 3))
    return head, strong, role.strip()


# One Label per (head, strong), shared by every paragraph it heads: a Label
# is immutable, and making one per line was a tenth of the text reader's time.
shared_label = functools.lru_cache(maxsize=4096)(Label)


def label_of(paragraph: str) -> tuple[Label, str] | None:
    """``(label, rest of the paragraph)`` when *paragraph* starts with a speaker label."""
    colon = paragraph.find(":", 0, 130)
    if colon < 0:  # most lines of a long transcript: no label to look for
        return None
    found = _head(paragraph[:colon + 1])  # cached: a transcript repeats its few labels
    if found is None:
        return None
    rest = paragraph[colon + 1:]
    after = rest.lstrip()
    for closer in _CLOSERS if after[:1] in ("*", "_") else ():  # the closing half of "**Name:**"
        if after.startswith(closer) and (len(after) == len(closer) or after[len(closer)].isspace()):
            rest = after[len(closer):]
            break
    else:
        if rest and not rest[0].isspace():  # "Note:this", "http://": not a label
            return None
        rest = after  # stripped on the left already
    rest = rest.strip()
    head, strong, role = found
    # a name alone on its line, before the text, is a label whatever its case
    return shared_label(head, strong or not rest, False, role), rest


@functools.lru_cache(maxsize=4096)  # a document repeats its few labels
def names_speaker(text: str, strong: bool = False) -> bool:
    """Is *text* (a bold run, a ``<dt>``, a table cell) a speaker's label?  (*strong*: unmistakably.)"""
    head = text.rstrip().rstrip(":").strip()
    found = label_of(f"{head}: x") if head and len(head) <= 120 and ":" not in head else None
    return found is not None and (found[0].strong or not strong)


def bold_label(text: str, bold: str | None) -> str:
    """A line whose first run was bold, as the text reader reads a bold label ("**Name:** text")."""
    if not bold:
        return text
    head = bold.strip()
    if not text.startswith(head):
        return text
    rest = text[len(head):].lstrip()
    if head.endswith(":"):
        head = head[:-1].rstrip()
    elif rest.startswith(":"):
        rest = rest[1:].lstrip()
    elif not names_speaker(head, strong=True):
        return text  # a bold word opening a sentence ("<b>Today</b> we ..."), not a name alone
    if not names_speaker(head):
        return text
    return f"**{head}:** {rest}".rstrip()
