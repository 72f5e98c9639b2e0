"""Stage 6b: an RSS 2.0 feed with one item, with Podcasting 2.0 tags."""

from __future__ import annotations

import datetime as _dt
import email.utils
import hashlib
from xml.etree import ElementTree as ET

from .manifest import Metadata

ITUNES_NS = "http://www.itunes.com/dtds/podcast-1.0.dtd"
PODCAST_NS = "https://podcastindex.org/namespace/1.0"
ET.register_namespace("itunes", ITUNES_NS)
ET.register_namespace("podcast", PODCAST_NS)


def _it(tag: str) -> str:
    return f"{{{ITUNES_NS}}}{tag}"


def _pc(tag: str) -> str:
    return f"{{{PODCAST_NS}}}{tag}"


def _duration(ms: int) -> str:
    seconds = round(ms / 1000)
    return f"{seconds // 3600:02d}:{seconds % 3600 // 60:02d}:{seconds % 60:02d}"


def _pub_date(date: str) -> str:
    try:
        day = _dt.date.fromisoformat(date[:10])
    except ValueError:
        day = _dt.date.today()
    moment = _dt.datetime(day.year, day.month, day.day, 12, 0, tzinfo=_dt.timezone.utc)
    return email.utils.format_datetime(moment)


def build_feed(metadata: Metadata, *, base_url: str, mp3_name: str, mp3_bytes: int, duration_ms: int,
               vtt_name: str | None, chapters_name: str | None, transcript_json_name: str | None,
               srt_name: str | None, words_json_name: str | None = None) -> bytes:
    """The feed as UTF-8 XML bytes; links are *base_url* + file name (relative when empty)."""
    def url(name: str) -> str:
        return f"{base_url.rstrip('/')}/{name}" if base_url else name

    rss = ET.Element("rss", {"version": "2.0"})
    channel = ET.SubElement(rss, "channel")
    ET.SubElement(channel, "title").text = metadata.show
    ET.SubElement(channel, "link").text = base_url or "./"
    ET.SubElement(channel, "description").text = metadata.description or metadata.show
    ET.SubElement(channel, "language").text = metadata.language
    ET.SubElement(channel, _it("author")).text = metadata.author or metadata.show
    ET.SubElement(channel, _it("explicit")).text = "false"
    ET.SubElement(channel, _it("category"), {"text": "News"})

    item = ET.SubElement(channel, "item")
    ET.SubElement(item, "title").text = metadata.title
    ET.SubElement(item, "description").text = metadata.description or metadata.title
    ET.SubElement(item, "pubDate").text = _pub_date(metadata.date)
    guid = hashlib.sha256(f"{metadata.show}\n{metadata.title}\n{metadata.date}".encode()).hexdigest()[:32]
    ET.SubElement(item, "guid", {"isPermaLink": "false"}).text = guid
    ET.SubElement(item, "enclosure", {"url": url(mp3_name), "length": str(mp3_bytes), "type": "audio/mpeg"})
    ET.SubElement(item, _it("duration")).text = _duration(duration_ms)
    ET.SubElement(item, _it("author")).text = metadata.author or metadata.show
    ET.SubElement(item, _it("episodeType")).text = "full"
    if vtt_name:
        ET.SubElement(item, _pc("transcript"), {"url": url(vtt_name), "type": "text/vtt",
                                                 "language": metadata.language, "rel": "captions"})
    if srt_name:
        ET.SubElement(item, _pc("transcript"), {"url": url(srt_name), "type": "application/x-subrip",
                                                 "language": metadata.language, "rel": "captions"})
    if transcript_json_name:
        ET.SubElement(item, _pc("transcript"), {"url": url(transcript_json_name), "type": "application/json",
                                                 "language": metadata.language})
    if words_json_name:  # the same transcript, one segment per word: for read-along
        ET.SubElement(item, _pc("transcript"), {"url": url(words_json_name), "type": "application/json",
                                                 "language": metadata.language})
    if chapters_name:
        ET.SubElement(item, _pc("chapters"), {"url": url(chapters_name), "type": "application/json+chapters"})
    ET.indent(rss)
    return ET.tostring(rss, encoding="utf-8", xml_declaration=True)
