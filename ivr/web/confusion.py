"""What verdicts say about the recognizer and the intent classifier: confusions and word error rate.

A verdict is a judged caller turn: the intent the flow detected, the intent the caller meant
(the reviewer's correction, or the detected one when the reviewer confirmed it), and for
misrecognized turns the words the caller really said. Callers judge turns too: when the flow was
unsure and asked "Did you say …?", a yes confirms the intent and a no says it was something else.
"""

from __future__ import annotations

import re
from collections import Counter, defaultdict
from collections.abc import Iterable
from dataclasses import dataclass

from pydantic import BaseModel

NO_INTENT = "(none)"  # the flow detected nothing (a no-match), or the caller meant nothing the flow knows
SOMETHING_ELSE = "(something else)"  # the caller said no to "Did you say …?": not what was detected, but unknown


@dataclass(frozen=True)
class Verdict:
    """One reviewed turn as the reports need it."""

    detected: str
    meant: str
    heard: str  # what the recognizer wrote
    said: str  # what the reviewer says the caller said ('' when the reviewer did not retype it)


class Mistake(BaseModel):
    """How often one intent was taken for another."""

    intent: str
    count: int


class IntentConfusion(BaseModel):
    """One intent the callers meant: how often it was recognized, and what it was mistaken for."""

    intent: str
    meant: int
    recognized: int
    detected: int  # how often the flow detected this intent (right or wrong)
    recall: float | None
    precision: float | None
    mistaken_for: list[Mistake]
    taken_from: list[Mistake]  # intents the callers meant when the flow wrongly detected this one


class WordErrors(BaseModel):
    """The recognizer's word error rate over turns a reviewer retyped."""

    turns: int
    reference_words: int
    substitutions: int
    deletions: int
    insertions: int
    wer: float | None


def words(text: str) -> list[str]:
    """Words as WER compares them: lower case, punctuation dropped (apostrophes kept)."""
    return re.findall(r"[\w']+", text.lower())


def align(ref: list[str], hyp: list[str]) -> tuple[int, int, int]:
    """Substitutions, deletions and insertions of the cheapest word alignment (Levenshtein)."""
    # cost, subs, dels, ins for the prefix pair; ties prefer fewer edits, then substitutions
    prev = [(j, 0, 0, j) for j in range(len(hyp) + 1)]
    for i in range(1, len(ref) + 1):
        cur = [(i, 0, i, 0)]
        for j in range(1, len(hyp) + 1):
            if ref[i - 1] == hyp[j - 1]:
                best = prev[j - 1]
            else:
                c, s, d, n = prev[j - 1]
                sub = (c + 1, s + 1, d, n)
                c, s, d, n = prev[j]
                dele = (c + 1, s, d + 1, n)
                c, s, d, n = cur[j - 1]
                ins = (c + 1, s, d, n + 1)
                best = min(sub, dele, ins)
            cur.append(best)
        prev = cur
    _, s, d, n = prev[-1]
    return s, d, n


def word_errors(verdicts: Iterable[Verdict]) -> WordErrors:
    """WER = (S + D + I) / reference words, over verdicts where the reviewer typed what was said."""
    turns = ref_words = subs = dels = ins = 0
    for v in verdicts:
        if not v.said.strip():
            continue
        ref = words(v.said)
        s, d, n = align(ref, words(v.heard))
        turns, ref_words = turns + 1, ref_words + len(ref)
        subs, dels, ins = subs + s, dels + d, ins + n
    wer = (subs + dels + ins) / ref_words if ref_words else None
    return WordErrors(turns=turns, reference_words=ref_words, substitutions=subs, deletions=dels, insertions=ins,
                      wer=None if wer is None else round(wer, 4))  # fmt: skip


def confusion(verdicts: Iterable[Verdict]) -> list[IntentConfusion]:
    """Per intent meant (most often first): recall, precision, and what it was confused with."""
    pairs = [(v.meant or NO_INTENT, v.detected or NO_INTENT) for v in verdicts]
    meant = Counter(m for m, _ in pairs)
    detected = Counter(d for _, d in pairs)
    right = Counter(m for m, d in pairs if m == d)
    wrong_as: dict[str, Counter[str]] = defaultdict(Counter)
    wrong_from: dict[str, Counter[str]] = defaultdict(Counter)
    for m, d in pairs:
        if m != d:
            wrong_as[m][d] += 1
            wrong_from[d][m] += 1
    out = []
    for intent in sorted(set(meant) | set(detected), key=lambda i: (-meant[i], -detected[i], i)):
        out.append(IntentConfusion(
            intent=intent, meant=meant[intent], recognized=right[intent], detected=detected[intent],
            recall=round(right[intent] / meant[intent], 4) if meant[intent] else None,
            precision=round(right[intent] / detected[intent], 4) if detected[intent] else None,
            mistaken_for=[Mistake(intent=i, count=n) for i, n in wrong_as[intent].most_common()],
            taken_from=[Mistake(intent=i, count=n) for i, n in wrong_from[intent].most_common()],
        ))  # fmt: skip
    return out


def caller_verdicts(answers: Iterable[tuple[str, str | None]]) -> list[Verdict]:
    """Verdicts from callers' answers to "Did you say <intent>?": (intent, 'yes' / 'no' / None for unclear)."""
    return [Verdict(detected=intent, meant=intent if answer == "yes" else SOMETHING_ELSE, heard="", said="")
            for intent, answer in answers if answer in ("yes", "no")]  # fmt: skip
