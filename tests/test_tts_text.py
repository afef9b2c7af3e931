"""Sentence splitting and speakability of prompt text."""

from __future__ import annotations

import pytest

from tts.text import MAX_CHUNK_CHARS, clean, sentences, speakable


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("order 1 2 3 4 5 shipped on November 20", ["order 1 2 3 4 5 shipped on November 20"]),
        ("Hello. How are you? Fine!", ["Hello.", "How are you?", "Fine!"]),
        ("Your balance is $12.50. Thanks.", ["Your balance is $12.50.", "Thanks."]),
        ("Dr. Smith calls at 3 p.m. today. Bye.", ["Dr. Smith calls at 3 p.m. today.", "Bye."]),
        ("It shipped Nov. 20. It arrives Nov. 22.", ["It shipped Nov. 20.", "It arrives Nov. 22."]),
        ("J. R. R. Tolkien wrote it. Yes.", ["J. R. R. Tolkien wrote it.", "Yes."]),
        ('He said "stop." Then left.', ['He said "stop."', "Then left."]),
        ("Wait... what?", ["Wait... what?"]),
        ("Line one\nLine two", ["Line one", "Line two"]),
        ("Press 1. ... Press 2.", ["Press 1.", "Press 2."]),
    ],
)
def test_sentences(text: str, expected: list[str]) -> None:
    assert sentences(text) == expected


def test_long_sentences_are_cut_at_commas_then_spaces() -> None:
    text = ", ".join(f"item number {i}" for i in range(60))
    chunks = sentences(text)
    assert all(len(c) <= MAX_CHUNK_CHARS for c in chunks)
    assert all(c.endswith(",") for c in chunks[:-1])
    assert " ".join(chunks) == text
    unbroken = "x" * (3 * MAX_CHUNK_CHARS)
    assert "".join(sentences(unbroken)) == unbroken


@pytest.mark.parametrize("text", ["", "  ", "...", "?!", "\x00\x07", " — "])
def test_nothing_speakable(text: str) -> None:
    assert not speakable(text)
    assert sentences(text) == []


def test_clean_removes_control_characters_and_extra_space() -> None:
    assert clean("  Hello\x00 \t world \n\n  again ") == "Hello world\nagain"
