"""Turns mastered while later ones are spoken: the same episode as speaking first, then mastering."""

from __future__ import annotations

import shutil
import threading

import pytest
from mutagen.id3 import ID3

from audio import master, streaming
from audio.assemble import assemble, moved
from audio.episode import load_episode
from audio.errors import EncodeError
from audio.master import MasteringTargets, master_turns
from audio.render import RenderOptions, render
from audio.speak import Synthesizer

from .conftest import SEED


def _plain(episode, clip_cache, tmp_path):
    """The episode the way it was made before streaming: every clip, then assemble, then master_turns."""
    with Synthesizer(cache_dir=clip_cache) as synth:
        clips = synth.synthesise(episode.speech_jobs())
        assert synth.stats.synthesised == 0  # (the render made them all)
    a = assemble(episode.turns, episode.chapters, clips, episode.manifest.pauses, episode.word_offsets())
    m = episode.manifest
    mp3 = tmp_path / "plain.mp3"
    mastered = master_turns(a.samples, a.rate_hz, list(a.turn_starts), mp3,
                            MasteringTargets(m.target_lufs, m.true_peak_dbtp, m.bitrate_kbps), cache_dir=tmp_path / "p")
    return mp3, moved(a.sentences, [t * 1000 // a.rate_hz for t in a.turn_starts], mastered.offsets_ms), a


def _untagged(path, folder):
    copy = folder / f"{path.stem}.untagged.mp3"
    shutil.copyfile(path, copy)
    ID3(copy).delete()
    return copy.read_bytes()


def test_parts_are_mastered_during_speech_and_the_episode_is_the_same(tmp_path, monkeypatch):
    """The last sentence is held back until a part has gone to the master; the MP3 is the plain one's."""
    episode = load_episode(SEED, engine="pyttsx3")
    cache = tmp_path / "clips"
    added = threading.Event()
    real_add = master.PartMaster.add

    def add(self, *args):
        real_add(self, *args)
        added.set()
    monkeypatch.setattr(master.PartMaster, "add", add)
    waited: list[bool] = []

    class HeldBack(Synthesizer):  # fault injection: only the timing of one real batch
        def _batch_with_retry(self, engine, batch, owned):
            if last in [p for p, _ in batch]:
                waited.append(added.wait(timeout=60))
            return super()._batch_with_retry(engine, batch, owned)

    with HeldBack(cache_dir=cache) as synth:
        last = synth.clip_path(episode.speech_jobs()[-1])
        result = render(episode, tmp_path / "streamed.mp3", RenderOptions(cache_dir=cache), synthesizer=synth)
    assert waited == [True]  # a part was mastering before the last sentence was spoken
    assert result.synthesis.synthesised == len(episode.speech_jobs())
    plain, sentences, a = _plain(episode, cache, tmp_path)
    assert len(master.parts_of(list(a.turn_starts), len(a.samples), a.rate_hz, master.MIN_PART_S)) >= 3  # streamed
    assert _untagged(result.path, tmp_path) == plain.read_bytes()
    assert result.sentences == sentences


def test_a_voice_at_two_rates_is_assembled_again_the_plain_way(tmp_path, monkeypatch, caplog, clip_cache,
                                                                seed_episode, seed_render):
    """Fault injection: the first clips report a lower rate than the others have, as if a voice changed."""
    real = streaming._rate_of
    calls = {"n": 0}

    def lower_at_first(clip):
        calls["n"] += 1
        return 16000 if calls["n"] <= 2 else real(clip)
    monkeypatch.setattr(streaming, "_rate_of", lower_at_first)
    result = render(seed_episode, tmp_path / "again.mp3", RenderOptions(cache_dir=clip_cache))
    assert "a voice spoke at two sample rates" in caplog.text
    assert _untagged(result.path, tmp_path) == _untagged(seed_render.path, tmp_path)
    assert result.sentences == seed_render.sentences


def test_a_part_that_fails_to_master_fails_the_render_in_one_message(tmp_path, monkeypatch):
    def broken(jobs, rate_hz, targets):
        raise EncodeError("ffmpeg failed encoding MP3: injected")
    monkeypatch.setattr(master, "master_parts", broken)
    out = tmp_path / "out"
    out.mkdir()
    with pytest.raises(EncodeError, match="^ffmpeg failed encoding MP3: injected$"):
        render(load_episode(SEED, engine="pyttsx3"), out / "ep.mp3", RenderOptions(cache_dir=tmp_path / "cache"))
    assert list(out.iterdir()) == []  # nothing half-written beside it
    assert not list((tmp_path / "cache" / "turns").glob("*.mp3"))  # and no part in the cache


def test_an_episode_of_second_long_turns_meets_the_target(tmp_path, caplog):
    """Each turn meets its aim, but 400 ms blocks straddling the pauses pull the whole 0.6 LU under:
    the turns are levelled again once, aimed off by the miss (this episode was refused before)."""
    import logging

    import numpy as np
    import pyloudnorm

    from audio.encode import decode

    src = tmp_path / "short.txt"
    src.write_text("Intro.\nHOST: A question?\nGUEST: An answer.\n", encoding="utf-8")
    caplog.set_level(logging.INFO, logger="audio.master")
    result = render(load_episode(src), tmp_path / "short.mp3", RenderOptions(cache_dir=tmp_path / "cache"))
    assert "levelling its turns again" in caplog.text
    assert abs(result.loudness.integrated_lufs - -16.0) <= master.EPISODE_TOLERANCE_LU
    heard = pyloudnorm.Meter(44100).integrated_loudness(decode(result.path).astype(np.float64))
    assert abs(heard - -16.0) <= master.EPISODE_TOLERANCE_LU and result.loudness.true_peak_dbtp <= -1.0
