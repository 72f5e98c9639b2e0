"""The clip cache at the render level: editing one answer re-makes only that answer."""

from __future__ import annotations

import shutil

from audio.episode import load_episode
from audio.render import RenderOptions, render

from .conftest import SEED, SEED_MANIFEST

OLD = "It has only gotten stronger over time."
NEW = "It has only grown stronger as time went on."


def test_editing_one_answer_resynthesises_only_its_changed_sentence(tmp_path, clip_cache, seed_render):
    edited = tmp_path / "edited.txt"
    text = SEED.read_text(encoding="utf-8")
    assert text.count(OLD) == 1
    edited.write_text(text.replace(OLD, NEW), encoding="utf-8")
    episode = load_episode(edited, SEED_MANIFEST)
    warm = render(episode, tmp_path / "warm.mp3", RenderOptions(cache_dir=clip_cache, id3_version=3))
    total = sum(len(t.sentences) for t in episode.turns)
    assert (warm.synthesis.synthesised, warm.synthesis.from_cache) == (1, total - 1)
    # the edited answer and the question encoded with it; the other parts come from the cache
    assert warm.turns_encoded == 2

    cold = render(episode, tmp_path / "cold.mp3", RenderOptions(cache_dir=tmp_path / "fresh-cache"))
    assert cold.synthesis.synthesised == total
    # Each clip is a function of its job alone (a fresh engine per sentence),
    # so the warm render is the cold render, byte for byte.
    assert warm.path.read_bytes() == cold.path.read_bytes()


def test_two_renders_at_once_into_one_cache_write_identical_files(tmp_path):
    import threading

    src = tmp_path / "talk.txt"
    src.write_text("Intro words for the show.\nHOST: What is new this week?\nGUEST: Quite a lot, as it happens.\n"
                   "HOST: Tell me more.\nGUEST: Prices rose and the rain came back.\n", encoding="utf-8")
    episode = load_episode(src)
    cache = tmp_path / "shared-cache"
    results = {}

    def work(name):
        results[name] = render(episode, tmp_path / f"{name}.mp3", RenderOptions(cache_dir=cache))
    threads = [threading.Thread(target=work, args=(n,)) for n in "ab"]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert set(results) == {"a", "b"}
    assert (tmp_path / "a.mp3").read_bytes() == (tmp_path / "b.mp3").read_bytes()


def test_no_cache_leaves_nothing_behind(tmp_path, monkeypatch):
    import tempfile

    src = tmp_path / "t.txt"
    src.write_text("HOST: One question?\nGUEST: One answer.\n", encoding="utf-8")
    scratch = tmp_path / "scratch"
    scratch.mkdir()
    monkeypatch.setattr(tempfile, "tempdir", str(scratch))
    result = render(load_episode(src), tmp_path / "x.mp3", RenderOptions(use_cache=False))
    assert result.synthesis.synthesised == 2
    assert list(scratch.iterdir()) == []
    shutil.rmtree(scratch)
