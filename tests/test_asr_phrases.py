"""Matching transcriber text against grammar phrases."""

from __future__ import annotations

import pytest

from asr.phrases import PhraseMatcher

DIGITS = PhraseMatcher(["zero", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine"])


@pytest.mark.parametrize(
    ("text", "phrases"),
    [
        (" Five, three, seven.", ("five", "three", "seven")),
        (" 53709", ("five", "three", "seven", "zero", "nine")),
        (" 5-3 seven", ("five", "three", "seven")),
        ("Nine!", ("nine",)),
        (" Fiver.", None),
        (" ...", None),
        ("", None),
    ],
)
def test_digit_text(text: str, phrases: tuple[str, ...] | None) -> None:
    assert DIGITS.parse(text) == phrases


def test_multi_word_phrases_and_their_spellings() -> None:
    menu = PhraseMatcher(["Order status", "  agent ", "order status", ""])
    assert menu.phrases == ("order status", "agent")
    assert menu.parse(" Order status, agent.") == ("order status", "agent")
    assert menu.parse(" Order.") is None
    assert " Order Status" in menu.spellings()
    assert DIGITS.phrase_for("5.") == "five" and DIGITS.phrase_for("Five") == "five"
    assert DIGITS.phrase_for("fifty") is None
