"""Read-aloud audio rendered offline with the real espeak-ng and opusenc, cached, decoded."""

from __future__ import annotations

import shutil
import subprocess
import wave
from pathlib import Path

import pytest

from participate import consultations, speech, store
from participate.cli import main
from tests.conftest import EXAMPLE


def duration_seconds(path: Path, scratch: Path) -> float:
    """Decode an Ogg file to WAV (opusdec, or sox for Vorbis) and return its length."""
    wav = scratch / (path.stem + ".wav")
    if shutil.which("opusdec"):
        subprocess.run(["opusdec", "--quiet", str(path), str(wav)], check=True)
    else:
        subprocess.run(["sox", str(path), str(wav)], check=True)
    with wave.open(str(wav), "rb") as decoded:
        return decoded.getnframes() / decoded.getframerate()


@pytest.fixture
def example_consultation() -> consultations.Consultation:
    return consultations.read_file(EXAMPLE)


@pytest.fixture(scope="module")
def rendered(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, int]:
    """Render the example's audio once for the module: the folder and how many files were new."""
    folder = tmp_path_factory.mktemp("speech") / "audio"
    return folder, speech.prepare(folder, consultations.read_file(EXAMPLE))


@pytest.fixture
def without_espeak(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """Run as on a machine where espeak-ng is not installed (an empty PATH)."""
    empty = tmp_path / "empty-bin"
    empty.mkdir()
    monkeypatch.setenv("PATH", str(empty))


def test_every_question_of_the_example_has_audio_in_both_languages_that_decodes(
    tmp_path: Path, example_consultation: consultations.Consultation, rendered
) -> None:
    assert speech.available(), "espeak-ng and opusenc are installed here and by CI"
    folder, count = rendered
    expected = 0
    for language in ("en", "fr"):
        keys = [item.key for item in speech.items(example_consultation, language)]
        assert keys == ["intro", *(f"q-{q.id}" for q in example_consultation.questions), "thanks"]
        for item in speech.items(example_consultation, language):
            for speed in speech.SPEEDS:
                path = speech.cached(folder, item.text, language, speed)
                assert path is not None, (language, item.key, speed)
                assert path.read_bytes()[:4] == b"OggS"
                assert 0 < path.stat().st_size < 60_000  # small: about 2.5 kB a second
                expected += 1
        normal = speech.cached(
            folder, speech.items(example_consultation, language)[1].text, language
        )
        slow = speech.cached(
            folder, speech.items(example_consultation, language)[1].text, language, "slow"
        )
        assert 0 < duration_seconds(normal, tmp_path) < duration_seconds(slow, tmp_path)
    assert count == expected


def test_the_cache_is_keyed_by_text_voice_and_speed(rendered, example_consultation) -> None:
    folder, _ = rendered
    assert speech.prepare(folder, example_consultation) == 0  # nothing rendered twice
    names = {
        speech.cache_name("Bonjour", "fr", "normal"),
        speech.cache_name("Bonjour", "fr", "slow"),
        speech.cache_name("Bonjour", "en", "normal"),
        speech.cache_name("Bonjour!", "fr", "normal"),
    }
    assert len(names) == 4


def test_the_text_read_for_a_question_has_its_help_and_choices(example_consultation) -> None:
    by_id = {q.id: q for q in example_consultation.questions}
    assert speech.question_text(by_id["visits"], "fr") == (
        "Quelle est la fréquence de vos visites ? Chaque semaine. Chaque mois. Rarement."
    )
    assert speech.question_text(by_id["evenings"], "en").endswith("Yes. No.")
    assert "From 1 to 5." in speech.question_text(by_id["rating"], "en")


def test_a_text_beginning_with_a_dash_is_read_not_taken_as_an_option(tmp_path: Path) -> None:
    path = speech.render(tmp_path, "--help me", "en")
    assert duration_seconds(path, tmp_path) > 0


def test_without_espeak_nothing_is_rendered_and_nothing_fails(
    tmp_path: Path, example_consultation, without_espeak
) -> None:
    assert not speech.available()
    assert speech.prepare(tmp_path / "audio", example_consultation) == 0
    with pytest.raises(speech.SpeechUnavailable):
        speech.render(tmp_path / "audio", "Bonjour", "fr")


def node_store(tmp_path: Path) -> Path:
    """Return a kiosk node's store (it knows its device id), without consultations."""
    db_path = tmp_path / "node.db"
    with store.open_db(db_path, migrate=True) as db:
        store.set_meta(db, "device_id", "node-1")
    return db_path


def test_load_renders_the_audio_and_says_so(runner, tmp_path: Path) -> None:
    db_path = node_store(tmp_path)
    result = runner.invoke(main, ["load", "--db", str(db_path), str(EXAMPLE)])
    assert result.exit_code == 0, result.output
    assert "audio: 32 new files" in result.output
    assert len(list(speech.audio_dir(db_path).glob("*.ogg"))) == 32


def test_load_without_espeak_says_the_kiosk_will_not_read_aloud(
    runner, tmp_path: Path, without_espeak
) -> None:
    result = runner.invoke(main, ["load", "--db", str(node_store(tmp_path)), str(EXAMPLE)])
    assert result.exit_code == 0, result.output
    assert "espeak-ng or opusenc is not installed here" in result.output


def test_load_into_a_hub_renders_no_audio(runner, tmp_path: Path) -> None:
    db_path = tmp_path / "hub.db"
    result = runner.invoke(main, ["load", "--db", str(db_path), str(EXAMPLE)])
    assert result.exit_code == 0, result.output
    assert "audio" not in result.output and not speech.audio_dir(db_path).exists()
