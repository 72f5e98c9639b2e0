"""Stage 1a: a transcript in any of the formats people have -> one common form.

Recognised by content, with the file's extension as a hint for content that
fits several: WebVTT (``WEBVTT`` first), SRT (a cue number, then a timing),
Podcasting 2.0 JSON (``{``), HTML (a doctype, ``<html>``, or a page's
elements), Markdown (front matter, ``#`` headings, bold labels, links), else
plain text.  Word files (``.docx``, a zip) are known by their bytes before
any of this (``docx.py``).  Plain text and Markdown also read
transcription services' exports and pages copied from the web.  Every
reader returns a :class:`Document` (see ``base.py``); ``audio/parse.py``
takes it from there.
"""

from __future__ import annotations

import re

from .base import Document, Dropped, FoundMetadata, Label, Paragraph

__all__ = ["Document", "Dropped", "FoundMetadata", "Label", "Paragraph", "EXTENSIONS", "FORMATS", "detect_format",
           "read_document"]

FORMATS = ("text", "markdown", "webvtt", "srt", "podcast-json", "html", "docx")
_BY_EXTENSION = {".vtt": "webvtt", ".webvtt": "webvtt", ".srt": "srt", ".json": "podcast-json",
                 ".md": "markdown", ".markdown": "markdown", ".mdown": "markdown", ".txt": "text",
                 ".html": "html", ".htm": "html", ".xhtml": "html", ".docx": "docx"}
# what a transcript's file name may end in, when a folder is searched for transcripts (episode batch):
# not .html, as a show's folder holds its player pages; a page is a transcript when it is named
EXTENSIONS = tuple(ext for ext in _BY_EXTENSION if _BY_EXTENSION[ext] != "html")
_SNIFF_CHARS = 100_000  # detection reads the start only: a 10 MB file is recognised as fast as a small one
_SRT_START_RE = re.compile(r"\s*\d+[ \t]*\n[^\n]*-->")
_MARKDOWN_RE = re.compile(r"^(?:#{1,6}[ \t]+\S|\*\*[^*\n]{1,60}\*\*|__[^_\n]{1,60}__|\*[^*\s][^*\n]{0,60}:\*)"
                          r"|\]\((?:https?://|/|#)", re.M)
# a page's HTML: a doctype, <html>, or a page's elements with closing tags
_HTML_START_RE = re.compile(r"(?:<\?xml[^>]*>\s*)?(?:<!--.*?-->\s*)*<(?:!doctype\s+html|html|head|body)\b", re.I | re.S)
_HTML_PART_RE = re.compile(r"<(?:div|article|main|section|p|h[1-6]|table|dl|ul|ol|meta|title|span|header|nav)\b[^>]*>",
                           re.I)
_FRONT_MATTER_RE = re.compile(r"(?:---|\+\+\+)[ \t]*\n(?:[^\n]*\n){0,200}?(?:---|\+\+\+|\.\.\.)[ \t]*(?:\n|$)")


def detect_format(text: str, name: str = "") -> str:
    """One of FORMATS, from *text*'s content, with *name*'s extension as a hint."""
    head = text[:_SNIFF_CHARS].lstrip("\ufeff")
    start = head.lstrip()
    if start.startswith("WEBVTT"):
        return "webvtt"
    if start[:1] == "{" and start[1:].lstrip()[:1] in ('"', "}") or start[:1] == "[" and start[1:].lstrip()[:1] == "{":
        return "podcast-json"  # an object, or a list of them ("{Music}" or "[00:03] Ann:" are text)
    if _SRT_START_RE.match(head):
        return "srt"
    hinted = _BY_EXTENSION.get(name[name.rfind("."):].lower(), "") if "." in name else ""
    if hinted in ("webvtt", "srt", "podcast-json", "markdown", "html"):
        return hinted  # content fits several: the reader will say what is wrong with it
    if _HTML_START_RE.match(start) or start[:1] == "<" and _HTML_PART_RE.match(start) and "</" in head:
        return "html"
    if _FRONT_MATTER_RE.match(head) or _MARKDOWN_RE.search(head):
        return "markdown"
    return "text"


def read_document(text: str, *, source: str = "transcript", format: str | None = None) -> Document:
    """Read *text* (the file *source*) in *format*, or in the format detected."""
    # each reader is imported when a file needs it: a render of a text file
    # does not pay for compiling the caption readers' patterns
    # one kind of line end before anything looks at the text: detection's patterns end lines in "\n"
    text = text.lstrip("\ufeff").replace("\r\n", "\n").replace("\r", "\n")
    fmt = format or detect_format(text, source)
    if fmt == "webvtt":
        from .webvtt import read_webvtt
        return read_webvtt(text, source=source)
    if fmt == "srt":
        from .srt import read_srt
        return read_srt(text, source=source)
    if fmt == "podcast-json":
        from .podcast_json import read_podcast_json
        return read_podcast_json(text, source=source)
    if fmt == "html":
        from .html import read_html
        return read_html(text, source=source)
    if fmt == "docx":
        raise ValueError("a Word file is read from its bytes: read_docx")
    if fmt in ("markdown", "text"):
        from .text import read_text
        return read_text(text, source=source, md=fmt == "markdown")
    raise ValueError(f"unknown transcript format {fmt!r} (known: {', '.join(FORMATS)})")
