"""Stage 2a: which worker speaks which sentences: one lane a core, each a list of batches.

The engines differ sevenfold in what a sentence costs (Piper's ``joe``
speaks a character in about 3 ms of CPU, hibari in 0.45 ms, espeak-ng in
0.2 ms), and loading a neural voice costs as much as a dozen sentences, so
work is estimated per engine (each engine module's ``COST``) and laid out
by McNaughton's wrap-around rule: the lanes are filled one after the other
up to a capacity, and an engine's work that crosses a lane's end goes on
at the start of the next, which then loads that voice too.  The least
capacity that fits is found by bisection.  On the seed this loads hibari
once and Piper twice, where dealing equal batches per engine loaded each
twice and left a core idle while hibari loaded again at the end.

A clip does not depend on its batch (pyttsx3 speaks each job in a fresh
engine, the neural engines seed their noise per job), so a plan changes
when sentences are ready, never what they sound like.  Estimates are only
estimates: each lane's work is cut into pieces of a couple of seconds, and
a lane that runs out takes pieces from the end of another (see
:func:`steal`).
"""

from __future__ import annotations

import itertools
from collections import Counter, deque
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from . import engines

if TYPE_CHECKING:
    from .speak import SpeechJob

Item = tuple[Path, "SpeechJob"]

WORKER_START_MS = 300  # a worker process's Python and imports, before any voice: the same for every engine
# A load's CPU counted against a plan besides the time it ends: a core that loads a voice to end
# 0.2 s sooner takes 1.4 s from the other renders of a batch, and from the rest of this one.
LOAD_WEIGHT = 0.25
PIECE_MS = 2000  # estimated work per request: small enough for the last ones to be shared out
MIN_PIECE_MS = 400


@dataclass(frozen=True)
class Batch:
    engine: str
    items: tuple[Item, ...]
    work_ms: float  # estimated, without any load

    def __len__(self) -> int:
        return len(self.items)


def cost(engine: str) -> engines.WorkCost:
    return engines.engine(engine).COST


def work_ms(job: SpeechJob) -> float:
    c = cost(job.spec.engine)
    return c.per_job_ms + c.per_char_ms * len(job.text)


def setup_ms(engine: str) -> float:
    """What a lane pays before its first sentence of *engine*: a worker process and its voice."""
    return WORKER_START_MS + cost(engine).load_ms


def plan(items: Sequence[Item], lanes: int, max_batch: int) -> list[deque[Batch]]:
    """The items in at most *lanes* queues of batches (each at most *max_batch* sentences).

    For each number of lanes used and each order of the engines (there are
    at most three), the least capacity the wrap-around fills is found by
    bisection; of those plans, the one that ends first wins, each load
    counted at LOAD_WEIGHT of its time besides, so that a second core
    loads a voice only to save more than a little.
    """
    by_engine: dict[str, list[tuple[Item, float]]] = {}
    for item in items:
        by_engine.setdefault(item[1].spec.engine, []).append((item, work_ms(item[1])))
    total = sum(setup_ms(e) + sum(w for _, w in run) for e, run in by_engine.items())
    best: tuple[float, list] | None = None
    for used in range(1, max(1, min(lanes, len(items))) + 1):
        for order in itertools.permutations(by_engine):
            low, high = total / used, total + 1  # one lane holding everything always fits
            layout = _wrap(order, by_engine, used, high)
            while high - low > 10:  # ms: finer than any estimate
                mid = (low + high) / 2
                if (tried := _wrap(order, by_engine, used, mid)) is None:
                    low = mid
                else:
                    high, layout = mid, tried
            score = max(_load(lane) for lane in layout) + LOAD_WEIGHT * sum(
                setup_ms(engine) for lane in layout for engine, _ in lane)
            if best is None or score < best[0]:
                best = (score, layout)
    assert best is not None
    shared = Counter(engine for lane in best[1] for engine, _ in lane)
    out = []
    for lane in best[1]:
        if lane:  # an engine other lanes speak too goes last, so that whichever lane ends first can help
            lane = sorted(lane, key=lambda run: shared[run[0]] > 1)
            out.append(deque(_pieces(lane, max_batch)))
    return out


def _load(lane: list[tuple[str, list[tuple[Item, float]]]]) -> float:
    return sum(setup_ms(e) + sum(w for _, w in run) for e, run in lane)


def _wrap(order: Sequence[str], by_engine: dict[str, list[tuple[Item, float]]], lanes: int,
          capacity: float) -> list[list[tuple[str, list[tuple[Item, float]]]]] | None:
    """McNaughton's wrap-around with a voice to load for each run of an engine; None if *lanes* are too few."""
    out: list[list[tuple[str, list[tuple[Item, float]]]]] = [[] for _ in range(lanes)]
    lane, used = 0, 0.0
    for engine in order:
        rest = by_engine[engine]
        setup = setup_ms(engine)
        while rest:
            take, acc = 0, used + setup
            while take < len(rest) and acc + rest[take][1] <= capacity:
                acc += rest[take][1]
                take += 1
            if take:
                out[lane].append((engine, rest[:take]))
                rest, used = rest[take:], acc
            if rest:  # this lane is full
                if not take and not used:  # one sentence and its load outgrow the capacity
                    return None
                lane, used = lane + 1, 0.0
                if lane == lanes:
                    return None
    return out


def _pieces(lane: list[tuple[str, list[tuple[Item, float]]]], max_batch: int) -> list[Batch]:
    """A lane's runs as requests of at most *max_batch* sentences: about PIECE_MS each, and smaller
    towards the lane's end (a third of what is left, down to MIN_PIECE_MS), so that the last pieces
    can be shared out when the estimates were off."""
    left = sum(w for _, run in lane for _, w in run)
    out = []
    for engine, run in lane:
        items: list[Item] = []
        acc = 0.0
        for item, w in run:
            size = max(MIN_PIECE_MS, min(PIECE_MS, left / 3))
            if items and (acc + w > size or len(items) >= max_batch):
                out.append(Batch(engine, tuple(items), acc))
                items, acc = [], 0.0
            items.append(item)
            acc += w
            left -= w
        if items:
            out.append(Batch(engine, tuple(items), acc))
    return out


def steal(lanes: Sequence[deque[Batch]], thief: int, loaded: set[str]) -> Batch | None:
    """A batch from the end of another lane for lane *thief*, which has run out, if taking it pays.

    With a worker of the batch's engine already loaded (*loaded*) any
    waiting batch is worth taking; without, only when what waits in that
    lane is more than twice what loading the voice costs, so that the new
    worker speaks for longer than it took to start.  The caller holds the
    lock that guards the queues.
    """
    best: tuple[float, int] | None = None
    for n, queue in enumerate(lanes):
        if n == thief or not queue:
            continue
        waiting = sum(b.work_ms for b in queue)
        last = queue[-1]
        if last.engine in loaded or waiting > 2 * setup_ms(last.engine):
            if best is None or waiting > best[0]:
                best = (waiting, n)
    return lanes[best[1]].pop() if best is not None else None
