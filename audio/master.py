"""Stage 3d: mastering: level each turn, encode turns in parts, join the MP3s.

Each turn (with the pause before it) is levelled to the loudness target on
its own, as a producer's leveller balances host and guest.  Consecutive
turns are encoded together as parts of at least 20 s, each an MP3 of its
own; a part's MP3 is a function of its samples alone, so parts are mastered
in parallel and kept in a cache: after an edit only the part holding the
edited turn is levelled and encoded again.  The joined file is one CBR
stream whose chapters and captions move by the few milliseconds each join
adds (see :func:`join_offsets`).

Targets are checked on decoded MP3 audio, not on the signal before
encoding: at 64 kb/s the encoder takes about 0.45 LU away and lifts the
true peak by up to a decibel.  Each part is decoded and measured turn by
turn; the episode's integrated loudness is gated over the turns' 100 ms
energies together, as over the joined file, and its true peak is the
largest turn's.
"""

from __future__ import annotations

import concurrent.futures as cf
import contextlib
import hashlib
import json
import logging
import os
import tempfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from .encode import OUTPUT_RATE_HZ, SAMPLES_PER_FRAME, concat_mp3, count_frames, decode_in_process, encode_mp3
from .errors import EncodeError
from .loudness import LoudnessMeter, LoudnessReport, find_gain, integrated_from_energies, level_chunks

log = logging.getLogger(__name__)

VERSION = 4  # bump when levelling or encoding changes (invalidates cached parts)
# What 64 kb/s took from espeak-ng speech here (0.44 LU on 48 s of excerpts);
# a turn that still misses is levelled again with the measured loss.
ENCODER_LOSS_GUESS_LU = 0.45
FIRST_PEAK_MARGIN_DB = 1.5  # limiter ceiling under the true-peak target: the encoder lifts peaks
TURN_TOLERANCE_LU = 0.2
EPISODE_TOLERANCE_LU = 0.5  # Apple asks for -16 LUFS within 1 dB; aim at half that
MAX_PASSES = 3
MIN_PART_S = 20.0
# find_gain's last trial is the levelled turn itself: keeping it saves levelling
# again for the encoder (a fifth of mastering's Python time).  A 5-minute turn
# at 22.05 kHz is 26 MB of float32; longer ones are levelled again instead.
KEEP_LEVELLED_MAX_S = 300.0


@dataclass(frozen=True)
class MasteringTargets:
    target_lufs: float = -16.0
    true_peak_dbtp: float = -1.0
    bitrate_kbps: int = 64


@dataclass(frozen=True)
class MasteredPart:
    mp3: Path  # a complete MP3 of the part (one or more whole turns) alone
    frames: int  # MPEG audio frames, the Info frame not counted
    energies: np.ndarray  # K-weighted 100 ms energies of the decoded MP3, turn after turn
    true_peak_dbtp: float


@dataclass(frozen=True)
class Mastered:
    loudness: LoudnessReport  # of the decoded turns together
    offsets_ms: tuple[int, ...]  # per turn: where its first sample is heard in the joined MP3
    encoded: int  # turns levelled and encoded now
    from_cache: int


def join_offsets(frames: list[int], rate_hz: int = OUTPUT_RATE_HZ) -> list[int]:
    """Where each part's first input sample is heard in the joined MP3, in ms.

    Every part is its own LAME stream: its audio starts after the encoder's
    delay into its frames.  Players skip that delay once, at the start of
    the file (the joined file's LAME tag says so); later parts keep theirs,
    so part k starts exactly where the frames before it end.
    """
    offsets, total = [], 0
    for n in frames:
        offsets.append(round(total * 1000 / rate_hz))
        total += n * SAMPLES_PER_FRAME
    return offsets


def _key(samples: np.ndarray, starts: list[int], rate_hz: int, targets: MasteringTargets) -> str:
    digest = hashlib.sha256(json.dumps([VERSION, rate_hz, starts, targets.target_lufs, targets.true_peak_dbtp,
                                        targets.bitrate_kbps, ENCODER_LOSS_GUESS_LU]).encode())
    digest.update(np.ascontiguousarray(samples).tobytes())
    return digest.hexdigest()


class PartStore:
    """Mastered parts on disk: ``KEY.mp3`` and ``KEY.json`` (its measurements and the MP3's digest)."""

    def __init__(self, root: Path):
        self.root = Path(root)
        self.root.mkdir(parents=True, exist_ok=True)

    def load(self, key: str) -> MasteredPart | None:
        mp3, meta = self.root / f"{key}.mp3", self.root / f"{key}.json"
        try:
            info = json.loads(meta.read_text(encoding="utf-8"))
            if hashlib.sha256(mp3.read_bytes()).hexdigest() != info["sha256"]:
                raise ValueError("digest")
            return MasteredPart(mp3, int(info["frames"]), np.asarray(info["energies"], dtype=np.float64),
                                float(info["true_peak_dbtp"]))
        except FileNotFoundError:
            return None
        except (OSError, ValueError, KeyError, TypeError):
            log.warning("mastered part %s in the cache is damaged; making it again", key[:12])
            return None

    def save(self, key: str, part: MasteredPart) -> MasteredPart:
        mp3 = self.root / f"{key}.mp3"
        info = {"sha256": hashlib.sha256(part.mp3.read_bytes()).hexdigest(), "frames": part.frames,
                "energies": part.energies.tolist(), "true_peak_dbtp": part.true_peak_dbtp}
        os.replace(part.mp3, mp3)  # a concurrent render writes the same bytes: last one wins, both valid
        fd, tmp = tempfile.mkstemp(dir=self.root, suffix=".json.part")
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            json.dump(info, f)
        os.replace(tmp, self.root / f"{key}.json")
        return MasteredPart(mp3, part.frames, part.energies, part.true_peak_dbtp)


def _measure(mp3: Path, bounds: list[int]) -> list[LoudnessMeter]:
    """Meter the decoded MP3 turn by turn; *bounds* are where turns start, in output samples."""
    meters = [LoudnessMeter(OUTPUT_RATE_HZ) for _ in bounds]
    ends = [*bounds[1:], None]
    position, k = 0, 0
    for chunk in _batched(decode_in_process(mp3)):
        while chunk.size:
            take = chunk.size if ends[k] is None else min(chunk.size, ends[k] - position)
            meters[k].add(chunk[:take])
            chunk, position = chunk[take:], position + take
            if ends[k] is not None and position >= ends[k]:
                k += 1
    return meters


def _batched(frames, samples: int = OUTPUT_RATE_HZ * 10):
    """Decoded MP3 frames (1152 samples each) in pieces of about 10 s, for the meter."""
    pending, size = [], 0
    for frame in frames:
        pending.append(frame)
        size += len(frame)
        if size >= samples:
            yield np.concatenate(pending)
            pending, size = [], 0
    if pending:
        yield np.concatenate(pending)


def master_part(samples: np.ndarray, rate_hz: int, starts: list[int], targets: MasteringTargets,
                dest: Path) -> MasteredPart:
    """Level each turn of a part (``starts``: where they begin) as heard after encoding; one MP3.

    A turn that misses the targets after encoding is levelled again with
    what was measured, and the part encoded again.
    """
    turns = [samples[a:b] for a, b in zip(starts, [*starts[1:], len(samples)], strict=True)]
    aims = [targets.target_lufs + ENCODER_LOSS_GUESS_LU] * len(turns)
    ceilings = [targets.true_peak_dbtp - FIRST_PEAK_MARGIN_DB] * len(turns)
    gains: list[float | None] = [None] * len(turns)
    kept: list[tuple[np.ndarray, ...] | None] = [None] * len(turns)
    redo = set(range(len(turns)))
    for attempt in range(MAX_PASSES):
        for k in redo:
            try:
                found = find_gain(turns[k], rate_hz, target_lufs=aims[k], ceiling_db=ceilings[k],
                                  gain_db=gains[k], keep_max_s=KEEP_LEVELLED_MAX_S)
                gains[k], kept[k] = found.gain_db, found.chunks
            except ValueError:
                gains[k], kept[k] = 0.0, None  # a silent turn: nothing to level

        def levelled(k: int):
            if kept[k] is not None:
                return kept[k]
            return level_chunks(turns[k], rate_hz, gain_db=gains[k], ceiling_db=ceilings[k])

        encode_mp3((chunk for k in range(len(turns)) for chunk in levelled(k)), rate_hz, dest,
                   bitrate_kbps=targets.bitrate_kbps)
        meters = _measure(dest, [a * OUTPUT_RATE_HZ // rate_hz for a in starts])
        measured = [(m.integrated_lufs(), m.true_peak_dbtp()) for m in meters]
        redo = set()
        for k, (lufs, peak) in enumerate(measured):
            log.debug("turn pass %d: %.2f LUFS, %.2f dBTP (gain %.2f dB, limiter %.2f dBFS)",
                      attempt + 1, lufs, peak, gains[k], ceilings[k])
            if not np.isfinite(lufs):
                continue
            loudness_off = targets.target_lufs - lufs
            if peak <= targets.true_peak_dbtp and abs(loudness_off) <= TURN_TOLERANCE_LU:
                continue
            if peak > targets.true_peak_dbtp:
                ceilings[k] -= peak - targets.true_peak_dbtp + 0.2
            aims[k] += loudness_off
            redo.add(k)
        if not redo:
            break
    return MasteredPart(dest, count_frames(dest), np.concatenate([m.energy_blocks() for m in meters]),
                        max(peak for _, peak in measured))


def parts_of(turn_starts: list[int], length: int, rate_hz: int, min_part_s: float) -> list[list[int]]:
    """Consecutive turns grouped into parts of at least *min_part_s* (the last may be shorter)."""
    parts: list[list[int]] = [[]]
    ends = [*turn_starts[1:], length]
    for k, (a, b) in enumerate(zip(turn_starts, ends, strict=True)):
        parts[-1].append(k)
        if (b - turn_starts[parts[-1][0]]) >= min_part_s * rate_hz and k < len(turn_starts) - 1:
            parts.append([])
    return [p for p in parts if p]


def master_turns(samples: np.ndarray, rate_hz: int, turn_starts: list[int], dest: Path,
                 targets: MasteringTargets, cache_dir: Path | None, workers: int | None = None,
                 min_part_s: float = MIN_PART_S) -> Mastered:
    """Master each turn (``samples[turn_starts[k]:turn_starts[k+1]]``) and join them into *dest*.

    Turns are encoded in parts of at least *min_part_s*: starting ffmpeg
    costs about 70 ms, as much as encoding 12 s of speech, and a question
    is often shorter than that.
    """
    ends = [*turn_starts[1:], len(samples)]
    groups = parts_of(turn_starts, len(samples), rate_hz, min_part_s)
    spans = [(turn_starts[g[0]], ends[g[-1]]) for g in groups]
    inner = [[turn_starts[k] - turn_starts[g[0]] for k in g] for g in groups]
    with contextlib.ExitStack() as stack:
        scratch = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="episode-turns-")))
        store = PartStore(cache_dir if cache_dir is not None else scratch / "store")
        # made beside the store, so that moving a part into it is a rename
        tmp = stack.enter_context(tempfile.TemporaryDirectory(prefix=".making-", dir=store.root))
        keys = [_key(samples[a:b], starts, rate_hz, targets) for (a, b), starts in zip(spans, inner, strict=True)]
        done: dict[str, MasteredPart] = {}
        for key in dict.fromkeys(keys):
            if (part := store.load(key)) is not None:
                done[key] = part
        todo = {k: n for n, k in enumerate(keys) if k not in done}

        def work(key: str) -> tuple[str, MasteredPart]:
            n = todo[key]
            made = master_part(samples[spans[n][0]:spans[n][1]], rate_hz, inner[n], targets,
                               Path(tmp, f"{key}.mp3"))
            return key, store.save(key, made)

        # Longest first, so the last to finish is a short one; the encoder
        # runs in ffmpeg and numpy releases the GIL, so threads use every core.
        order = sorted(todo, key=lambda k: spans[todo[k]][0] - spans[todo[k]][1])
        with cf.ThreadPoolExecutor(max_workers=workers or os.cpu_count() or 1) as pool:
            for key, part in pool.map(work, order):
                done[key] = part
        parts = [done[k] for k in keys]
        energies = np.concatenate([p.energies for p in parts])
        report = LoudnessReport(integrated_from_energies(energies, OUTPUT_RATE_HZ),
                                max(p.true_peak_dbtp for p in parts))
        if report.true_peak_dbtp > targets.true_peak_dbtp or \
                abs(report.integrated_lufs - targets.target_lufs) > EPISODE_TOLERANCE_LU:
            raise EncodeError(f"could not meet {targets.target_lufs} LUFS and {targets.true_peak_dbtp} dBTP "
                              f"({report.integrated_lufs:.2f} LUFS, {report.true_peak_dbtp:.2f} dBTP)")
        concat_mp3([p.mp3 for p in parts], dest)
    encoded = sum(len(groups[n]) for n in todo.values())
    log.info("mastered %d turns (%d from cache): %.2f LUFS, %.2f dBTP", len(turn_starts),
             len(turn_starts) - encoded, report.integrated_lufs, report.true_peak_dbtp)
    part_offsets = join_offsets([p.frames for p in parts])
    offsets = [part_offsets[n] + round(start * 1000 / rate_hz)
               for n, starts in enumerate(inner) for start in starts]
    return Mastered(loudness=report, offsets_ms=tuple(offsets), encoded=encoded,
                    from_cache=len(turn_starts) - encoded)
