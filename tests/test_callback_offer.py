"""The callback offer dialogue with a scripted leg: what the caller hears, which keys lead to which number."""

from __future__ import annotations

import asyncio

from ivr.core.config import CallbacksConfig
from ivr.session.callback_offer import ASK_NUMBER, BAD_NUMBER, KEEP_WAITING, CallbackOffer, offer_text, spoken


class ScriptedLeg:
    """A leg whose prompts 'play' for 50 ms; `answers` maps a prompt's first words to the keys pressed during it."""

    call_id = "c1"

    def __init__(self, keys: asyncio.Queue[str], answers: dict[str, str]) -> None:
        self.keys, self.answers = keys, answers
        self.heard: list[str] = []
        self._done: dict[str, asyncio.Event] = {}

    async def play(self, pcm: bytes, rate: int) -> str:
        text = pcm.decode()
        self.heard.append(text)
        playback = str(len(self.heard))
        self._done[playback] = asyncio.Event()
        asyncio.get_running_loop().call_later(0.05, self._done[playback].set)
        for start, keys in self.answers.items():
            if text.startswith(start):
                for k in keys:
                    self.keys.put_nowait(k)
        return playback

    async def wait_playback(self, playback: str) -> bool:
        await self._done[playback].wait()
        return False

    async def stop_playback(self) -> None:
        for done in self._done.values():
            done.set()


async def _run(caller_id: str, answers: dict[str, str]) -> tuple[str | None, list[str]]:
    keys: asyncio.Queue[str] = asyncio.Queue()
    leg = ScriptedLeg(keys, answers)

    async def synthesize(text: str) -> bytes:
        return text.encode()

    offer = CallbackOffer(leg, keys, synthesize, CallbacksConfig(), caller_id)  # type: ignore[arg-type]
    number = await asyncio.wait_for(offer.run(300.0), 30)
    return number, leg.heard


async def test_the_caller_id_is_read_back_and_confirmed_with_1() -> None:
    number, heard = await _run("+15551234", {"Your estimated": "1", "We will call": "1"})
    assert number == "+15551234"
    assert heard[0] == offer_text(300.0) and "about 5 minutes" in heard[0]
    assert heard[1].startswith(f"We will call you back at {spoken('+15551234')}. Press 1 if that is right")
    assert spoken("+15551234") == "plus 1 5 5 5 1 2 3 4"


async def test_2_keys_in_another_number() -> None:
    number, heard = await _run("5551234", {"Your estimated": "1", "We will call": "2", "Please key": "0301234567#"})
    assert number == "0301234567" and heard[-1] == ASK_NUMBER


async def test_a_caller_id_that_is_no_number_is_keyed_in_at_once() -> None:
    number, heard = await _run("caller", {"Your estimated": "1", "Please key": "5559876#"})
    assert number == "5559876" and heard == [offer_text(300.0), ASK_NUMBER]


async def test_an_invalid_number_is_asked_again_then_the_caller_keeps_waiting() -> None:
    number, heard = await _run("anonymous", {"Your estimated": "1", "Please key": "123#"})
    assert number is None
    assert heard[1:] == [ASK_NUMBER, BAD_NUMBER, ASK_NUMBER, BAD_NUMBER, KEEP_WAITING]


async def test_no_key_or_another_key_declines() -> None:
    assert (await _run("5551234", {"Your estimated": "5"}))[0] is None
    number, heard = await _run("5551234", {"Your estimated": "1", "We will call": "9"})
    assert number is None and heard[-1] == KEEP_WAITING
