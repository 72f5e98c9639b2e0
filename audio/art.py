"""Stage 6c: cover art, checked or made with Pillow.

Apple Podcasts takes a square JPEG or PNG of 1400 to 3000 px in RGB, and
shows it mostly as a thumbnail of about 55 px: a generated cover is the
show's title set as large as it fits, white on a dark colour, so that it
still reads at that size.  The font is the one bundled inside Pillow
(nothing is downloaded), made heavier with a stroke of its own colour.
"""

from __future__ import annotations

import contextlib
import hashlib
import io
import json
import textwrap
from dataclasses import dataclass
from pathlib import Path

from .errors import ArtworkError
from .files import write_atomic

MIN_SIDE_PX = 1400
MAX_SIDE_PX = 3000
COVER_SIDE_PX = 3000
THUMBNAIL_PX = 55  # what podcast apps browse shows at
_FORMATS = {"JPEG": ("image/jpeg", "jpg"), "PNG": ("image/png", "png")}
# Dark backgrounds, each over 7:1 against white text (WCAG AAA), picked by the title.
PALETTE = ((0x12, 0x2b, 0x4a), (0x5a, 0x16, 0x2b), (0x1c, 0x3d, 0x2e), (0x3b, 0x1f, 0x5c), (0x33, 0x33, 0x33))
TEXT_RGB = (255, 255, 255)
_MARGIN = 0.08  # of the side, around the title
_MAX_LINES = 5


@dataclass(frozen=True)
class Artwork:
    """An image as it is published: its bytes, kind and size."""

    data: bytes
    mime: str  # image/jpeg or image/png
    side_px: int

    @property
    def extension(self) -> str:
        return "jpg" if self.mime == "image/jpeg" else "png"

    @property
    def digest(self) -> str:
        return hashlib.sha256(self.data).hexdigest()


def check_artwork(data: bytes, source: str) -> Artwork:
    """*data* as an :class:`Artwork`, or an ArtworkError saying what Apple would refuse."""
    from PIL import Image, UnidentifiedImageError

    try:
        with Image.open(io.BytesIO(data)) as image:
            kind, (width, height), mode = image.format, image.size, image.mode
            image.load()  # a truncated file fails here, not in a podcast app
    except (UnidentifiedImageError, OSError, SyntaxError, ValueError) as exc:
        # Pillow's "cannot identify image file <_io.BytesIO object at 0x...>" says no more than this
        lines = [] if isinstance(exc, UnidentifiedImageError) else str(exc).strip().splitlines()
        raise ArtworkError(f"{source}: not a readable image ({lines[0] if lines else 'unknown format'})") from None
    if kind not in _FORMATS:
        raise ArtworkError(f"{source}: cover art must be JPEG or PNG, not {kind}")
    if width != height:
        raise ArtworkError(f"{source}: cover art must be square, not {width}x{height} px")
    if width < MIN_SIDE_PX:
        raise ArtworkError(f"{source}: cover art is {width}x{height} px; Apple Podcasts needs at least "
                           f"{MIN_SIDE_PX}x{MIN_SIDE_PX}")
    if width > MAX_SIDE_PX:
        raise ArtworkError(f"{source}: cover art is {width}x{height} px; Apple Podcasts takes at most "
                           f"{MAX_SIDE_PX}x{MAX_SIDE_PX}")
    if mode == "CMYK":
        raise ArtworkError(f"{source}: cover art must be RGB, not CMYK")
    return Artwork(data=data, mime=_FORMATS[kind][0], side_px=width)


def load_artwork(path: Path) -> Artwork:
    """Read and check a cover image file."""
    try:
        data = Path(path).read_bytes()
    except FileNotFoundError:
        raise ArtworkError(f"cover art not found: {path}") from None
    except OSError as exc:
        raise ArtworkError(f"cannot read cover art {path}: {exc.strerror}") from None
    return check_artwork(data, str(path))


def _fit(title: str, side_px: int):
    """The largest font and the line breaks that set *title* inside the margins."""
    from PIL import ImageFont

    box = side_px * (1 - 2 * _MARGIN)
    words = title.split() or ["Podcast"]
    for size in range(side_px // 4, side_px // 30, -side_px // 150):
        font = ImageFont.load_default(size=size)
        stroke = max(1, size // 28)
        longest = max(len(w) for w in words)
        for width in range(max(longest, 1), len(title) + 1):
            lines = textwrap.wrap(" ".join(words), width=width, break_long_words=False)
            if len(lines) > _MAX_LINES:
                continue
            if max(font.getlength(line) for line in lines) + 2 * stroke > box:
                break  # wider lines only get wider
            line_px = size * 1.15
            if len(lines) * line_px <= box:
                return font, stroke, lines, line_px
    font = ImageFont.load_default(size=side_px // 30)
    return font, 1, textwrap.wrap(title, width=40)[:_MAX_LINES], side_px // 30 * 1.15


def cached_cover(title: str, cache_dir: Path | None, side_px: int = COVER_SIDE_PX) -> Artwork:
    """:func:`generate_cover`, kept in *cache_dir* (None: made afresh).

    Drawing and compressing 3000 px takes about 0.1 s, a fifteenth of a
    warm re-render after an edit.  The key holds this module's source and
    Pillow's version, so that a cover drawn differently is made again.
    """
    from PIL import __version__ as pillow

    try:
        source = Path(__file__).read_bytes()
    except OSError:  # installed without its source: nothing to key the cache on
        cache_dir = None
    if cache_dir is None:
        return generate_cover(title, side_px)
    path = cache_dir / f"{hashlib.sha256(json.dumps([pillow, side_px, title]).encode() + source).hexdigest()}.jpg"
    with contextlib.suppress(OSError):
        kept = path.read_bytes()
        if kept.startswith(b"\xff\xd8\xff") and kept.endswith(b"\xff\xd9"):  # a whole JPEG, not a cut copy
            return Artwork(data=kept, mime="image/jpeg", side_px=side_px)
    art = generate_cover(title, side_px)
    with contextlib.suppress(OSError):  # a cache that cannot be written (OutputError too) is only slower
        cache_dir.mkdir(parents=True, exist_ok=True)
        write_atomic(path, art.data)
    return art


def generate_cover(title: str, side_px: int = COVER_SIDE_PX) -> Artwork:
    """A square JPEG with *title* set large, the same bytes for the same title."""
    from PIL import Image, ImageDraw

    background = PALETTE[int(hashlib.sha256(title.encode()).hexdigest(), 16) % len(PALETTE)]
    image = Image.new("RGB", (side_px, side_px), background)
    draw = ImageDraw.Draw(image)
    font, stroke, lines, line_px = _fit(title.strip(), side_px)
    top = (side_px - len(lines) * line_px) / 2
    for n, line in enumerate(lines):
        draw.text((side_px / 2, top + (n + 0.5) * line_px), line, font=font, fill=TEXT_RGB, anchor="mm",
                  stroke_width=stroke, stroke_fill=TEXT_RGB)
    # A band along the foot marks it as a show's cover, not a slide; thin
    # enough to stay clear of the title.
    band = side_px // 60
    draw.rectangle((0, side_px - band, side_px, side_px), fill=TEXT_RGB)
    out = io.BytesIO()
    image.save(out, "JPEG", quality=90, optimize=True)
    return Artwork(data=out.getvalue(), mime="image/jpeg", side_px=side_px)
