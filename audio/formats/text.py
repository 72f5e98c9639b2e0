"""Plain text and Markdown transcripts, exports and web pages: line by line.

One pass classifies each line (blank, section break, heading, an export's
turn header, a timestamp, text); the page clean-up then sets show notes,
date, title and clutter aside; paragraphs are built last.  Paragraphs are
one a line, unless the file separates paragraphs with blank lines, in which
case wrapped lines of a block are joined (a line that starts with a label
always starts a paragraph).
"""

from __future__ import annotations

import re
from dataclasses import replace

from . import exports, markdown, webpage
from .base import TIMESTAMP, Document, Dropped, FoundMetadata, Paragraph
from .directions import speech_paragraphs
from .labels import label_of, shared_label, without_honorific

BLANK, BREAK, HEADING, LINE, HEADER = range(5)
_BREAK_FIRST = frozenset("*-_•·⁂#~=")  # what a section break starts with (most lines: no call)
_LEADING_TIMESTAMP_RE = re.compile(rf"^[\[(]?{TIMESTAMP}[\])]?\s+(?=\S)")
_NOTES_SCAN_LINES = 400  # show notes longer than this are not show notes


def _classify(lines: list[str], first: int, md: bool, dropped: list[Dropped]) -> tuple[list[tuple], list[int]]:
    """``(kind, line_no, text, header)`` per line that is kept, and where the lines that start with a timestamp are."""
    items: list[tuple] = []
    led: list[int] = []
    in_comment = False
    for i in range(first, len(lines)):
        s = lines[i].strip()
        n = i + 1
        if not s:
            items.append((BLANK, n, "", None))
            continue
        if in_comment or md and s.startswith("<!--") and "-->" not in s:
            in_comment = "-->" not in s
            dropped.append(Dropped(n, s, "an HTML comment"))
            continue
        c = s[0]
        if md:
            if c == "#":
                heading = markdown.heading_of(s)
                if heading is not None:
                    items.append((HEADING, n, heading, None))
                    continue
            elif c == "=" and items and items[-1][0] == LINE and set(s) == {"="}:  # setext heading
                _, hn, htext, _ = items.pop()
                items.append((HEADING, hn, markdown.inline(htext), None))
                continue
        if c in _BREAK_FIRST and webpage.is_break(s):
            items.append((BREAK, n, s, None))
            continue
        if md:
            s = markdown.unwrap_block(s)
            if not s:
                continue
        digit = c.isdigit() or c in "[("
        if digit and exports.is_timestamp(s):  # (a timestamp heads no turn)
            dropped.append(Dropped(n, s, "a timestamp"))
            continue
        # an export's header has a timestamp: at the end, in brackets, or first (most lines have none)
        header = exports.header_of(s) if digit or "(" in s or "[" in s or s[-1].isdigit() or s[-1] in "*_" \
            or c in "*_" else None
        if header is not None:
            items.append((HEADER, n, s, header))
        else:
            if digit and _LEADING_TIMESTAMP_RE.match(s):
                led.append(len(items))
            items.append((LINE, n, s, None))
    return items, led


def _timestamped(items: list[tuple], led: list[int], dropped: list[Dropped]) -> tuple[list[tuple], bool]:
    """A page copied with a timestamp before each fragment of text, on its own line ("0:04") or
    opening the line ("0:04 welcome back"): the timestamps go, and the fragments are lines of
    running text, joined as a paragraph's lines are (True), when at least a fifth of the lines
    (and three) have one."""
    lines = sum(item[0] == LINE for item in items)
    alone = sum(d.reason == "a timestamp" for d in dropped)
    if len(led) < 3 or len(led) * 5 < lines:
        return items, alone >= 3 and alone * 5 >= lines
    items = list(items)
    for i in led:
        kind, n, s, header = items[i]
        stamp = _LEADING_TIMESTAMP_RE.match(s)
        dropped.append(Dropped(n, stamp.group().strip(), "a timestamp"))
        items[i] = (kind, n, s[stamp.end():], header)
    return items, True


def _metadata_line(kind: int, n: int, s: str, found: dict, dropped: list[Dropped]) -> bool:
    """Take "Episode 4: Title" or a date line as metadata; say whether *s* was one."""
    episode = webpage.episode_of(s)
    if episode is not None:
        found.setdefault("episode_number", (episode[0], f"line {n}"))
        if episode[1]:
            found.setdefault("title", (markdown.inline(episode[1]), f"line {n}"))
        dropped.append(Dropped(n, s, "the episode's number and title"))
        return True
    date = webpage.date_of(s) if kind == LINE else None
    if date is not None:
        found.setdefault("date", (date, f"line {n}"))
        dropped.append(Dropped(n, s, "the episode's date"))
        return True
    return False


def _clean_page(items: list[tuple], md: bool, meta: FoundMetadata,
                dropped: list[Dropped]) -> tuple[list[tuple], FoundMetadata, str]:
    """Set show notes, dates, titles and clutter aside; keep what may be spoken."""
    marker = None
    for index, item in enumerate(items[:_NOTES_SCAN_LINES]):
        if item[0] in (LINE, HEADING) and webpage.is_marker(item[2]):
            marker = index
            break
    found: dict[str, tuple[object, str]] = {}
    description: list[list[str]] = [[]]
    title_line = None
    if marker is not None:
        dropped.append(Dropped(items[marker][1], items[marker][2], "the transcript marker"))
        for kind, n, s, _ in items[:marker]:
            if kind in (BLANK, BREAK):
                if description[-1]:
                    description.append([])
                continue
            if kind == HEADER:  # an export's header in the notes: not description text
                continue
            why = None if kind == HEADING else webpage.clutter(s, in_notes=True) or (
                "a footer" if webpage.footer(s) else None)
            if _metadata_line(kind, n, s, found, dropped):
                pass
            elif why is not None:
                dropped.append(Dropped(n, s, f"page clutter ({why})"))
            elif title_line is None and not any(description) and (kind == HEADING or webpage.title_like(s)):
                title_line = (markdown.inline(s) if md else s, n)
                dropped.append(Dropped(n, s, "the page's title"))
            elif kind == HEADING:
                dropped.append(Dropped(n, s, "a heading in the show notes"))
            else:
                description[-1].append(markdown.inline(s) if md else s)
                dropped.append(Dropped(n, s, "show notes (the description)"))
        items = items[marker + 1:]
    elif not meta.title:
        title_line = _title_line(items, dropped)
    if title_line is not None:
        if "title" in found and found["title"][0] != title_line[0]:
            found.setdefault("show", (title_line[0], f"line {title_line[1]}"))
        else:
            found.setdefault("title", (title_line[0], f"line {title_line[1]}"))
    notes = "\n\n".join(" ".join(block) for block in description if block)
    if notes:
        found["description"] = (notes, "the show notes")

    kept: list[tuple] = []
    speech_started = False
    first_heading = True  # nothing but blank lines and breaks kept yet
    for item in items:
        kind, n, s, header = item
        if kind == LINE and webpage.maybe_clutter(s):
            if webpage.footer(s):
                dropped.append(Dropped(n, s, "a footer"))
                continue
            why = webpage.clutter(s)
            if why is not None:
                dropped.append(Dropped(n, s, f"page clutter ({why})"))
                continue
        if not speech_started and kind in (LINE, HEADING):
            if _metadata_line(kind, n, s, found, dropped):
                continue
            if kind == HEADING and first_heading and not meta.title and "title" not in found:
                found["title"] = (s, f"the heading on line {n}")
                dropped.append(Dropped(n, s, "the title (a heading)"))
                continue
            if kind == HEADING and first_heading and s.casefold() in (meta.title.casefold(),
                                                                 str(found.get("title", ("",))[0]).casefold()):
                dropped.append(Dropped(n, s, "the title (a heading)"))
                continue
        if kind == HEADER or kind == LINE:
            speech_started = True
        if kind != BLANK and kind != BREAK:
            first_heading = False
        kept.append(item)
    meta = meta.merged(**found)
    return kept, meta, notes


def _title_line(items: list[tuple], dropped: list[Dropped]) -> tuple[str, int] | None:
    """A show's name on the first line, alone, in capitals, as radio transcripts open ("WEEKEND EDITION SUNDAY")."""
    first = next((i for i, item in enumerate(items[:3]) if item[0] != BLANK), None)
    if first is None or items[first][0] != LINE or first + 1 >= len(items) or items[first + 1][0] != BLANK:
        return None
    _, n, s, _ = items[first]
    words = s.split()
    if not webpage.title_like(s) or len(words) > 10 or label_of(s) is not None or not any(
            item[0] in (LINE, HEADER) for item in items[first + 2:]):
        return None
    if len(words) < 2 or not all(w.isalpha() and w.isupper() for w in words) or max(map(len, words)) < 4:
        return None
    dropped.append(Dropped(n, s, "the page's title"))
    items[first] = (BLANK, n, "", None)
    return s, n


def _paragraphs(items: list[tuple], md: bool, dropped: list[Dropped], fragments: bool = False) -> list[Paragraph]:
    """*fragments*: lines are fragments of running text (a timestamped page): joined as a paragraph's lines."""
    blank_separated = fragments or any(item[0] == BLANK for item in items[1:-1])
    # [line_no, text parts, label, labelled line, section_break, heading, rest given, line of each part]
    out: list[list] = []
    pending_break = False
    pending_heading = ""
    joinable = False
    for kind, n, s, header in items:
        if kind == BLANK:
            joinable = False
            continue
        if kind == BREAK:
            pending_break, joinable = True, False
            continue
        if kind == HEADING:
            pending_heading, joinable = s, False
            continue
        if kind == HEADER:
            name, rest = header
            name, office = without_honorific(name)  # "Dr. Kim (00:00:03):" is Kim
            out.append([n, [rest] if rest else [], shared_label(name, True, True, office), "", pending_break, pending_heading,
                        bool(rest), [n]])
        else:
            found = label_of(s) if ":" in s else None  # (most lines have no colon: no call)
            if blank_separated and joinable and found is None:
                out[-1][1].append(s)
                out[-1][7].append(n)
                continue
            if found is None:
                out.append([n, [s], None, "", pending_break, pending_heading, True, [n]])
            else:
                label, rest = found
                out.append([n, [rest] if rest else [], label, s, pending_break, pending_heading, bool(rest), [n]])
        pending_break, pending_heading, joinable = False, "", True
    paragraphs = []
    for n, parts, label, labelled, brk, heading, has_rest, lines in out:
        text = " ".join(parts)
        if md:
            text = markdown.inline(text)
        prefix = (labelled[:len(labelled) - len(parts[0])].rstrip() if has_rest else labelled) if labelled else ""
        if "(" not in text and "[" not in text and "♪" not in text:  # most paragraphs: no directions to look for
            paragraphs.append(Paragraph(n, text, label, prefix, brk, heading))
        else:
            paragraphs += speech_paragraphs(n, text, label, prefix, brk, heading, dropped, _line_at(parts, lines))
    return paragraphs


def _line_at(parts: list[str], lines: list[int]):
    """The line of an offset in the paragraph *parts* (one a line) make, joined by spaces."""
    if len(lines) == 1:
        return lambda offset: lines[0]

    def line_at(offset: int) -> int:
        end = -1
        for part, line in zip(parts, lines):
            end += len(part) + 1
            if offset < end:
                return line
        return lines[-1]
    return line_at


def read_text(text: str, *, source: str, md: bool) -> Document:
    lines = text.split("\n")  # line ends made "\n" by read_document
    dropped: list[Dropped] = []
    first, meta = markdown.front_matter(lines, source) if md else (0, FoundMetadata())
    if meta.date and webpage.date_of(meta.date) not in (None, meta.date):  # "March 3, 2024" in front matter
        meta = replace(meta, date=webpage.date_of(meta.date))
    items, fragments = _timestamped(*_classify(lines, first, md, dropped), dropped)
    features = [("markdown" if md else "text")]
    if first:
        features.append("front matter")
    return read_items(items, meta, dropped, features, md=md, fragments=fragments)


def read_items(items: list[tuple], meta: FoundMetadata, dropped: list[Dropped], features: list[str],
               *, md: bool = False, fragments: bool = False) -> Document:
    """A document from lines classified as ``(kind, line_no, text, header)`` (BLANK, BREAK, HEADING, LINE,
    HEADER): the page clean-up and the paragraphs.  The web page and Word readers classify their own."""
    items, meta, notes = _clean_page(items, md, meta, dropped)
    paragraphs = _paragraphs(items, md, dropped, fragments)
    features = list(features)
    if any(item[0] == HEADER for item in items):
        features.append("export")
    if any(d.reason.startswith(("show notes", "page clutter", "the transcript marker")) for d in dropped):
        features.append("web page")
    return Document("+".join(features), tuple(paragraphs), tuple(sorted(dropped, key=lambda d: d.line_no)), meta,
                    notes)
