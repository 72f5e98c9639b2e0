"""`episode init`: a manifest written from what the parser inferred, for a person to edit.

The manifest holds the speakers (ids, names, labels, roles, default voices),
the episode's metadata and the chapter titles, each with a comment saying
where it came from, and commented lines for what was not inferred (a
speaker's gender, pauses, respellings).  It is checked by the manifest's own
loader before it is written, and never replaces a file without ``force``.
"""

from __future__ import annotations

import json
import tomllib
from pathlib import Path

from .engines import derived
from .episode import Episode, load_episode, words_spoken
from .errors import InputError
from .manifest import Pauses, manifest_from_dict
from .voices import talk_order


def _str(value: str) -> str:
    """A TOML basic string (JSON's escapes are TOML's, but for DEL)."""
    return json.dumps(value, ensure_ascii=False).replace("\x7f", "\\u007f")


def _line(key: str, value: object, comment: str = "") -> str:
    if isinstance(value, str):
        text = f"{key} = {_str(value)}"
    elif isinstance(value, (list, tuple)):
        text = f"{key} = [{', '.join(_str(v) for v in value)}]"
    else:
        text = f"{key} = {value}"
    return f"{text}  # {comment}" if comment else text


def manifest_text(episode: Episode) -> str:
    """The manifest `episode init` writes for *episode* (parsed without one)."""
    name = episode.source.name
    meta, found, man = episode.metadata, episode.found, episode.manifest
    out = [f"# Episode manifest for {name}, written by `episode init` from what it inferred.",
           f"# Read as {episode.format}.  Edit anything: this file wins over the transcript.",
           f"# Then: episode inspect {name}    and    episode render {name}", ""]
    doubtful = [d for d in episode.decisions if d.doubtful]
    if doubtful:
        out.append("# To check:")
        out += [f"#   line {d.line_no}: {d.message}" if d.line_no else f"#   {d.message}" for d in doubtful]
        out.append("")

    def origin(field: str, fallback: str) -> str:
        where = found.origin(field)
        return f"from {where}" if where else fallback

    out.append("[episode]")
    out.append(_line("title", meta.title, origin("title", "not in the transcript: from the file name")))
    out.append(_line("show", meta.show, origin("show", "the title, until you name the show")))
    out.append(_line("author", meta.author, origin("author", "not in the transcript")))
    out.append(_line("date", meta.date, origin("date", "not in the transcript: today's date")))
    out.append(_line("language", meta.language, origin("language", "")))
    out.append(_line("description", meta.description, origin("description", "not in the transcript")))
    if meta.number:
        out.append(_line("number", meta.number, origin("episode_number", "")))
    else:
        out.append("# number = 1")
    if any(t.narration for t in episode.turns) and man.narrator:
        out.append(_line("narrator", man.narrator, "reads the lines before the first label"))
    host = next((d for d in episode.decisions if d.message.startswith("host: ")), None)
    words = words_spoken(episode.turns)
    order = [man.speakers[i].id for i in talk_order(man.speakers, words)]
    for s in man.speakers:
        out += ["", "[[speakers]]", _line("id", s.id), _line("name", s.name)]
        out.append(_line("labels", list(s.labels), "as written in the transcript"))
        # "host: NAME (WHY)", and WHY may hold brackets of its own ("asks the most questions (2)")
        why = f"{host.message.partition(' (')[2].removesuffix(')')}, line {host.line_no}" if host and s.role == "host" else ""
        out.append(_line("role", s.role, why))
        if s.description:
            out.append(_line("description", s.description, "the role in the label"))
        out.append(_line("voice", s.voice, _voice_reason(s, words.get(s.id, 0), order.index(s.id) + 1)))
        out.append('# gender = ""  # "female" or "male": default voices follow it; never guessed from a name')
        out.append(_line("rate_wpm", s.rate_wpm))
    pauses = Pauses()
    out += ["", "[render]", f"# sentence_pause_ms = {pauses.sentence_pause_ms}",
            f"# turn_pause_ms = {pauses.turn_pause_ms}",
            f"# chapter_pause_ms = {pauses.chapter_pause_ms}  # also after a section break (***)",
            "", "[chapter_titles]  # chapter number = title; these are the titles inferred"]
    out += [f"# {c.index + 1} = {_str(c.title)}" for c in episode.chapters]
    out += ["", "[lexicon]  # written word = respelling, for the speech engine only",
            '# "Nguyen" = "Win"', ""]
    return "\n".join(out)


def _voice_reason(speaker, words: int, chooses: int) -> str:
    """Why a default voice: its rank, and the speaker's place by talk time, words and gender."""
    rank = derived.rank(speaker.voice)
    which = f"default voice {rank} of {len(derived.RANKED)} natural ones" if rank else "a default voice"
    place = "the host chooses first" if chooses == 1 and speaker.role in ("host", "narrator") else \
        f"chooses {_ordinal(chooses)} by talk time"
    gender = speaker.gender or "not given"
    return f"{which} (see `episode voices`): {words} word{'' if words == 1 else 's'}, {place}; gender {gender}"


def _ordinal(n: int) -> str:
    return f"{n}{'th' if 10 <= n % 100 <= 20 else {1: 'st', 2: 'nd', 3: 'rd'}.get(n % 10, 'th')}"


def init_manifest(transcript: Path, *, force: bool = False) -> tuple[Path, Episode]:
    """Write TRANSCRIPT.toml from what the parser infers; return it and the episode."""
    from .files import write_atomic

    transcript = Path(transcript)
    dest = transcript.with_suffix(".toml")
    if dest == transcript:
        raise InputError(f"{transcript} is a .toml file: give the transcript, not a manifest")
    if dest.exists() and not force:
        raise InputError(f"{dest} already exists: edit it, or use --force to replace it")
    episode = load_episode(transcript, find_manifest=False)
    text = manifest_text(episode)
    # the file must load as a manifest: check it before it replaces anything
    manifest_from_dict(tomllib.loads(text), source=str(dest))
    write_atomic(dest, text)
    return dest, episode
