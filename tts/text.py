"""Prompt text as the synthesizer sees it: what is speakable, and where sentences end."""

from __future__ import annotations

import re

# Longest chunk sent to the engine at once. Long chunks delay the first audio of a stream and make
# one engine request hog the single worker; 240 characters is about 15 s of speech.
MAX_CHUNK_CHARS = 240

# Words whose trailing period does not end a sentence ("Dr. Smith", "Nov. 20", "No. 5").
_ABBREVIATIONS = frozenset(
    """mr mrs ms dr prof st sr jr mt ave rd blvd no nos vs etc approx dept est inc ltd co corp
    jan feb mar apr jun jul aug sep sept oct nov dec mon tue wed thu fri sat sun e.g i.e a.m p.m
    u.s ext tel""".split()
)
_SENTENCE_END = re.compile(r"[.!?…]+[\"')\]]*(?=\s)")
_SOFT_BREAK = re.compile("[,;:\u2014\u2013]\\s")  # comma, semicolon, colon, em and en dash
_CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")


def clean(text: str) -> str:
    """Text with control characters removed and whitespace runs collapsed (newlines kept)."""
    text = _CONTROL.sub(" ", text)
    lines = (" ".join(line.split()) for line in text.splitlines())
    return "\n".join(line for line in lines if line)


def speakable(text: str) -> bool:
    """Whether `text` has anything an engine would say (a letter or a digit)."""
    return any(ch.isalnum() for ch in text)


def sentences(text: str, max_chars: int = MAX_CHUNK_CHARS) -> list[str]:
    """Split `text` into speakable chunks at sentence ends, each at most `max_chars` long."""
    chunks: list[str] = []
    for line in clean(text).split("\n"):
        for sentence in _split_line(line):
            chunks.extend(_limit(sentence, max_chars))
    return [c for c in chunks if speakable(c)]


def _split_line(line: str) -> list[str]:
    out: list[str] = []
    start = 0
    for match in _SENTENCE_END.finditer(line):
        end = match.end()
        if _continues(line, match.start(), end):
            continue
        out.append(line[start:end].strip())
        start = end
    tail = line[start:].strip()
    if tail:
        out.append(tail)
    return out


def _continues(line: str, dot: int, end: int) -> bool:
    """True when the punctuation at `dot` is not a sentence end (abbreviation, initial, lowercase next)."""
    rest = line[end:].lstrip()
    if rest and rest[0].islower():
        return True
    if line[dot] != ".":
        return False
    word = line[:dot].rsplit(None, 1)[-1] if line[:dot].strip() else ""
    word = word.lstrip("(\"'[").lower()
    return word in _ABBREVIATIONS or (len(word) == 1 and word.isalpha())


def _limit(sentence: str, max_chars: int) -> list[str]:
    """Break an over-long sentence at commas and similar, else at spaces, else hard."""
    out: list[str] = []
    while len(sentence) > max_chars:
        window = sentence[: max_chars + 1]
        cut = max((m.end() for m in _SOFT_BREAK.finditer(window)), default=0)
        if cut < max_chars // 3:
            cut = window.rfind(" ") + 1
        if cut <= 0:
            cut = max_chars
        out.append(sentence[:cut].strip())
        sentence = sentence[cut:].strip()
    if sentence:
        out.append(sentence)
    return out
