"""The defaults of episode's checkout: the seed interview, rendered into output/.

The README's first command, ``.venv/bin/episode render``, renders the seed
from the checkout.  An installed episode (pip, pipx) is run from anywhere
else, where neither the seed nor output/ is: a default that needs them is
refused in one line, saying what to give instead.
"""

from __future__ import annotations

from pathlib import Path

from .errors import InputError

SEED = Path("seeds/flashpoint-iran-zelin.txt")
DEFAULT_OUT_DIR = Path("output")


def in_checkout() -> bool:
    """Run from episode's checkout (its seed is here)."""
    return SEED.is_file()


def transcript_or_seed(transcript: Path | None, command: str) -> Path:
    if transcript is not None:
        return transcript
    if not in_checkout():
        raise InputError(f"give a TRANSCRIPT (episode {command} TRANSCRIPT): the default, the seed interview {SEED}, "
                         "is only in episode's checkout")
    return SEED


def out_or_default(out: Path | None, transcript: Path) -> Path:
    """The MP3 to write: as given, else output/TRANSCRIPT.mp3 in the checkout."""
    if out is not None:
        return out
    if not in_checkout():
        raise InputError(f"give the MP3 to write (-o OUT.mp3): the default, {DEFAULT_OUT_DIR}/TRANSCRIPT.mp3, "
                         "is for episode's checkout")
    return DEFAULT_OUT_DIR / f"{Path(transcript).stem}.mp3"
