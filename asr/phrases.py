"""Matching free recognizer text against a grammar's phrases (used to constrain Whisper).

A grammar accepts one or more of its phrases in a row. Text matches if, ignoring case and the
separators a transcriber puts between words (spaces, commas, full stops, dashes), it spells such a
sequence. Number words also match their digits, so "5, 3" matches the phrases "five three".
"""

from __future__ import annotations

from collections.abc import Iterable

SEPARATORS = frozenset(" ,.-!?")
NUMBER_WORDS = ("zero", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine")

# (phrases matched so far, alias index or -1 between phrases, characters of the alias consumed)
_State = tuple[tuple[int, ...], int, int]


def normalize_phrase(phrase: str) -> str:
    """Lower case, single spaces, no separators at the ends."""
    return " ".join(phrase.lower().split()).strip("".join(SEPARATORS))


class PhraseMatcher:
    """Recognizes which sequence of grammar phrases a piece of text spells."""

    def __init__(self, phrases: Iterable[str]) -> None:
        self.phrases: tuple[str, ...] = tuple(dict.fromkeys(p for p in map(normalize_phrase, phrases) if p))
        aliases: list[tuple[str, int]] = []
        for i, phrase in enumerate(self.phrases):
            aliases.append((phrase, i))
            if phrase in NUMBER_WORDS:
                aliases.append((str(NUMBER_WORDS.index(phrase)), i))
            elif phrase.isdigit() and len(phrase) == 1:
                aliases.append((NUMBER_WORDS[int(phrase)], i))
        self.aliases: tuple[tuple[str, int], ...] = tuple(aliases)

    def spellings(self) -> list[str]:
        """Ways a transcriber may write each phrase (used to build an allowed-token list)."""
        out: list[str] = []
        for alias, _ in self.aliases:
            for form in dict.fromkeys((alias, alias.capitalize(), alias.title())):
                out += [form, " " + form]
        return out

    def phrase_for(self, word: str) -> str | None:
        """The phrase a single written word stands for ("5" -> "five"), if it is one."""
        word = normalize_phrase(word)
        return next((self.phrases[i] for spelling, i in self.aliases if spelling == word), None)

    def parse(self, text: str) -> tuple[str, ...] | None:
        """The phrases `text` spells (fewest phrases if ambiguous), or None if it spells none."""
        states: set[_State] = {((), -1, 0)}
        for char in text.lower():
            states = self._step(states, char)
            if not states:
                return None
        ends = [done for done, alias, _ in states if alias < 0 and done]
        if not ends:
            return None
        return tuple(self.phrases[i] for i in min(ends, key=len))

    def _step(self, states: set[_State], char: str) -> set[_State]:
        out: set[_State] = set()
        for done, alias, pos in states:
            if alias < 0:
                if char in SEPARATORS:
                    out.add((done, -1, 0))
                    continue
                for j, (spelling, phrase) in enumerate(self.aliases):
                    if spelling[0] == char:
                        out.add(_advance(done, j, 1, spelling, phrase))
            else:
                spelling, phrase = self.aliases[alias]
                if spelling[pos] == char:
                    out.add(_advance(done, alias, pos + 1, spelling, phrase))
        return out


def _advance(done: tuple[int, ...], alias: int, pos: int, spelling: str, phrase: int) -> _State:
    if pos == len(spelling):
        return (*done, phrase), -1, 0
    return done, alias, pos
