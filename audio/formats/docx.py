"""Word documents (``.docx``), as newsroom transcripts travel, read with python-docx.

A ``.docx`` is a zip, so it is known by its bytes before any text is
decoded (:func:`document_kind`); other documents (PDF, Word 97's ``.doc``,
OpenDocument's ``.odt``, RTF, other zips) are refused in one line that says
what is read.  python-docx opens the package and its styles; the body is
then walked with lxml directly, as python-docx's own paragraph objects cost
some 0.4 ms a paragraph (7.8 s for 20,000: too slow for a long transcript).

What is read:

- the Title style's paragraph is the title (else the first heading, else
  the document's title property); Subtitle is the description;
- later headings (Heading 1 to 9) start a chapter each;
- a bold run opening a paragraph is a label ("**PIA SOREL:** text", or a
  bold name alone, the text below); a table of speaker and text (with or
  without a time column) is read row by row;
- then the same rules as plain text (``text.py``): labels, stage
  directions, footers, a transcript marker with notes before it.

Deleted text (tracked changes) and field codes are not read.  A "line" is
a paragraph of the body (or a row of a table), counted from 1.
"""

from __future__ import annotations

import io
import re
import zipfile

from ..errors import InputError, ParseError
from .base import Document, Dropped, FoundMetadata
from .exports import is_timestamp
from .labels import bold_label, names_speaker
from .text import BLANK, HEADING, LINE, read_items

ACCEPTED = "episode reads text transcripts (.txt, .md, .vtt, .srt, .json, .html) and Word .docx files"
_W = "{http://schemas.openxmlformats.org/wordprocessingml/2006/main}"
_P, _TBL, _TR, _TC, _R, _T, _TAB, _BR, _CR, _SDT = (f"{_W}{t}" for t in ("p", "tbl", "tr", "tc", "r", "t", "tab", "br",
                                                                        "cr", "sdt"))
_PPR, _PSTYLE, _RPR, _B, _RSTYLE, _VAL = (f"{_W}pPr", f"{_W}pStyle", f"{_W}rPr", f"{_W}b", f"{_W}rStyle", f"{_W}val")
_STYLE_PATH = f"{_PPR}/{_PSTYLE}"
_HEADING_RE = re.compile(r"^(?:heading|überschrift|titre|título|titolo|kop)\s*(\d)$", re.I)
_TABLE_HEAD_WORDS = frozenset({"speaker", "name", "who", "text", "transcript", "time", "timestamp", "words", "said"})
_MAGIC = ((b"%PDF-", "a PDF"), (b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1", "a Word 97-2003 (.doc) or other OLE document"),
          (b"{\\rtf", "an RTF document"))


def document_kind(data: bytes, source: str) -> str | None:
    """"docx" for a Word file; None for anything else not a document (text, to be decoded); other documents
    and zips are refused (InputError) in one line that says what is read."""
    for magic, what in _MAGIC:
        if data.startswith(magic):
            raise InputError(f"{source} is {what}: {ACCEPTED}")
    if not data.startswith((b"PK\x03\x04", b"PK\x05\x06")):
        return None
    try:
        with zipfile.ZipFile(io.BytesIO(data)) as archive:
            names = set(archive.namelist())
            mimetype = archive.read("mimetype")[:80].decode("ascii", "replace") if "mimetype" in names else ""
    except (zipfile.BadZipFile, OSError, KeyError, ValueError):
        what = "not a valid Word file (a broken zip archive)" if source.lower().endswith(".docx") else \
            "a broken zip archive, not a document"
        raise InputError(f"{source} is {what}: {ACCEPTED}") from None
    if "word/document.xml" in names:
        return "docx"
    if "opendocument" in mimetype:
        raise InputError(f"{source} is an OpenDocument file (.odt): {ACCEPTED}; save it as .docx")
    if any(n.startswith(("xl/", "ppt/")) for n in names):
        raise InputError(f"{source} is an Excel or PowerPoint file: {ACCEPTED}")
    if source.lower().endswith(".docx"):
        raise InputError(f"{source} is not a valid Word file (a zip archive with no Word document in it): {ACCEPTED}")
    raise InputError(f"{source} is a zip archive that is not a document: {ACCEPTED}")


def _styles(document) -> dict[str, str]:
    """style id -> style name ("Heading1" -> "Heading 1")."""
    out = {}
    for style in document.styles.element.iterchildren(f"{_W}style"):
        sid = style.get(f"{_W}styleId")
        name = style.find(f"{_W}name")
        if sid:
            out[sid] = name.get(_VAL) if name is not None else sid
    return out


def _bold(run, bold_styles: frozenset[str]) -> bool:
    props = run.find(_RPR)
    if props is None:
        return False
    b = props.find(_B)
    if b is not None:
        return b.get(_VAL, "true").lower() not in ("0", "false", "off", "none")
    style = props.find(_RSTYLE)
    return style is not None and style.get(_VAL) in bold_styles


def read_docx(data: bytes, *, source: str) -> Document:
    import docx
    from docx.opc.exceptions import PackageNotFoundError
    from lxml.etree import XMLSyntaxError

    try:
        document = docx.Document(io.BytesIO(data))
        body = document.element.body
        styles = _styles(document)
    except XMLSyntaxError as exc:
        raise ParseError(f"{source}: not a valid Word file (broken XML: {str(exc).splitlines()[0][:80]})") from None
    except (PackageNotFoundError, KeyError, ValueError, AttributeError, TypeError, zipfile.BadZipFile):
        raise ParseError(f"{source}: not a valid Word file (its parts are missing or broken)") from None
    bold_styles = frozenset(sid for sid, name in styles.items() if name.lower() in ("strong", "bold"))
    found: dict[str, tuple[object, str]] = {}
    items: list[tuple] = []
    n = 0

    def add_line(text: str, line: int) -> None:
        if "  " in text or "\t" in text or "\n" in text or text[:1] == " " or text[-1:] == " ":
            text = " ".join(text.split())
        if text:
            items.append((LINE, line, text, None))

    for element in _blocks(body):
        n += 1
        if element.tag == _TR:
            _row(element, n, bold_styles, items)
            continue
        style = element.find(_STYLE_PATH)
        name = styles.get(style.get(_VAL), style.get(_VAL)) if style is not None else ""
        lines, bold = _runs(element, bold_styles)
        text = lines[0] if len(lines) == 1 else " ".join(lines)
        if not text or text.isspace():
            continue
        lowered = name.lower()
        if lowered == "title" and "title" not in found:
            found["title"] = (text, f"the Title style, paragraph {n}")
        elif lowered == "subtitle" and "description" not in found:
            found["description"] = (text, f"the Subtitle style, paragraph {n}")
        elif name and (_HEADING_RE.match(name) or lowered == "title"):
            items.append((HEADING, n, " ".join(text.split()), None))
        else:
            first = True
            for line in lines:
                add_line(bold_label(line.strip(), bold) if first and bold else line, n)
                first = False
        items.append((BLANK, n, "", None))
    if not any(item[0] in (LINE, HEADING) for item in items):
        raise ParseError(f"{source}: a Word file with no text to read")
    core_title = (document.core_properties.title or "").strip()
    if core_title and "title" not in found and not any(item[0] == HEADING for item in items):
        found["title"] = (core_title, "the document's title property")
    dropped: list[Dropped] = []
    return read_items(items, FoundMetadata().merged(**found), dropped, ["docx"])


def _blocks(body):
    """The body's paragraphs and table rows in order (content controls opened)."""
    for child in body.iterchildren():
        tag = child.tag
        if tag == _P:
            yield child
        elif tag == _TBL:
            yield from child.iter(_TR)
        elif tag == _SDT:
            yield from _blocks(child.find(f"{_W}sdtContent") if child.find(f"{_W}sdtContent") is not None else child)


def _runs(p, bold_styles: frozenset[str]) -> tuple[list[str], str | None]:
    """A paragraph's lines (a line break starts one) and the bold text opening it, if any."""
    lines: list[str] = []
    parts: list[str] = []
    bold: list[str] = []
    opening = True  # no text but bold text yet
    last_run, run_bold = None, False
    for node in p.iter(_T, _TAB, _BR, _CR):
        tag = node.tag
        if tag == _T:
            text = node.text
            if not text:
                continue
            if opening:
                run = node.getparent()
                if run is not last_run:
                    last_run, run_bold = run, _bold(run, bold_styles)
                if run_bold or bold and text.isspace():
                    bold.append(text)
                elif not text.isspace():
                    opening = False
            parts.append(text)
        elif tag == _TAB:
            parts.append(" ")
        else:  # a line break: a bold name alone on the first line is a label
            opening = opening and not bold
            lines.append("".join(parts))
            parts = []
    lines.append("".join(parts))
    return lines, "".join(bold).strip() or None


def _row(tr, n: int, bold_styles: frozenset[str], items: list[tuple]) -> None:
    """A table row: (time,) speaker, text.  A header row ("Speaker", "Text") is no speech."""
    cells = [" ".join(" ".join(_runs(p, bold_styles)[0]) for p in tc.iter(_P)).split() for tc in tr.iter(_TC)]
    texts = [" ".join(words) for words in cells]
    if not any(texts) or all(t.casefold().rstrip(":") in _TABLE_HEAD_WORDS for t in texts if t):
        return
    named = [i for i, t in enumerate(texts[:-1]) if t and names_speaker(t)]
    if len(texts) >= 2 and named:
        head = texts[named[0]].rstrip().rstrip(":").rstrip()
        items.append((LINE, n, f"**{head}:**", None))
        texts = texts[named[0] + 1:]
    for text in texts:
        if text and not is_timestamp(text):
            items.append((LINE, n, text, None))
    items.append((BLANK, n, "", None))
