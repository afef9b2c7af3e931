"""Intent detection that tolerates ASR errors: a small logistic model over words, character n-grams and sound codes.

Each flow trains its own classifier when it loads (tens of milliseconds) from the intents' example phrases
and keywords. Character n-grams over the whole utterance survive misheard or split words ("track my pack
age"); sound codes catch homophones ("ours" / "hours"). A ranked list with confidences comes back; the
runner reprompts or confirms below a step's threshold.
"""

from __future__ import annotations

import itertools
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass

import numpy as np

from flows.model import Intent
from flows.slots import words

_FILLERS = frozenset("um umm uh uhh er erm hmm ah oh well so like".split())
_CONTRACTIONS = {"where's": "where is", "what's": "what is", "i'd": "i would", "i'm": "i am",
                 "that's": "that is", "it's": "it is", "don't": "do not", "can't": "can not",
                 "hasn't": "has not", "haven't": "have not", "isn't": "is not", "didn't": "did not",
                 "you're": "you are", "i've": "i have", "won't": "will not", "doesn't": "does not"}
_PHONETIC_RULES: list[tuple[str, str]] = [
    (r"^[kgp](?=n)|^w(?=r)", ""), (r"ph", "f"), (r"ck", "k"), (r"sch", "sk"), (r"tch", "ch"),
    (r"c(?=[eiy])", "s"), (r"c", "k"), (r"q", "k"), (r"x", "ks"), (r"z", "s"), (r"wh", "w"), (r"dg", "j"),
    (r"gh(?![aeiou])", ""), (r"sh", "x"), (r"th", "0"), (r"v", "f"), (r"d$", "t"), (r"(?<!^)[aeiouyhw]", ""),
]
_PHONETIC = [(re.compile(p), r) for p, r in _PHONETIC_RULES]
# Training is tiny: a few hundred phrases x a few thousand features; these settle in well under 100 ms.
_EPOCHS = 200
_LEARNING_RATE = 2.0
_L2 = 1e-3
# Nearest-example cosine below which confidence is scaled down: the caller said something new.
_COVERAGE = 0.35


def sound_code(word: str) -> str:
    """A rough phonetic key (metaphone-like) so words that sound alike share a feature."""
    code = word.lower()
    for pattern, repl in _PHONETIC:
        code = pattern.sub(repl, code)
    return re.sub(r"(.)\1+", r"\1", code)


def normalize(text: str) -> list[str]:
    """Caller text as plain word tokens: contractions expanded, fillers (um, uh) dropped."""
    out: list[str] = []
    for tok in words(text):
        out.extend(_CONTRACTIONS.get(tok, tok).split())
    return [t for t in out if t not in _FILLERS]


def features(text: str) -> dict[str, float]:
    """Sparse feature counts of one utterance."""
    toks = normalize(text)
    feats: dict[str, float] = {}

    def add(name: str, weight: float = 1.0) -> None:
        feats[name] = feats.get(name, 0.0) + weight

    for tok in toks:
        add("w:" + tok)
        code = sound_code(tok)
        if code:
            add("p:" + code, 0.5)
    for a, b in itertools.pairwise(toks):
        add(f"b:{a}_{b}", 0.7)
    joined = "_" + "_".join(toks) + "_"
    squashed = "".join(toks)
    for n in (3, 4):
        for i in range(len(joined) - n + 1):
            add("c:" + joined[i : i + n], 0.3)
        for i in range(len(squashed) - n + 1):
            add("s:" + squashed[i : i + n], 0.2)
    return feats


@dataclass(frozen=True)
class RankedIntent:
    """One candidate intent with its confidence in [0, 1]."""

    intent: str
    confidence: float


class IntentClassifier:
    """Multinomial logistic regression over `features`, trained from a flow's intents at load time."""

    def __init__(self, intents: Mapping[str, Intent]) -> None:
        self.names: tuple[str, ...] = tuple(intents)
        docs: list[tuple[dict[str, float], int]] = []
        for label, intent in enumerate(intents.values()):
            docs += [(features(e), label) for e in intent.examples]
            # A keyword alone is strong evidence; include each as a one-word example.
            docs += [(features(k), label) for k in intent.keywords]
        vocab: dict[str, int] = {}
        for feats, _ in docs:
            for name in feats:
                vocab.setdefault(name, len(vocab))
        self._vocab = vocab
        # Sparse rows (feature index, value) with a bias feature at index len(vocab) in every row.
        rows = [self._row(feats) for feats, _ in docs]
        self._labels = np.array([label for _, label in docs], dtype=np.int64)
        self._weights = _train(rows, self._labels, len(vocab) + 1, len(self.names))
        self._examples = np.zeros((len(rows), len(vocab) + 1), dtype=np.float64)
        for r, (r_idx, r_vals) in enumerate(rows):
            self._examples[r, r_idx[:-1]] = r_vals[:-1]

    def _row(self, feats: dict[str, float]) -> tuple[np.ndarray, np.ndarray]:
        known = [(self._vocab[n], v) for n, v in feats.items() if n in self._vocab]
        idx = np.array([i for i, _ in known], dtype=np.int64)
        vals = np.array([v for _, v in known], dtype=np.float64)
        norm = float(np.linalg.norm(vals)) if len(vals) else 1.0
        return np.append(idx, len(self._vocab)), np.append(vals / norm, 1.0)

    def _best_similarity(self, idx: np.ndarray, vals: np.ndarray, keep: list[int]) -> float:
        """Cosine similarity of the utterance to its nearest training phrase among `keep` intents."""
        sims = self._examples[:, idx] @ vals
        mask = np.isin(self._labels, keep)
        return float(sims[mask].max()) if mask.any() else 0.0

    def classify(self, text: str, allowed: Iterable[str] | None = None) -> list[RankedIntent]:
        """Intents ranked by confidence, restricted to `allowed` (a step's intents) when given."""
        allow = None if allowed is None else set(allowed)
        keep = [i for i, n in enumerate(self.names) if allow is None or n in allow]
        if not keep:
            return []
        idx, vals = self._row(features(text))
        idx, vals = idx[:-1], vals[:-1]
        if len(idx) == 0:
            return [RankedIntent(self.names[i], 0.0) for i in keep]
        logits = vals @ self._weights[idx] + self._weights[-1]
        probs = _softmax(logits[keep])
        # Little overlap with every training phrase means the caller talked about something else.
        coverage = min(1.0, self._best_similarity(idx, vals, keep) / _COVERAGE)
        ranked = sorted(zip((self.names[i] for i in keep), probs * coverage, strict=True), key=lambda t: -t[1])
        return [RankedIntent(name, round(float(conf), 4)) for name, conf in ranked]


def _train(rows: list[tuple[np.ndarray, np.ndarray]], labels: np.ndarray, n_feats: int, n_classes: int) -> np.ndarray:
    """Full-batch gradient descent on sparse rows (a few hundred short phrases)."""
    w = np.zeros((n_feats, n_classes))
    if not rows or not n_classes:
        return w
    idx = np.concatenate([r[0] for r in rows])
    vals = np.concatenate([r[1] for r in rows])
    row_of = np.repeat(np.arange(len(rows)), [len(r[0]) for r in rows])
    starts = np.cumsum([0] + [len(r[0]) for r in rows[:-1]])
    target = np.zeros((len(rows), n_classes))
    target[np.arange(len(rows)), labels] = 1.0
    for _ in range(_EPOCHS):
        probs = _softmax(np.add.reduceat(w[idx] * vals[:, None], starts, axis=0))
        err = (probs - target)[row_of] * vals[:, None]
        grad = np.stack([np.bincount(idx, err[:, c], n_feats) for c in range(n_classes)], axis=1)
        w -= _LEARNING_RATE * (grad / len(rows) + _L2 * w)
    return w


def _softmax(z: np.ndarray) -> np.ndarray:
    z = z - z.max(axis=-1, keepdims=True)
    e = np.exp(z)
    return np.asarray(e / e.sum(axis=-1, keepdims=True))
