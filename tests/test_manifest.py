from __future__ import annotations

import pytest

from audio.errors import ManifestError
from audio.manifest import load_manifest, manifest_from_dict

from .conftest import SEED_MANIFEST


def _base(**speaker):
    return {"episode": {"title": "T"}, "speakers": [{"id": "a", "voice": "gmw/en-us", **speaker}]}


def test_seed_manifest_loads():
    man = load_manifest(SEED_MANIFEST)
    assert [s.id for s in man.speakers] == ["voa", "zelin"]
    assert man.narrator == "voa"
    assert man.speaker("zelin").voice != man.speaker("voa").voice
    assert dict(man.lexicon_for("pyttsx3"))["ISKP"] == "I-S-K-P"
    assert man.metadata.language3 == "eng"


@pytest.mark.parametrize("data, message", [
    ({**_base(), "extra": {}}, "unknown table 'extra'"),
    (_base(rate_wmp=100), "speakers[0]: unknown key 'rate_wmp'"),
    (_base(rate_wpm=0), "speakers[0]: rate_wpm 0 is outside 80..450 words per minute"),
    (_base(role="boss"), "speakers[0]: role 'boss' is not one of host, guest, narrator"),
    ({"episode": {"title": "T"}, "speakers": [{"id": "a", "voice": "v"}, {"id": "a", "voice": "v"}]},
     "duplicate speaker id 'a'"),
    ({"episode": {"title": "T", "narrator": "zz"}, "speakers": [{"id": "a", "voice": "v"}]},
     "narrator 'zz' is an unknown speaker (known: a)"),
    ({"episode": {"title": "T", "date": "March 2024"}, "speakers": [{"id": "a", "voice": "v"}]},
     "[episode] date 'March 2024' is not a date: write it as YYYY-MM-DD"),
])
def test_bad_manifests(data, message):
    with pytest.raises(ManifestError, match=message.replace("(", r"\(").replace(")", r"\)").replace("[", r"\[").replace("]", r"\]")):
        manifest_from_dict(data)


def test_voice_override_unknown_speaker():
    man = manifest_from_dict(_base())
    assert man.with_voices({"a": "gmw/en-gb-x-rp"}).speaker("a").voice == "gmw/en-gb-x-rp"
    with pytest.raises(ManifestError, match=r"--voice names unknown speaker 'b' \(known: a\)"):
        man.with_voices({"b": "x"})


def test_word_offsets_follow_respellings():
    from audio.lexicon import spoken_text, word_offsets

    lexicon = (("IS", "eye ess"), ("Iran", "Ee-rahn"))
    text = "The IS attack \u2013 in Iran, [IRGC] said."
    spoken = spoken_text(text, lexicon)
    offsets = word_offsets(text, lexicon)
    assert len(offsets) == len(text.split())
    assert [spoken[o:].split()[0] for o in offsets] == ["The", "eye", "attack", ",", "in", "Ee-rahn,", "IRGC", "said."]
