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


@functools.lru_cache(maxsize=8192)
def _head(prefix: str) -> tuple[str, bool] | None:
    """``(head, strong)`` for the text before a paragraph's first colon, colon included."""
    match = _HEAD_RE.match(prefix)
    if not match:
        return None
    head, _, role = match.group("label").strip().partition(",")
    head = head.strip()
    if not looks_like_name(head) or role and (len(role) > 100 or not role.strip()):
        return None
    strong = (bool(match.group("bold")) or head in _QA or (head.isupper() and len(head) > 1)
              or bool(role) or len(head.split()) in (2, 3))
    return head, strong


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
    head, strong = found
    # a name alone on its line, before the text, is a label whatever its case
    return shared_label(head, strong or not rest), rest
