"""Web pages (a saved page, or a page's HTML copied to a file), read with a real HTML parser.

lxml (libxml2's HTML parser) reads the page: nothing in it is run or
fetched (no scripts, and no network: images, scripts, styles and frames
are never loaded).  Measured before choosing, on a 10 MB page of the seed's
turns (``<p><strong>NAME:</strong> ...``, inside a page with navigation,
scripts, styles and a footer), parse plus a walk of its blocks, median of
3 on the 2 shared cores: lxml 0.20 s, selectolax (lexbor) 0.11 s,
BeautifulSoup 1.25 s (lxml underneath) and 1.70 s (html.parser),
trafilatura 4.2 s (its extraction alone: over the 1 s the whole parse may
take).  On content, over a radio page and a ``<div>``-soup podcast page,
the three parsers kept the same blocks once the furniture below is set
aside; trafilatura's extraction kept the same text but also a "Subscribe on
Apple Podcasts ..." box, flattened ``<dt>``/``<dd>`` pairs into one list, and
gives no line numbers.  lxml is chosen: fast enough, the only one of the
fast two that gives each element's source line (which ``episode inspect``
reports), and what python-docx stands on anyway.

What is read:

- the content: the element whose class or id says "transcript", else the
  page's ``<article>``, ``<main>`` or ``<body>``, without navigation,
  headers, footers, asides, forms, figures, scripts, styles and elements
  whose class or id names such furniture (menus, share and subscribe
  boxes, newsletters, donations, related stories, comments, cookies);
- speakers from a ``<strong>``/``<b>`` label opening a block ("**PIA
  SOREL:** text", "<b>Pia</b>: text", a bold name alone), ``<dt>``/``<dd>``
  pairs, and table rows of speaker and text; then the same rules as plain
  text (``text.py``): labels, stage directions, footers, the transcript
  marker and show notes, headings as chapters, ``<hr>`` as a section break;
- metadata: the title from ``<h1>`` (else ``og:title``, else ``<title>``
  without the site's suffix), the show from the ``<title>``'s suffix or
  ``og:site_name``, the date from ``<time datetime>`` (else the
  publication date's ``<meta>``), the description from the summary
  paragraph (class summary, teaser, dek ...) or the page's description
  ``<meta>``, the language from ``<html lang>``.

Line numbers are the page source's.
"""

from __future__ import annotations

import datetime as _dt
import re

from ..errors import ParseError
from . import webpage
from .exports import is_timestamp
from .base import Document, Dropped, FoundMetadata
from .labels import bold_label, names_speaker
from .text import BLANK, BREAK, HEADING, LINE, read_items

_SKIPPED = frozenset("""script style noscript template svg math iframe frame frameset object embed applet canvas video
audio picture img map area nav form button select option input textarea label dialog figure head link meta title source
track param base menu""".split())
_FURNITURE = frozenset({"header", "footer", "aside"})
_BLOCKS = frozenset("""p div section article main li ul ol dl dt dd h1 h2 h3 h4 h5 h6 blockquote pre table thead tbody
tfoot tr td th caption address details summary figcaption center body hgroup fieldset legend hr br""".split())
_HEADINGS = {"h2", "h3", "h4", "h5", "h6"}
_PLAIN_INLINE = frozenset("strong b em i a span u small mark abbr cite q code sup sub time font s".split())
_SPECIAL_ATTRIBUTES = frozenset({"class", "id", "style", "hidden", "aria-hidden", "role"})
_BOLD = frozenset({"strong", "b"})
# class and id words of page furniture (matched as whole words of the class or id)
_FURNITURE_WORDS = frozenset("""nav navigation navbar menu menubar breadcrumb breadcrumbs header masthead footer sidebar
share sharing sharebar social subscribe subscription newsletter donate donation related recommended recirculation
comments comment cookie cookies consent banner promo promotion advert advertisement ad ads adslot sponsor sponsored
skip byline credit credits toolbar player modal popup signup login search pagination pager tags""".split())
_SUMMARY_WORDS = frozenset({"summary", "teaser", "dek", "standfirst", "lede", "subtitle", "subhead", "description",
                            "excerpt", "abstract", "deck"})
_HIDDEN_ROLES = frozenset({"navigation", "banner", "contentinfo", "complementary", "search", "dialog", "menu",
                           "menubar", "alert", "alertdialog"})
_WORDS_RE = re.compile(r"[a-z0-9]+")
_TITLE_SEPARATORS = (" | ", " : ", " – ", " — ", " - ", " · ", " :: ")
_DATE_RE = re.compile(r"(\d{4})-(\d{2})-(\d{2})")
_TABLE_HEAD_WORDS = frozenset({"speaker", "name", "who", "text", "transcript", "time", "timestamp", "words", "said"})


def _words(el) -> set[str]:
    """The words of an element's class and id ("site-header" -> {"site", "header"})."""
    value = (el.get("class") or "") + " " + (el.get("id") or "")
    return set(_WORDS_RE.findall(value.lower())) if value.strip() else set()


def _hidden(attrib) -> bool:
    return ("hidden" in attrib or attrib.get("aria-hidden") == "true"
            or (attrib.get("role") or "").lower() in _HIDDEN_ROLES
            or "display:none" in (attrib.get("style") or "").replace(" ", "").lower())


def _text(el) -> str:
    return " ".join("".join(el.itertext()).split())


def _size(el) -> int:
    return int(el.xpath("string-length(.)"))  # (in C: summing itertext() in Python took 0.1 s on 10 MB)


def _iso_date(value: str) -> str:
    match = _DATE_RE.search(value or "")
    if match is None:
        return ""
    try:
        return _dt.date(*map(int, match.groups())).isoformat()
    except ValueError:
        return ""


def _meta(root, *names: str) -> str:
    for name in names:
        for el in root.iter("meta"):
            if name in ((el.get("property") or "").lower(), (el.get("name") or "").lower(),
                        (el.get("itemprop") or "").lower()):
                content = " ".join((el.get("content") or "").split())
                if content:
                    return content
    return ""


def _content_root(body):
    """The transcript's element (class or id "transcript" with the most text), else article, main, body."""
    best, best_len = None, 0
    for el in body.xpath(".//*[contains(@class, 'ranscript') or contains(@id, 'ranscript') "
                         "or contains(@class, 'RANSCRIPT') or contains(@id, 'RANSCRIPT')]"):
        if el.tag not in _BLOCKS:
            continue
        words = _words(el)
        if "transcript" in words or "transcription" in words:
            size = _size(el)
            if size > best_len:
                best, best_len = el, size
    if best is not None:
        return best
    for tag in ("article", "main"):
        found = [el for el in body.iter(tag)]
        if found:
            return max(found, key=_size)
    found = [el for el in body.iter() if isinstance(el.tag, str) and (el.get("role") or "").lower() == "main"]
    return found[0] if found else body


class _Reader:
    """The content's blocks as the text reader's lines: (kind, source line, text, None)."""

    def __init__(self, root, keep: set, skip: set, title: str):
        self.items: list[tuple] = []
        self.keep = keep  # the content root and its ancestors: never furniture
        self.skip = skip  # elements read as metadata (the summary); (elements, not their id(): lxml makes
        # a new Python object for an element whose last one went, and the set keeps them alive)
        self.title = title.casefold()
        self.parts: list[str] = []
        self.started = False  # the line has text (not only spaces)
        self.bold: str | None = None  # a bold run that opened the line
        self.line = 0
        self.walk(root)
        self.flush()

    def flush(self, blank: bool = False) -> None:
        text = " ".join("".join(self.parts).split()) if self.started else ""
        bold, self.parts, self.bold, self.started = self.bold, [], None, False
        if text:
            self.items.append((LINE, self.line, bold_label(text, bold), None))
        if blank and self.items and self.items[-1][0] != BLANK:
            self.items.append((BLANK, self.line, "", None))

    def add(self, text: str | None, line: int) -> None:
        if text:
            if not self.started:
                self.line = line
                self.started = not text.isspace()
            self.parts.append(text)

    def furniture(self, el, tag: str) -> bool:
        if tag in _SKIPPED or tag in _FURNITURE:
            return el not in self.keep
        attrib = el.attrib
        if not attrib:  # most elements: <p>, <strong>
            return False
        if el in self.keep:
            return False
        if el in self.skip or _hidden(attrib):
            return True
        words = _words(el)
        return bool(words & _FURNITURE_WORDS) and not words & {"transcript", "transcription"}

    def walk(self, el) -> None:
        line = el.sourceline or self.line
        self.add(el.text, line)
        for child in el:
            tag = child.tag
            if not isinstance(tag, str):  # a comment or processing instruction: its tail is text
                self.add(child.tail, line)
                continue
            tag = tag.lower()
            if self.furniture(child, tag):
                pass
            elif tag == "br":
                self.flush()
                self.line = child.sourceline or line
            elif tag == "hr":
                self.flush(blank=True)
                self.items.append((BREAK, child.sourceline or line, "***", None))
            elif tag in _HEADINGS or tag == "h1":
                self.flush(blank=True)
                text = _text(child)
                if text and not (tag == "h1" and text.casefold() == self.title):
                    self.items.append((HEADING, child.sourceline or line, text, None))
                    self.items.append((BLANK, child.sourceline or line, "", None))
            elif tag == "tr":
                self.flush(blank=True)
                self.row(child)
            elif tag == "dt":
                self.flush(blank=True)
                self.label_line(_text(child), child.sourceline or line)
            elif tag in _BLOCKS:
                self.flush(blank=True)
                if not self.plain(child):
                    self.walk(child)
                self.flush(blank=True)
            elif tag in _BOLD and self.bold is None and not self.started:
                text = _text(child)
                self.add(text, child.sourceline or line)
                self.bold = text
            else:
                self.walk(child)
            self.add(child.tail, line)

    def plain(self, el) -> bool:
        """Read a block of text and plain inline elements only (most paragraphs) at once; False if it is not one."""
        first = None
        for child in el:
            if child.tag not in _PLAIN_INLINE or child.attrib and _SPECIAL_ATTRIBUTES & set(child.attrib):
                return False
            if first is None:
                first = child
        text = "".join(el.itertext())
        if not text or text.isspace():
            return True
        bold = None
        if first is not None and first.tag in _BOLD and (not el.text or el.text.isspace()):
            bold = "".join(first.itertext())
        text = " ".join(text.split())
        self.items.append((LINE, el.sourceline or self.line, bold_label(text, bold) if bold else text, None))
        return True

    def label_line(self, text: str, line: int) -> None:
        if text:
            label = f"**{text.rstrip().rstrip(':').rstrip()}:**"  # a name alone on its line: a label
            self.items.append((LINE, line, label if names_speaker(text) else text, None))
            self.items.append((BLANK, line, "", None))

    def row(self, tr) -> None:
        """A table row: (time,) speaker, text; a header row of "Speaker", "Text" is no speech."""
        cells = [c for c in tr if isinstance(c.tag, str) and c.tag.lower() in ("td", "th")]
        texts = [_text(c) for c in cells]
        line = tr.sourceline or self.line
        if all(c.tag.lower() == "th" for c in cells) or texts and all(
                t.casefold().rstrip(":") in _TABLE_HEAD_WORDS for t in texts if t):
            return
        named = [i for i, t in enumerate(texts[:-1]) if t and names_speaker(t)]
        if len(texts) >= 2 and named:
            self.label_line(texts[named[0]], line)
            texts = texts[named[0] + 1:]
        for text in texts:
            if text and not is_timestamp(text):
                self.items.append((LINE, line, text, None))
                self.items.append((BLANK, line, "", None))


def _metadata(tree, root, title_el) -> tuple[FoundMetadata, set]:
    found: dict[str, tuple[object, str]] = {}
    page_title = " ".join((tree.findtext(".//title") or "").split())
    parts = [page_title]
    for sep in _TITLE_SEPARATORS:
        if sep in page_title:
            parts = [p.strip() for p in page_title.split(sep) if p.strip()]
            break
    if title_el is not None:
        found["title"] = (_text(title_el), f"the <h1> on line {title_el.sourceline}")
    elif _meta(tree, "og:title"):
        found["title"] = (_meta(tree, "og:title"), "the page's og:title")
    elif parts[0]:
        found["title"] = (parts[0], "the page's <title>")
    if "title" in found:
        episode = webpage.episode_of(str(found["title"][0]))
        if episode is not None:
            found["episode_number"] = (episode[0], found["title"][1])
            if episode[1]:
                found["title"] = (episode[1], found["title"][1])
    show = parts[1] if len(parts) > 1 else _meta(tree, "og:site_name")
    if show:
        found["show"] = (show, "the page's <title>" if len(parts) > 1 else "the page's og:site_name")
    times = [el for el in root.iter("time") if el.get("datetime")] or [
        el for el in tree.iter("time") if el.get("datetime")]
    date = next((d for d in (_iso_date(el.get("datetime")) for el in times) if d), "")
    if date:
        found["date"] = (date, f"the <time> on line {times[0].sourceline}")
    else:
        date = _iso_date(_meta(tree, "article:published_time", "datepublished", "date", "pubdate", "dc.date"))
        if date:
            found["date"] = (date, "the page's publication date")
    skip: set = set()
    summary = next((el for el in tree.iter() if isinstance(el.tag, str) and el.tag in _BLOCKS
                    and _words(el) & _SUMMARY_WORDS and _text(el) and not _words(el) & {"transcript"}), None)
    if summary is not None:
        found["description"] = (_text(summary), f"the summary on line {summary.sourceline}")
        skip.add(summary)
    elif _meta(tree, "description", "og:description"):
        found["description"] = (_meta(tree, "description", "og:description"), "the page's description")
    author = _meta(tree, "author")
    if author:
        found["author"] = (author, "the page's author")
    html = tree.getroottree().getroot()
    if html is not None and (html.get("lang") or "").strip():
        found["language"] = (html.get("lang").strip(), "<html lang>")
    return FoundMetadata().merged(**found), skip


def read_html(text: str, *, source: str) -> Document:
    import lxml.etree

    # no_network: nothing the page names is fetched; scripts are never run (libxml2 runs none).
    # (lxml.etree's own elements: lxml.html's look their class up in Python for every element, 0.3 s in 10 MB)
    parser = lxml.etree.HTMLParser(encoding="utf-8", no_network=True, remove_comments=True, remove_pis=True,
                                   huge_tree=True)
    try:
        tree = lxml.etree.fromstring(text.encode("utf-8", "surrogatepass"), parser=parser)
    except (lxml.etree.ParserError, lxml.etree.XMLSyntaxError, ValueError) as exc:
        raise ParseError(f"{source}: an HTML page with nothing in it ({exc})") from None
    if tree is None:
        raise ParseError(f"{source}: an HTML page with nothing in it")
    body = tree.find("body")
    if body is None:
        body = tree
    root = _content_root(body)
    h1s = [el for el in root.iter("h1")] or [el for el in body.iter("h1")]
    title_el = next((el for el in h1s if _text(el)), None)
    meta, skip = _metadata(tree, root, title_el)
    keep = {root, *root.iterancestors()}
    items = _Reader(root, keep, skip, meta.title if title_el is not None else "").items
    if not any(item[0] in (LINE, HEADING) for item in items):
        raise ParseError(f"{source}: an HTML page with no text to read (nothing outside scripts, styles and "
                         "the page's navigation)")
    dropped: list[Dropped] = []
    return read_items(items, meta, dropped, ["html"])
