"""Voice samples: one short clip per default voice, so a producer can listen before choosing.

Each clip is rendered as an episode is (the same speech workers and cache,
levelled to the episode's loudness, a CBR MP3) from a one-line transcript,
and named by its voice: ``hibari_heart~deep.mp3``.
"""

from __future__ import annotations

import re
import tempfile
from dataclasses import replace
from pathlib import Path

from .errors import InputError, OutputError
from .render import RenderOptions, render
from .voices import candidates

MAX_SAMPLE_CHARS = 400  # a sample is a sentence or two, not an episode


def sample_name(voice: str) -> str:
    """A file name for *voice*: ``pyttsx3:gmw/en-us+m1`` -> ``pyttsx3_gmw_en-us+m1.mp3``."""
    return re.sub(r"[:/\\]+", "_", voice) + ".mp3"


def sample_voices(engine: str | None = None) -> list[str]:
    """The voices a sample is made of: those given out by default, in their order."""
    return [c.voice for c in candidates(engine)]


def write_samples(text: str, folder: Path, engine: str | None = None, options: RenderOptions = RenderOptions(),
                  progress=None) -> list[Path]:
    """Write one MP3 per default voice (of *engine*, or all) saying *text* into *folder*; return them."""
    from .episode import load_episode
    from .speak import Synthesizer, default_cache_dir

    text = " ".join(text.split())
    if not text:
        raise InputError("--sample needs some text to say")
    if len(text) > MAX_SAMPLE_CHARS:
        raise InputError(f"--sample text is {len(text)} characters: a sample says at most {MAX_SAMPLE_CHARS}")
    folder = Path(folder)
    if folder.exists() and not folder.is_dir():
        raise InputError(f"{folder} is a file, not a folder")
    voices = sample_voices(engine)
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError as exc:  # a path through a file, or no permission: one line, not a traceback
        raise OutputError(f"cannot make the folder {folder}: {exc.strerror or exc}") from None
    out = []
    with tempfile.TemporaryDirectory(prefix="episode-sample-") as tmp:
        source = Path(tmp) / "sample.txt"
        source.write_text(text + "\n", encoding="utf-8")
        base = load_episode(source, find_manifest=False)
        cache = (options.cache_dir or default_cache_dir()) if options.use_cache else None
        with Synthesizer(cache_dir=cache) as synth:
            for n, voice in enumerate(voices):
                man = base.manifest
                speakers = tuple(replace(s, voice=voice, pitch_st=0.0) for s in man.speakers)
                episode = replace(base, manifest=replace(man, speakers=speakers,
                                                         metadata=replace(man.metadata, title=voice)))
                dest = folder / sample_name(voice)
                render(episode, dest, options, synthesizer=synth)
                out.append(dest)
                if progress:
                    progress("samples", n + 1, len(voices))
    return out
