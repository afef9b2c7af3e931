"""Moonshine first, Whisper again when Moonshine is unsure and nothing else is decoding (real FSDD takes)."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator

import numpy as np
import pytest

from asr.corpus import DIGIT_WORDS, digit_takes, phone_line, spoken_digits
from asr.two_pass import TwoPassRecognizer
from ivr.core.audio import resample
from ivr.core.events import Transcript
from ivr.core.interfaces import Grammar

DIGITS = Grammar("digits", DIGIT_WORDS, strict=True)
RATE = 8000


@pytest.fixture(scope="module")
def recognizer() -> Iterator[TwoPassRecognizer]:
    rec = TwoPassRecognizer(language="en-us", sample_rate=RATE, workers=2)
    yield rec
    rec.close()


def take(name: str) -> bytes:
    found = [t for t in digit_takes() if t.path.name == name]
    return phone_line(spoken_digits(found))


async def recognize(rec: TwoPassRecognizer, pcm: bytes) -> Transcript:
    stream = rec.stream("call-3", DIGITS)
    for i in range(0, len(pcm), 320):
        stream.push(pcm[i : i + 320])
    stream.end()
    return [t async for t in stream][-1]


async def test_a_sure_answer_is_moonshines(recognizer: TwoPassRecognizer) -> None:
    before = recognizer.second_passes
    heard = await asyncio.wait_for(recognize(recognizer, take("0_george_0.wav")), 60)
    assert heard.text == "zero" and heard.engine == "moonshine+whisper"
    assert recognizer.second_passes == before


async def test_an_unsure_answer_is_decoded_again(recognizer: TwoPassRecognizer) -> None:
    # Moonshine hears "five" here with a confidence of 0.17; Whisper hears "four"
    audio = np.frombuffer(resample(take("4_nicolas_0.wav"), RATE, 16000), dtype="<i2").astype(np.float32) / 32768
    first = recognizer.first.recognize(audio, DIGITS)
    assert first.confidence < recognizer.unsure_below
    before = recognizer.second_passes
    heard = await asyncio.wait_for(recognize(recognizer, take("4_nicolas_0.wav")), 60)
    assert heard.text == "four"
    assert recognizer.second_passes == before + 1


async def test_no_second_pass_while_another_decode_runs(recognizer: TwoPassRecognizer) -> None:
    before, skipped = recognizer.second_passes, recognizer.skipped
    both = [recognize(recognizer, take("4_nicolas_0.wav")), recognize(recognizer, take("5_nicolas_7.wav"))]
    await asyncio.wait_for(asyncio.gather(*both), 60)
    # the first to be unsure finds the other still decoding; only the last one gets Whisper
    assert recognizer.skipped == skipped + 1
    assert recognizer.second_passes == before + 1
