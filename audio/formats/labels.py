"""Speaker labels at the start of a paragraph, recognised by shape.

``VOA:``, ``Zelin:``, ``Aaron Zelin, Washington Institute ... senior
fellow:``, ``JOHN SMITH:``, ``Q:``/``A:``, ``**Name:**``, ``*Name:*`` and
``**Name**:``.  A colon inside an ordinary sentence is not a label, because a
label's head must look like a name: every word capitalised (or a name
particle), at most five words, and none of the words that head page clutter
and notes ("Listen Here:", "Transcript:", "Episode 4:", "Note:").
"""

from __future__ import annotations

import functools
import re

from .base import Label

_LABEL_RE = re.compile(
    r"^\s*(?P<bold>\*\*|__|\*|_)?(?P<label>[^:\n*]{1,120}?)(?:\*\*|__|\*|_)?\s*:(?:\s*(?:\*\*|__|\*|_)(?=\s|$))?"
    r"(?:\s+|$)(?P<rest>.*)$", re.S)
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


@functools.lru_cache(maxsize=4096)  # a transcript repeats its few labels thousands of times
def looks_like_name(head: str) -> bool:
    """A person's name or a speaker's tag: capitalised words, at most five."""
    words = head.split()
    if not words or len(head) > 40 or not _WORDS_RE.match(" ".join(words)):
        return False
    first = words[0][0]
    if not (first.isupper() or first.isdigit()):
        return False
    for word in words:
        if not (word[0].isupper() or word[0].isdigit() or word in PARTICLES):
            return False
        if word.casefold().rstrip(":.") in NOT_NAME_WORDS:
            return False
    return True


def label_of(paragraph: str) -> tuple[Label, str] | None:
    """``(label, rest of the paragraph)`` when *paragraph* starts with a speaker label."""
    colon = paragraph.find(":", 0, 130)
    if colon < 0:  # most lines of a long transcript: skip the regex
        return None
    match = _LABEL_RE.match(paragraph)
    if not match:
        return None
    head, _, role = match.group("label").strip().partition(",")
    head = head.strip()
    if not looks_like_name(head):
        return None
    if role and (len(role) > 100 or not role.strip()):
        return None
    rest = match.group("rest").strip()
    words = head.split()
    # a name alone on its line, before the text, is a label whatever its case
    strong = (bool(match.group("bold")) or head in _QA or (head.isupper() and len(head) > 1)
              or bool(role) or not rest or len(words) in (2, 3))
    return Label(head=head, strong=strong), rest
