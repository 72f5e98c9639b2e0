"""One exception root for everything `episode` reports to a user.

Each leaf also subclasses the builtin it is closest to, so callers that
already catch ``ValueError`` or ``OSError`` keep working (mutagen's
``ID3NoHeaderError(error, ValueError)`` is the model).  The CLI turns any
``EpisodeError`` into a one-line message and a non-zero exit code.
"""

from __future__ import annotations


class EpisodeError(Exception):
    """Root of every error this toolkit raises on purpose."""


class InputError(EpisodeError, ValueError):
    """A file given to us cannot be used (missing, not text, empty...)."""


class ParseError(InputError):
    """The transcript has no usable turns or a label names nobody."""


class ManifestError(InputError):
    """The episode manifest is malformed or inconsistent."""


class VoiceError(InputError):
    """A voice is not installed or a speaker has no usable voice."""


class EngineMissingError(VoiceError, ModuleNotFoundError):
    """A speech engine's Python package is not installed (the message says what to install)."""


class ToolMissingError(EpisodeError, FileNotFoundError):
    """An external program (espeak-ng, ffmpeg, ffprobe) is not installed."""


class SynthesisError(EpisodeError, RuntimeError):
    """The text-to-speech worker hung, crashed or wrote no usable audio."""


class EncodeError(EpisodeError, RuntimeError):
    """FFmpeg (the program or its libraries) failed to encode, filter or decode audio."""


class TagError(EpisodeError, ValueError):
    """Tags or chapters cannot be written or read as asked."""


class OutputError(EpisodeError, OSError):
    """The destination cannot be written."""


class VerifyError(EpisodeError, RuntimeError):
    """The round-trip check could not run (model missing, no audio...)."""


class ArtworkError(InputError):
    """Cover art is unreadable or not what podcast directories take (square JPEG/PNG, 1400-3000 px)."""
