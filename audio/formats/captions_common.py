"""What WebVTT and SRT share: blocks of lines, cue timings, cue text clean-up."""

from __future__ import annotations

import functools
import html
import operator
import re
from collections.abc import Iterator

from .labels import label_of

_BLOCK_RE = re.compile(r"[^\n]*\S[^\n]*(?:\n[^\n]*\S[^\n]*)*")
_TAG_RE = re.compile(r"<[^>]*>|\{\\[^}]*\}")
_DASH_RE = re.compile(r"^(?:>>+|-(?=\s))\s*")
_LOOSE_TIMING_RE = re.compile(r"\d+:\d+(?:[:.,]\d+)*\s*\S{1,4}\s*\d+:\d+")

# Runs of plain cues.  A long caption file is mostly cues such as
# "12\n00:01:02,000 --> 00:01:04,500\nsome words", one after another, and
# testing them one by one in Python cost some 36,000 instructions a cue.  A
# run of them is found by one pattern and read as one cue whose text is its
# cues' texts joined, which is what cue_text, joined and merge_cues make of
# the cues one by one, as long as the run's words are words they leave as
# they are: printable, single spaces, no markup, sound brackets or music, no
# colon but a "Name: " that opens the first cue (and perhaps others), no cue
# starting with a character merge_cues glues to the word before or a dash.
# (10 MB of SRT reads in 0.27 s of CPU instead of 0.55; WebVTT likewise.)
_RUN_FIRST = r"[A-Za-z0-9\"']"  # what a cue's words may start with
_RUN_WORDS = r"[^\n:<>{&\[(♪]*"  # no colon (a label: merge_cues' business), markup or sounds (cue_text's)
_RUN_VOICED = r"[^\n<>{&\[(♪]*"  # a voiced cue's colon is no label
_RUN_WORD = r"[A-Za-z0-9](?:[A-Za-z0-9.,'’-]*[A-Za-z0-9.'’])?"  # not ending in "-": "<v Ann-->" has an arrow
_RUN_NAME = rf"(?=[^:\n]{{1,100}}:){_RUN_WORD}(?: {_RUN_WORD}){{0,5}}"  # its colon well within merge_cues' 130
_RUN_VOICE = rf"{_RUN_WORD}(?: {_RUN_WORD}){{0,5}}"


def plain_runs(stamp: str) -> re.Pattern[str]:
    """A pattern for :func:`blocks`: runs of cues timed with *stamp*, a
    regex for timestamps of one shape and width 12 (so that they compare as
    strings), and one text line each."""
    first = rf"(?:(?P<number>[0-9]+)\n)?{stamp} --> {stamp}\n"
    head = rf"\n\n(?(number)[0-9]+\n){stamp} --> {stamp}\n"  # the next cue, numbered like the first
    named = rf"(?:(?P<name>{_RUN_NAME}): )?{_RUN_FIRST}{_RUN_WORDS}(?:{head}(?:(?P=name): )?{_RUN_FIRST}{_RUN_WORDS})*"
    voiced = rf"<v (?P<voice>{_RUN_VOICE})>{_RUN_FIRST}{_RUN_VOICED}</v>(?:{head}<v (?P=voice)>{_RUN_FIRST}{_RUN_VOICED}</v>)*"
    return re.compile(rf"{first}(?:{named}|{voiced})(?=\n[^\S\n]*(?:\n|\Z)|\Z)")  # a blank line or the end next


def blocks(text: str, runs: re.Pattern[str] | None = None) -> Iterator[tuple[int, list[str] | str]]:
    """``(line number of its first line, lines)`` per run of non-blank lines.

    With *runs* (from :func:`plain_runs`), a run of plain cues after the
    first block (WebVTT's header) comes instead as one or two ``(line number
    of the text, text)``: its cues but the last as one cue (see above), then
    the last cue, which SRT's stray lines may continue.  A run that is not
    all plain, or has a cue that ends before it starts, comes block by block
    for the reader's checks to say what is wrong.
    """
    line_no, last, pos = 1, 0, 0
    plain_from = None  # where runs may start: after the first block, and not inside a run found not plain
    while (block := _BLOCK_RE.search(text, pos)) is not None:
        start = block.start()
        line_no += text.count("\n", last, start)
        last = start
        run = runs.match(text, start) if runs is not None and plain_from is not None and start >= plain_from else None
        if run is not None:
            lines = run.group().split("\n")
            read = _plain_run(run, lines)
            if read is not None:
                pos = run.end()
                if read:
                    yield line_no + 1 + (run.group("number") is not None), read
                yield line_no + len(lines) - 1, lines[-1]
                continue
            plain_from = run.end()  # block by block, once
        elif plain_from is None:
            plain_from = block.end()
        pos = block.end()
        yield line_no, block.group().split("\n")


@functools.lru_cache(maxsize=256)  # a run's "Name: " is one of the file's few speakers
def _names_speaker(name: str) -> bool:
    return label_of(f"{name}:") is not None


def _plain_run(run: re.Match[str], lines: list[str]) -> str | None:
    """A run's cues but the last as the text of one cue that reads as they do ("" for a run of one);
    None if the run is not all plain or a cue ends before it starts.  (Whole-run string operations
    here, not a Python loop over the cues: that loop cost as much as the pattern.)"""
    step = 4 if run.group("number") is not None else 3  # [number,] timing, text, blank
    timings, texts = lines[step - 3::step], lines[step - 2::step]
    stamps = " --> ".join(timings).replace(",", ".").split(" --> ")  # begin, end, begin, end...
    if any(map(operator.lt, stamps[1::2], stamps[::2])):  # earlier(), for stamps of one shape
        return None
    joined = " ".join(texts)
    name, voice = run.group("name", "voice")
    # the pattern allows "<" and ":" in a run's text lines only as these, so replace() finds no others
    if voice is not None:  # "<v Ann>one</v> <v Ann>two</v>" -> "<v Ann>one two</v>"
        joined = joined.replace(f"</v> <v {voice}>", " ")
        words = joined[len(voice) + 4:-4]
    elif name is not None:  # "Ann: one Ann: two" -> "Ann: one two", as merge_cues reads a label's repeats
        words = joined.replace(f" {name}: ", " ")[len(name) + 2:]
    else:
        words = joined
    if "  " in words or words[-1] == " " or not words.isprintable():  # what cue_text would tidy
        return None
    if len(texts) == 1:
        return ""
    if voice is not None:  # all but the last cue's words
        return f"<v {voice}>{words[:len(words) - len(texts[-1][len(voice) + 4:-4]) - 1]}</v>"
    head = joined[:len(joined) - len(texts[-1]) - 1]  # all but the last cue
    if name is not None and _names_speaker(name):
        return head.replace(f" {name}: ", " ")
    return head


def looks_like_timing(line: str) -> bool:
    """Two timestamps on a line, as a cue timing has, however broken its arrow."""
    return bool(_LOOSE_TIMING_RE.search(line))


def joined(lines: list[str]) -> str:
    """A cue's lines as one, without the ``>>`` and ``- `` that mark a change of speaker."""
    text = " ".join(lines)
    if ">>" in text or "- " in text or "-\t" in text:
        text = " ".join(_DASH_RE.sub("", line.strip()) for line in lines)
    return text


def earlier(begin: str, end: str) -> bool:
    """Does timestamp *end* come before *begin*?  ("00:01:02,500", "1:02.5"...)"""
    # (SRT allows "," or "." before the milliseconds, and "," sorts first)
    if len(begin) == len(end) and begin.find(":") == end.find(":") and ("," in begin) == ("," in end):
        return end < begin  # same shape, zero-padded: the strings compare as the times do
    return _ms(end) < _ms(begin)


def _ms(stamp: str) -> int:
    *hm, s = stamp.replace(",", ".").split(":")
    return round((float(s) + 60 * int(hm[-1]) + (3600 * int(hm[0]) if len(hm) > 1 else 0)) * 1000)


def cue_text(text: str) -> str:
    """A cue's text as plain words: tags and entities gone (stage directions are merge_cues' business)."""
    if "<" in text or "{" in text:
        text = _TAG_RE.sub("", text)
    if "&" in text:
        text = html.unescape(text).replace("\xa0", " ")
    if "  " in text or not text.isprintable():  # tabs, no-break spaces: one space each
        text = " ".join(text.split())
    return text.strip()
