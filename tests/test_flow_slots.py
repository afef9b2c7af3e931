"""Slots from speech or keys: digit strings, numbers, yes/no, dates; and spoken numbers both ways."""

from __future__ import annotations

import pytest

from flows.numbers import digit_words, number_words, ordinal_words
from flows.slots import SlotSpec, parse_date, parse_slot, yes_no

FIVE = SlotSpec("digits", 5, 5)


@pytest.mark.parametrize(
    "text",
    [
        "one two three four five",
        "1 2 3 4 5",
        "12345",
        "twelve thousand three hundred forty five",
        "one two three for five",
        "it's one two three four five",
        "one two three four five please",
        "twelve three forty five",
        "one twenty three forty five",
    ],
)
def test_five_digits_from_speech(text: str) -> None:
    assert parse_slot(FIVE, text=text) == "12345"


@pytest.mark.parametrize(
    "text,value",
    [
        ("five double five double five", "55555"),
        ("triple five five five", "55555"),
        ("oh one two three four", "01234"),
        ("two four six eight zero", "24680"),
        ("thirteen thousand five hundred seventy nine", "13579"),
    ],
)
def test_digit_idioms(text: str, value: str) -> None:
    assert parse_slot(FIVE, text=text) == value


def test_wrong_length_or_no_digits_is_no_value() -> None:
    assert parse_slot(FIVE, text="one two three") is None
    assert parse_slot(FIVE, text="where is my order") is None
    assert parse_slot(FIVE, dtmf="123") is None
    assert parse_slot(FIVE, dtmf="24680") == "24680"
    # 'to' and 'for' are words, not digits, when the caller is not reading digits
    assert parse_slot(SlotSpec("digits", 1, 5), text="i want to talk for a bit") is None


def test_numbers() -> None:
    spec = SlotSpec("number")
    assert parse_slot(spec, text="about two hundred and fifty") == "250"
    assert parse_slot(spec, text="42 please") == "42"
    assert parse_slot(spec, dtmf="17") == "17"
    assert parse_slot(spec, text="none") is None


@pytest.mark.parametrize(
    "text,answer",
    [
        ("yes", "yes"),
        ("yeah that's right", "yes"),
        ("sure", "yes"),
        ("uh huh", "yes"),
        ("correct", "yes"),
        ("no", "no"),
        ("nope", "no"),
        ("that's not right", "no"),
        ("no thanks", "no"),
        ("not really", "no"),
        ("banana", None),
        ("", None),
    ],
)
def test_yes_no(text: str, answer: str | None) -> None:
    assert yes_no(text) == answer


def test_yes_no_keys_and_text_slot() -> None:
    assert parse_slot(SlotSpec("yes_no"), dtmf="1") == "yes"
    assert parse_slot(SlotSpec("yes_no"), dtmf="2") == "no"
    assert parse_slot(SlotSpec("yes_no"), dtmf="3") is None
    assert parse_slot(SlotSpec("text"), text="  Hello, World! ") == "hello world"


@pytest.mark.parametrize(
    "text,value",
    [
        ("november twentieth", "11-20"),
        ("the 24th of november", "11-24"),
        ("Nov 3", "11-03"),
        ("december twenty first", "12-21"),
        ("march thirty one", "03-31"),
        ("11/20/2025", "2025-11-20"),
        ("january 5 2026", "2026-01-05"),
        ("february thirtieth", None),
        ("some day", None),
    ],
)
def test_dates(text: str, value: str | None) -> None:
    assert parse_date(text) == value


def test_dates_by_keys() -> None:
    assert parse_date(dtmf="1120") == "11-20"
    assert parse_date(dtmf="11202025") == "2025-11-20"
    assert parse_date(dtmf="1340") is None
    assert parse_date(dtmf="12") is None


def test_number_words() -> None:
    assert number_words(12345) == "twelve thousand three hundred forty five"
    assert number_words(0) == "zero"
    assert number_words(1_000_001) == "one million one"
    assert number_words(-7) == "minus seven"
    assert ordinal_words(1) == "first" and ordinal_words(24) == "twenty fourth" and ordinal_words(20) == "twentieth"
    assert ordinal_words(112) == "one hundred twelfth"
    assert digit_words("2-4 680") == "two four six eight zero"
