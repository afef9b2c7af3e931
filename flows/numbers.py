"""Spoken numbers both ways: 12345 -> words for prompts, and words -> digits for slots."""

from __future__ import annotations

_ONES = (
    "zero one two three four five six seven eight nine ten eleven twelve thirteen fourteen "
    "fifteen sixteen seventeen eighteen nineteen"
).split()
_TENS = "_ _ twenty thirty forty fifty sixty seventy eighty ninety".split()
_SCALES = ((1_000_000_000, "billion"), (1_000_000, "million"), (1000, "thousand"))
_ORDINAL_IRREGULAR = {
    "one": "first", "two": "second", "three": "third", "five": "fifth", "eight": "eighth",
    "nine": "ninth", "twelve": "twelfth",
}

# Words a recognizer writes for a spoken digit. Homophones ("for", "to", "won") count only when
# the utterance is mostly digits, which `digits_in` decides; "oh" is how people say zero.
DIGIT_WORDS = {w: str(i) for i, w in enumerate(_ONES[:10])} | {"oh": "0", "o": "0", "nought": "0"}
DIGIT_HOMOPHONES = {
    "for": "4", "fore": "4", "to": "2", "too": "2", "tu": "2", "won": "1", "ate": "8", "free": "3",
    "tree": "3", "sex": "6", "nein": "9", "fife": "5",
}
CARDINALS = {w: i for i, w in enumerate(_ONES)} | {w: 10 * i for i, w in enumerate(_TENS) if w != "_"}
_MULTIPLIERS = {"hundred": 100, "thousand": 1000, "million": 1_000_000, "billion": 1_000_000_000}
_REPEATS = {"double": 2, "triple": 3}
ORDINALS: dict[str, int] = {}
for _i, _w in enumerate(_ONES[1:], start=1):
    ORDINALS[_ORDINAL_IRREGULAR.get(_w, _w + "th")] = _i
ORDINALS |= {"twentieth": 20, "thirtieth": 30}


def number_words(n: int) -> str:
    """English words for a whole number: 12345 -> 'twelve thousand three hundred forty five'."""
    if n < 0:
        return "minus " + number_words(-n)
    if n < 20:
        return _ONES[n]
    if n < 100:
        tens, ones = divmod(n, 10)
        return _TENS[tens] + (f" {_ONES[ones]}" if ones else "")
    if n < 1000:
        hundreds, rest = divmod(n, 100)
        return f"{_ONES[hundreds]} hundred" + (f" {number_words(rest)}" if rest else "")
    for value, name in _SCALES:
        if n >= value:
            head, rest = divmod(n, value)
            return f"{number_words(head)} {name}" + (f" {number_words(rest)}" if rest else "")
    raise AssertionError(n)  # pragma: no cover - the scales above cover every n >= 1000


def ordinal_words(n: int) -> str:
    """English ordinal: 20 -> 'twentieth', 24 -> 'twenty fourth'."""
    words = number_words(n).split()
    last = words[-1]
    if last in _ORDINAL_IRREGULAR:
        words[-1] = _ORDINAL_IRREGULAR[last]
    elif last.endswith("y"):
        words[-1] = last[:-1] + "ieth"
    else:
        words[-1] = last + "th"
    return " ".join(words)


def digit_words(digits: str) -> str:
    """Say a digit string one digit at a time: '12345' -> 'one two three four five'."""
    return " ".join(_ONES[int(c)] for c in digits if c.isdigit())


def _cardinal(tokens: list[str]) -> int | None:
    """Value of a run of number words ('twelve thousand three hundred forty five'), else None."""
    total, current, seen = 0, 0, False
    for tok in tokens:
        if tok in ("and", "a") and seen:
            continue
        if tok in CARDINALS:
            current += CARDINALS[tok]
        elif tok.isdigit():
            current += int(tok)
        elif tok == "hundred":
            current = max(current, 1) * 100
        elif tok in _MULTIPLIERS:
            total += max(current, 1) * _MULTIPLIERS[tok]
            current = 0
        else:
            return None
        seen = True
    return total + current if seen else None


def _spoken_groups(run: list[str]) -> str:
    """Digits of a run of number words: a whole cardinal if it has hundred/thousand, else the way people
    read digits in pairs ('twelve three forty five' -> '12345', 'one twenty three' -> '123')."""
    if any(t in _MULTIPLIERS for t in run):
        value = _cardinal(run)
        return "" if value is None else str(value)
    out, i = [], 0
    while i < len(run):
        value = CARDINALS[run[i]]
        if value >= 20 and value % 10 == 0 and i + 1 < len(run) and 0 < CARDINALS[run[i + 1]] < 10:
            value += CARDINALS[run[i + 1]]
            i += 1
        out.append(str(value))
        i += 1
    return "".join(out)


def _is_number_word(tok: str) -> bool:
    return tok in CARDINALS or tok in _MULTIPLIERS or tok.isdigit()


def digits_in(tokens: list[str]) -> str:
    """All digits spoken in `tokens`, reading digit runs, 'double 5', and cardinals like 'twelve thousand'."""
    numeric = sum(1 for t in tokens if _is_number_word(t) or t in DIGIT_WORDS or t in _REPEATS)
    homophones = numeric * 2 >= len(tokens) and numeric > 0
    out: list[str] = []
    i = 0
    while i < len(tokens):
        tok = tokens[i]
        if tok in _REPEATS and i + 1 < len(tokens) and tokens[i + 1] in DIGIT_WORDS:
            out.append(DIGIT_WORDS[tokens[i + 1]] * _REPEATS[tok])
            i += 2
            continue
        if tok.isdigit():
            out.append(tok)
        elif tok in DIGIT_WORDS:
            out.append(DIGIT_WORDS[tok])
        elif tok in CARDINALS or tok in _MULTIPLIERS:
            # A run of cardinal words ('twelve thousand three hundred forty five', 'twenty four').
            j = i
            while j < len(tokens) and (tokens[j] in CARDINALS or tokens[j] in _MULTIPLIERS or tokens[j] == "and"):
                j += 1
            out.append(_spoken_groups([t for t in tokens[i:j] if t != "and"]))
            i = j
            continue
        elif homophones and DIGIT_HOMOPHONES.get(tok):
            out.append(DIGIT_HOMOPHONES[tok])
        i += 1
    return "".join(out)


def number_in(tokens: list[str]) -> int | None:
    """The first whole number spoken in `tokens` ('two hundred', '42', 'twenty one'), else None."""
    for i, tok in enumerate(tokens):
        if _is_number_word(tok):
            j = i
            while j < len(tokens) and (_is_number_word(tokens[j]) or tokens[j] == "and"):
                j += 1
            return _cardinal([t for t in tokens[i:j] if t != "and"])
    return None
