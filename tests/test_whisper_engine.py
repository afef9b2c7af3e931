"""The Whisper engine (bundled tiny.en weights) on real FSDD digits through a μ-law phone line."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from pathlib import Path

import pytest

from asr.corpus import DIGIT_WORDS, clip, data_dir, digit_sequences, digit_takes, line_noise, phone_line, spoken_digits
from asr.whisper_engine import WhisperRecognizer, bundled_whisper_model
from ivr.core.audio import read_wav, silence
from ivr.core.errors import AudioFormatError, ModelError
from ivr.core.events import Transcript
from ivr.core.interfaces import Grammar

DIGITS = Grammar("digits", DIGIT_WORDS, strict=True)
RATE = 8000


@pytest.fixture(scope="module")
def recognizer() -> Iterator[WhisperRecognizer]:
    rec = WhisperRecognizer(language="en-us", sample_rate=RATE)
    yield rec
    rec.close()


async def recognize(rec: WhisperRecognizer, pcm: bytes, grammar: Grammar | None = DIGITS) -> list[Transcript]:
    stream = rec.stream("call-7", grammar)
    for i in range(0, len(pcm), 320):
        stream.push(pcm[i : i + 320])
    stream.end()
    return await asyncio.wait_for(_collect(stream), 60)


async def _collect(stream: object) -> list[Transcript]:
    return [t async for t in stream]  # type: ignore[attr-defined]


def as_digits(text: str) -> str:
    return "".join(str(DIGIT_WORDS.index(w)) if w in DIGIT_WORDS else "?" for w in text.split())


async def test_five_digit_numbers_over_a_phone_line(recognizer: WhisperRecognizer) -> None:
    # george, jackson and lucas: the three speakers whose takes are not trimmed into the word
    sequences = [s for s in digit_sequences(digit_takes(), 8) if s[0].speaker != "nicolas"][:4]
    for i, seq in enumerate(sequences):
        out = await recognize(recognizer, phone_line(spoken_digits(seq, seed=i)))
        assert len(out) == 1 and out[0].final and out[0].engine == "whisper"
        assert as_digits(out[0].text) == "".join(str(t.digit) for t in seq)
        assert [w.word for w in out[0].words] == out[0].text.split()
        assert 0.0 < out[0].confidence <= 1.0


async def test_single_digits_from_every_speaker(recognizer: WhisperRecognizer) -> None:
    speakers = ("george", "jackson", "lucas", "nicolas")
    takes = [t for t in digit_takes() if t.path.stem == f"{t.digit}_{speakers[t.digit % 4]}_3"]  # 0-9, all speakers
    right = 0
    for take in takes:
        out = await recognize(recognizer, phone_line(spoken_digits([take])))
        right += as_digits(out[-1].text) == str(take.digit)
    assert right >= 9


async def test_free_speech_without_a_grammar(recognizer: WhisperRecognizer) -> None:
    pcm = phone_line(read_wav(data_dir() / "speech" / "cards_001.wav", RATE).data)
    out = await recognize(recognizer, pcm, None)
    assert "clubs" in out[-1].text.lower()


async def test_a_grammar_phrase_of_several_words(recognizer: WhisperRecognizer) -> None:
    pcm = phone_line(read_wav(data_dir() / "speech" / "cards_003.wav", RATE).data)
    cards = Grammar("cards", ("seven of clubs", "ten of clubs", "five of hearts"), strict=True)
    out = await recognize(recognizer, pcm, cards)
    assert out[-1].text == "seven of clubs"


@pytest.mark.parametrize(
    "pcm", [silence(2.0, RATE), line_noise(2.0, RATE, dbfs=-30)], ids=["silence", "noise"]
)
async def test_silence_and_noise_give_no_digits(recognizer: WhisperRecognizer, pcm: bytes) -> None:
    out = await recognize(recognizer, pcm)
    assert out[-1].final
    assert out[-1].text == "" or out[-1].confidence < 0.5


async def test_clipped_digits_are_still_recognized(recognizer: WhisperRecognizer) -> None:
    seq = digit_sequences(digit_takes(), 1, seed=3)[0]
    out = await recognize(recognizer, phone_line(clip(spoken_digits(seq), 6.0)))
    assert out[-1].final
    assert len(as_digits(out[-1].text)) >= 4


async def test_speech_past_the_30_s_window_ends_with_a_final(recognizer: WhisperRecognizer) -> None:
    takes = digit_takes()[:100:7]
    pcm = phone_line(spoken_digits(takes * 4, gap=0.4))  # about 40 s
    assert len(pcm) / 2 / RATE > 30
    out = await recognize(recognizer, pcm, None)
    assert out[-1].final and out[-1].text


def test_bad_settings_are_clear_errors(tmp_path: Path) -> None:
    with pytest.raises(AudioFormatError, match="unsupported sample rate 11025"):
        WhisperRecognizer(sample_rate=11025)
    with pytest.raises(ModelError, match="English-only"):
        WhisperRecognizer(language="ko")
    with pytest.raises(ModelError, match="does not exist"):
        WhisperRecognizer(tmp_path / "none")
    (tmp_path / "model.bin").write_bytes(b"x")
    with pytest.raises(ModelError, match=r"missing config\.json"):
        WhisperRecognizer(tmp_path)
    assert bundled_whisper_model() is not None
