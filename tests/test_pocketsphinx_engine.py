"""The PocketSphinx engine with the en-US model bundled in its wheel."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from pathlib import Path

import pytest

from asr.corpus import data_dir, phone_line
from asr.pocketsphinx_engine import PocketsphinxRecognizer
from ivr.core.audio import read_wav, silence
from ivr.core.errors import AudioFormatError, ModelError
from ivr.core.events import Transcript
from ivr.core.interfaces import Grammar

CARDS = Grammar("cards", ("ten of clubs", "seven of clubs", "five five", "queen of hearts"), strict=True)


@pytest.fixture(scope="module")
def recognizer() -> Iterator[PocketsphinxRecognizer]:
    rec = PocketsphinxRecognizer(sample_rate=16000)
    yield rec
    rec.close()


async def recognize(rec: PocketsphinxRecognizer, pcm: bytes, grammar: Grammar | None = None) -> list[Transcript]:
    stream = rec.stream("c", grammar)
    frame = rec.capabilities.sample_rate // 50 * 2
    for i in range(0, len(pcm), frame):
        stream.push(pcm[i : i + frame])
        await asyncio.sleep(0)
    stream.end()
    return await asyncio.wait_for(_collect(stream), 30)


async def _collect(stream: object) -> list[Transcript]:
    return [t async for t in stream]  # type: ignore[attr-defined]


def card(n: int, rate: int = 16000) -> bytes:
    return read_wav(data_dir() / "speech" / f"cards_00{n}.wav", rate).data


async def test_free_speech_gives_one_final_with_words(recognizer: PocketsphinxRecognizer) -> None:
    out = await recognize(recognizer, card(1))
    assert out[-1].final and out[-1].text == "ten of clubs"
    assert len(out) == 1
    assert [w.word for w in out[-1].words] == ["ten", "of", "clubs"]


async def test_grammar_mode_limits_the_words(recognizer: PocketsphinxRecognizer) -> None:
    out = await recognize(recognizer, card(4), CARDS)
    assert out[-1].text == "five five"


async def test_phone_audio_at_8k() -> None:
    rec = PocketsphinxRecognizer(sample_rate=8000)
    try:
        out = await recognize(rec, phone_line(card(3, 8000)), CARDS)
        assert out[-1].text == "seven of clubs"
    finally:
        rec.close()


async def test_silence_gives_an_empty_final(recognizer: PocketsphinxRecognizer) -> None:
    out = await recognize(recognizer, silence(1.5, 16000), CARDS)
    assert out[-1].final and out[-1].text == ""


def test_bad_settings_are_clear_errors(recognizer: PocketsphinxRecognizer, tmp_path: Path) -> None:
    with pytest.raises(AudioFormatError, match="unsupported sample rate"):
        PocketsphinxRecognizer(sample_rate=22050)
    with pytest.raises(ModelError, match="US English"):
        PocketsphinxRecognizer(language="ko")
    with pytest.raises(ModelError, match="missing"):
        PocketsphinxRecognizer(model_dir=tmp_path)
    with pytest.raises(ModelError, match="dictionary"):
        recognizer.stream("c", Grammar("x", ("qwzxv",)))
