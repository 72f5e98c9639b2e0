"""Stage 3d: mastering: level each turn and encode it; join the MP3s.

Each turn (with the pause before it) is levelled to the loudness target on
its own, as a producer's leveller balances host and guest, and encoded as
an MP3 of its own.  That makes a turn's MP3 a function of its samples
alone, so turns are mastered in parallel and kept in a cache: after an edit
only the edited turn is levelled and encoded again.  The joined file is one
CBR stream whose chapters and captions move by the few milliseconds each
join adds (see :func:`join_offsets`).

Targets are checked on decoded MP3 audio, not on the signal before
encoding: at 64 kb/s the encoder takes about 0.45 LU away and lifts the
true peak by up to a decibel.  Each turn is decoded and measured; the
episode's integrated loudness is gated over the turns' 100 ms energies
together, exactly as over the joined file, and its true peak is the
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

VERSION = 1  # bump when levelling or encoding changes (invalidates cached turns)
# What 64 kb/s took from espeak-ng speech here (0.44 LU on 48 s of excerpts);
# a turn that still misses is levelled again with the measured loss.
ENCODER_LOSS_GUESS_LU = 0.45
FIRST_PEAK_MARGIN_DB = 1.5  # limiter ceiling under the true-peak target: the encoder lifts peaks
TURN_TOLERANCE_LU = 0.2
EPISODE_TOLERANCE_LU = 0.5  # Apple asks for -16 LUFS within 1 dB; aim at half that
MAX_PASSES = 3


@dataclass(frozen=True)
class MasteringTargets:
    target_lufs: float = -16.0
    true_peak_dbtp: float = -1.0
    bitrate_kbps: int = 64


@dataclass(frozen=True)
class MasteredTurn:
    mp3: Path  # a complete MP3 of the turn alone
    frames: int  # MPEG audio frames, the Info frame not counted
    energies: np.ndarray  # K-weighted 100 ms energies of the decoded MP3
    true_peak_dbtp: float
    gain_db: float


@dataclass(frozen=True)
class Mastered:
    loudness: LoudnessReport  # of the decoded turns together
    offsets_ms: tuple[int, ...]  # per turn: where its first sample is heard in the joined MP3
    encoded: int  # turns levelled and encoded now
    from_cache: int


def join_offsets(frames: list[int], rate_hz: int = OUTPUT_RATE_HZ) -> list[int]:
    """Where each part's first input sample is heard in the joined MP3, in ms.

    Every part is its own LAME stream: its audio starts ENCODER_DELAY_SAMPLES
    into its frames.  Players skip that delay once, at the start of the file
    (the joined file's LAME tag says so); later parts keep theirs, so part k
    starts exactly where the frames before it end.
    """
    offsets, total = [], 0
    for n in frames:
        offsets.append(round(total * 1000 / rate_hz))
        total += n * SAMPLES_PER_FRAME
    return offsets


def _key(samples: np.ndarray, rate_hz: int, targets: MasteringTargets) -> str:
    digest = hashlib.sha256(json.dumps([VERSION, rate_hz, targets.target_lufs, targets.true_peak_dbtp,
                                        targets.bitrate_kbps, ENCODER_LOSS_GUESS_LU]).encode())
    digest.update(np.ascontiguousarray(samples).tobytes())
    return digest.hexdigest()


class TurnStore:
    """Mastered turns on disk: ``KEY.mp3`` and ``KEY.json`` (its measurements and the MP3's digest)."""

    def __init__(self, root: Path):
        self.root = Path(root)
        self.root.mkdir(parents=True, exist_ok=True)

    def load(self, key: str) -> MasteredTurn | None:
        mp3, meta = self.root / f"{key}.mp3", self.root / f"{key}.json"
        try:
            info = json.loads(meta.read_text(encoding="utf-8"))
            if hashlib.sha256(mp3.read_bytes()).hexdigest() != info["sha256"]:
                raise ValueError("digest")
            return MasteredTurn(mp3, int(info["frames"]), np.asarray(info["energies"], dtype=np.float64),
                                float(info["true_peak_dbtp"]), float(info["gain_db"]))
        except FileNotFoundError:
            return None
        except (OSError, ValueError, KeyError, TypeError):
            log.warning("mastered turn %s in the cache is damaged; making it again", key[:12])
            return None

    def save(self, key: str, made: Path, turn: MasteredTurn) -> MasteredTurn:
        mp3 = self.root / f"{key}.mp3"
        info = {"sha256": hashlib.sha256(made.read_bytes()).hexdigest(), "frames": turn.frames,
                "energies": turn.energies.tolist(), "true_peak_dbtp": turn.true_peak_dbtp, "gain_db": turn.gain_db}
        os.replace(made, mp3)  # a concurrent render writes the same bytes: last one wins, both valid
        fd, tmp = tempfile.mkstemp(dir=self.root, suffix=".json.part")
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            json.dump(info, f)
        os.replace(tmp, self.root / f"{key}.json")
        return MasteredTurn(mp3, turn.frames, turn.energies, turn.true_peak_dbtp, turn.gain_db)


def _measure(mp3: Path) -> tuple[np.ndarray, float]:
    meter = LoudnessMeter(OUTPUT_RATE_HZ)
    for chunk in _batched(decode_in_process(mp3)):
        meter.add(chunk)
    return meter.energy_blocks(), meter.true_peak_dbtp()


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


def master_turn(samples: np.ndarray, rate_hz: int, targets: MasteringTargets, dest: Path) -> MasteredTurn:
    """Level one turn to the targets as heard after encoding; write its MP3 to *dest*."""
    aim = targets.target_lufs + ENCODER_LOSS_GUESS_LU
    ceiling = targets.true_peak_dbtp - FIRST_PEAK_MARGIN_DB
    gain_db = None
    for attempt in range(MAX_PASSES):
        try:
            gain_db = find_gain(samples, rate_hz, target_lufs=aim, ceiling_db=ceiling, gain_db=gain_db).gain_db
        except ValueError:
            gain_db = 0.0  # a silent turn: nothing to level
        encode_mp3(level_chunks(samples, rate_hz, gain_db=gain_db, ceiling_db=ceiling), rate_hz, dest,
                   bitrate_kbps=targets.bitrate_kbps)
        energies, peak = _measure(dest)
        lufs = integrated_from_energies(energies, OUTPUT_RATE_HZ)
        log.debug("turn pass %d: %.2f LUFS, %.2f dBTP (gain %.2f dB, limiter %.2f dBFS)",
                  attempt + 1, lufs, peak, gain_db, ceiling)
        if not np.isfinite(lufs):
            break
        loudness_off = targets.target_lufs - lufs
        if peak <= targets.true_peak_dbtp and abs(loudness_off) <= TURN_TOLERANCE_LU:
            break
        if peak > targets.true_peak_dbtp:
            ceiling -= peak - targets.true_peak_dbtp + 0.2
        aim += loudness_off
    return MasteredTurn(dest, count_frames(dest), energies, peak, gain_db)


def master_turns(samples: np.ndarray, rate_hz: int, turn_starts: list[int], dest: Path,
                 targets: MasteringTargets, cache_dir: Path | None, workers: int | None = None) -> Mastered:
    """Master each turn (``samples[turn_starts[k]:turn_starts[k+1]]``) and join them into *dest*."""
    bounds = [*turn_starts[1:], len(samples)]
    parts = [samples[a:b] for a, b in zip(turn_starts, bounds, strict=True)]
    with contextlib.ExitStack() as stack:
        scratch = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="episode-turns-")))
        store = TurnStore(cache_dir if cache_dir is not None else scratch / "store")
        # made beside the store, so that moving a turn into it is a rename
        tmp = stack.enter_context(tempfile.TemporaryDirectory(prefix=".making-", dir=store.root))
        keys = [_key(p, rate_hz, targets) for p in parts]
        done: dict[str, MasteredTurn] = {}
        for key in dict.fromkeys(keys):
            if (turn := store.load(key)) is not None:
                done[key] = turn
        from_cache = sum(1 for k in keys if k in done)
        todo = {k: p for k, p in zip(keys, parts, strict=True) if k not in done}

        def work(key: str) -> tuple[str, MasteredTurn]:
            made = master_turn(todo[key], rate_hz, targets, Path(tmp, f"{key}.mp3"))
            return key, store.save(key, made.mp3, made)

        # Longest first, so the last to finish is a short one; the encoder
        # runs in ffmpeg and numpy releases the GIL, so threads use every core.
        order = sorted(todo, key=lambda k: -len(todo[k]))
        with cf.ThreadPoolExecutor(max_workers=workers or os.cpu_count() or 1) as pool:
            for key, turn in pool.map(work, order):
                done[key] = turn
        turns = [done[k] for k in keys]
        energies = np.concatenate([t.energies for t in turns])
        report = LoudnessReport(integrated_from_energies(energies, OUTPUT_RATE_HZ),
                                max(t.true_peak_dbtp for t in turns), 0.0)
        if report.true_peak_dbtp > targets.true_peak_dbtp or \
                abs(report.integrated_lufs - targets.target_lufs) > EPISODE_TOLERANCE_LU:
            raise EncodeError(f"could not meet {targets.target_lufs} LUFS and {targets.true_peak_dbtp} dBTP "
                              f"({report.integrated_lufs:.2f} LUFS, {report.true_peak_dbtp:.2f} dBTP)")
        concat_mp3([t.mp3 for t in turns], dest)
    log.info("mastered %d turns (%d from cache): %.2f LUFS, %.2f dBTP", len(turns), from_cache,
             report.integrated_lufs, report.true_peak_dbtp)
    return Mastered(loudness=report, offsets_ms=tuple(join_offsets([t.frames for t in turns])),
                    encoded=len(todo), from_cache=from_cache)
