"""When a recognized turn is a complete answer to the step listening for it (pure logic)."""

from __future__ import annotations

from ivr.core.events import Listen
from ivr.session.speech import is_complete

DIGITS = tuple("zero oh one two three four five six seven eight nine".split())
MENU = ("order status", "returns", "store hours", "agent", "where is my order")


def test_a_number_is_complete_only_with_all_its_digits() -> None:
    order = Listen("c", max_digits=5, phrases=DIGITS)
    assert is_complete("one two three four five", order)
    assert not is_complete("one two three four", order)  # the caller may still be reading it out
    assert is_complete("one two three four five six", order)  # too long is an answer too; the flow says so
    assert not is_complete("", order)


def test_a_menu_answer_is_complete_when_it_is_one_of_the_phrases() -> None:
    menu = Listen("c", max_digits=1, phrases=MENU)
    assert is_complete("order status", menu)
    assert is_complete("Where is my order?", menu)
    assert not is_complete("where is my", menu)  # a phrase cut short: wait for the full pause
    assert not is_complete("I would like to know where my order is", menu)


def test_without_phrases_nothing_is_complete_early() -> None:
    assert not is_complete("order status", Listen("c", phrases=()))
