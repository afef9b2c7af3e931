"""Intent detection that tolerates ASR errors: a small logistic model over words, character n-grams and sound codes.

Each flow trains its own classifier when it loads (0.1-0.3 s) from the intents' example phrases and keywords.
Character n-grams over the whole utterance survive misheard or split words ("track my pack age"); sound codes
catch homophones ("ours" / "hours"); crude stems join inflections ("returned" / "returns"); a word the model
never saw counts as a known word one edit away ("oder" / "order"). A ranked list with confidences comes back;
the runner reprompts or confirms below a step's threshold.
"""

from __future__ import annotations

import functools
import itertools
import re
import threading
from collections import OrderedDict
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np

from flows.model import Intent
from flows.slots import NO_PHRASES, NO_WORDS, YES_PHRASES, YES_WORDS, words

_FILLERS = frozenset("um umm uh uhh er erm hmm ah oh well so like".split())
_CONTRACTIONS = {"where's": "where is", "what's": "what is", "i'd": "i would", "i'm": "i am",
                 "that's": "that is", "it's": "it is", "don't": "do not", "can't": "can not",
                 "hasn't": "has not", "haven't": "have not", "isn't": "is not", "didn't": "did not",
                 "you're": "you are", "i've": "i have", "won't": "will not", "doesn't": "does not"}
_PHONETIC_RULES: list[tuple[str, str]] = [
    (r"^h(?=[aeiou])", ""), (r"^[aeiouy]+", "a"),
    (r"^[kgp](?=n)|^w(?=r)", ""), (r"ph", "f"), (r"ck", "k"), (r"sch", "sk"), (r"tch", "ch"),
    (r"c(?=[eiy])", "s"), (r"c", "k"), (r"q", "k"), (r"x", "ks"), (r"z", "s"), (r"wh", "w"), (r"dg", "j"),
    (r"gh(?![aeiou])", ""), (r"sh", "x"), (r"th", "0"), (r"v", "f"), (r"d$", "t"), (r"(?<!^)[aeiouyhw]", ""),
]
_PHONETIC = [(re.compile(p), r) for p, r in _PHONETIC_RULES]
# Off-topic talk the model learns as "none of these", so chit-chat and garbled audio lose confidence instead of
# landing on the nearest intent. Generic on purpose: nothing here is about any flow's business.
BACKGROUND = (
    "hello", "hi there", "good morning", "hello is anybody there", "can you hear me", "sorry what",
    "what did you say", "hang on a second", "hold on", "just a minute", "wait", "i don't know", "maybe",
    "let me think", "what was that", "one moment please", "the weather is nice today", "it is raining outside",
    "my dog is barking", "i'm driving right now", "the kids are loud", "what time is it", "how are you",
    "i'm fine", "nice to meet you", "tell me a story", "play a song", "i'm hungry", "let's get lunch",
    "turn off the lights", "call my mom", "the game was great", "i love pizza", "my phone is dying",
    "who is this", "is this a robot", "blah", "testing testing", "never mind", "excuse me", "pardon",
    "i forgot", "what's your name", "the car broke down", "my neighbor is noisy", "it's cold in here",
    "what is the meaning of life", "how much does it weigh", "a b c d", "la la la",
)
# Intents named "yes" and "no" also learn the yes/no vocabulary of the yes_no slot.
_BUILTIN_KEYWORDS = {"yes": (*sorted(YES_WORDS), *YES_PHRASES), "no": (*sorted(NO_WORDS), *NO_PHRASES)}
# Training is tiny: a few hundred phrases x a few thousand features; these settle in well under 100 ms.
# Nesterov momentum: plain gradient descent had not converged after 400 epochs (cross-validated accuracy
# still rose with 1000); with momentum 400 epochs score the same as 1000.
_EPOCHS = 400
_LEARNING_RATE = 4.0
_MOMENTUM = 0.9
_L2 = 1e-4
# Feature family weights relative to a whole word (1.0); chosen by bench/intent_cv.py.
_W_SOUND, _W_BIGRAM, _W_CHARS, _W_SQUASHED = 0.5, 0.7, 0.3, 0.2
_W_STEM = 0.5  # a crude stem per word ("returns", "returned" -> "return")
_W_STOP = 0.5  # function words count half: "where is the ..." alone should not pick an intent
_W_FUZZY = 0.5  # an unseen word one edit from a known one ("oder") counts as that word, at this weight
_STOPWORDS = frozenset("i a an the to my me is it of on in for and you your do can be this that am are".split())
_SUFFIXES = ("ing", "ed", "es", "s", "ly", "y")
# How much each background phrase counts in training, relative to an intent example.
_BACKGROUND_WEIGHT = 1.0
# Nearest-example cosine below which confidence is scaled down: the caller said something new.
_COVERAGE = 0.35


@functools.lru_cache(maxsize=8192)
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


@functools.lru_cache(maxsize=8192)
def stem(word: str) -> str:
    """A crude stem ("shipped" -> "ship", "hours" -> "hour") so inflections share a feature."""
    for suffix in _SUFFIXES:
        if word.endswith(suffix) and len(word) - len(suffix) >= 3:
            word = word[: -len(suffix)]
            if len(word) > 3 and word[-1] == word[-2] and word[-1] not in "aeiousl":
                word = word[:-1]
            break
    return word


def features(text: str) -> dict[str, float]:
    """Sparse feature counts of one utterance."""
    toks = normalize(text)
    feats: dict[str, float] = {}

    def add(name: str, weight: float = 1.0) -> None:
        feats[name] = feats.get(name, 0.0) + weight

    for tok in toks:
        add("w:" + tok, _W_STOP if tok in _STOPWORDS else 1.0)
        add("t:" + stem(tok), _W_STEM)
        code = sound_code(tok)
        if code:
            add("p:" + code, _W_SOUND)
    for a, b in itertools.pairwise(toks):
        add(f"b:{a}_{b}", _W_BIGRAM)
    joined = "_" + "_".join(toks) + "_"
    squashed = "".join(toks)
    for n in (3, 4):
        for i in range(len(joined) - n + 1):
            add("c:" + joined[i : i + n], _W_CHARS)
        for i in range(len(squashed) - n + 1):
            add("s:" + squashed[i : i + n], _W_SQUASHED)
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
            keywords = (*intent.keywords, *_BUILTIN_KEYWORDS.get(intent.name, ()))
            docs += [(features(k), label) for k in dict.fromkeys(keywords)]
        if docs:
            docs += [(features(b), len(self.names)) for b in BACKGROUND]
        vocab: dict[str, int] = {}
        for feats, _ in docs:
            for name in feats:
                vocab.setdefault(name, len(vocab))
        self._vocab = vocab
        # Sparse rows (feature index, value) with a bias feature at index len(vocab) in every row.
        rows = [self._row(feats) for feats, _ in docs]
        self._labels = np.array([label for _, label in docs], dtype=np.int64)
        self._examples = np.zeros((len(rows), len(vocab)), dtype=np.float64)
        for r, (r_idx, r_vals) in enumerate(rows):
            self._examples[r, r_idx[:-1]] = r_vals[:-1]
        weights = np.where(self._labels == len(self.names), _BACKGROUND_WEIGHT, 1.0)
        self._weights = _train(self._examples, self._labels, len(self.names) + 1, weights)
        # Rows are grouped by intent (background last), so a per-intent maximum is one reduceat over these offsets.
        self._class_starts = np.searchsorted(self._labels, np.arange(len(self.names) + 1))
        self._near: dict[str, set[str]] = {}
        for name in vocab:
            if name.startswith("w:") and len(name) >= 6:
                for variant in _deletions(name[2:]):
                    self._near.setdefault(variant, set()).add(name[2:])

    def _with_fuzzy(self, feats: dict[str, float]) -> dict[str, float]:
        """Words the model never saw also count as a known word one edit away ("oder" -> "order")."""
        if not _W_FUZZY:
            return feats
        out = dict(feats)
        for name, value in feats.items():
            if name.startswith("w:") and name not in self._vocab and len(name) >= 6:
                near = set().union(*(self._near.get(v, set()) for v in _deletions(name[2:])))
                for word in near:
                    out["w:" + word] = out.get("w:" + word, 0.0) + _W_FUZZY * value / len(near)
        return out

    def _row(self, feats: dict[str, float]) -> tuple[np.ndarray, np.ndarray]:
        vocab = self._vocab
        idx_list, val_list = [], []
        for name, value in feats.items():
            j = vocab.get(name)
            if j is not None:
                idx_list.append(j)
                val_list.append(value)
        idx = np.array(idx_list, dtype=np.int64)
        vals = np.array(val_list, dtype=np.float64)
        norm = float(np.linalg.norm(vals)) if len(vals) else 1.0
        return np.append(idx, len(self._vocab)), np.append(vals / norm, 1.0)

    def _best_similarity(self, idx: np.ndarray, vals: np.ndarray, keep: list[int]) -> float:
        """Cosine similarity of the utterance to its nearest training phrase among `keep` intents."""
        if not len(self._labels):
            return 0.0
        sims = self._examples[:, idx] @ vals
        per_class = np.maximum.reduceat(sims, self._class_starts)[: len(self.names)]
        return float(per_class[keep].max())

    def classify(self, text: str, allowed: Iterable[str] | None = None) -> list[RankedIntent]:
        """Intents ranked by confidence, restricted to `allowed` (a step's intents) when given."""
        allow = None if allowed is None else set(allowed)
        keep = [i for i, n in enumerate(self.names) if allow is None or n in allow]
        if not keep:
            return []
        idx, vals = self._row(self._with_fuzzy(features(text)))
        idx, vals = idx[:-1], vals[:-1]
        if len(idx) == 0:
            return [RankedIntent(self.names[i], 0.0) for i in keep]
        logits = vals @ self._weights[idx] + self._weights[-1]
        probs = _softmax(logits[[*keep, len(self.names)]])[:-1]
        # Little overlap with every training phrase means the caller talked about something else.
        coverage = min(1.0, self._best_similarity(idx, vals, keep) / _COVERAGE)
        ranked = sorted(zip((self.names[i] for i in keep), probs * coverage, strict=True), key=lambda t: -t[1])
        return [RankedIntent(name, round(float(conf), 4)) for name, conf in ranked]


def _deletions(word: str) -> set[str]:
    """The word and every string one deletion away from it (a symmetric-delete index finds edit distance 1)."""
    return {word} | {word[:i] + word[i + 1 :] for i in range(len(word))}


def _train(x: np.ndarray, labels: np.ndarray, n_classes: int, row_weights: np.ndarray) -> np.ndarray:
    """Logistic regression by gradient descent in the dual (w = X^T a): with a few hundred phrases each step
    costs a (phrases x phrases) product instead of one over thousands of features. Returns weights plus a bias row."""
    n_feats = x.shape[1]
    if not len(x) or not n_classes:
        return np.zeros((n_feats + 1, n_classes))
    gram = x @ x.T + 1.0  # the +1 is the bias feature every phrase has
    target = np.zeros((len(x), n_classes))
    target[np.arange(len(x)), labels] = 1.0
    alpha = np.zeros((len(x), n_classes))
    velocity = np.zeros_like(alpha)
    for _ in range(_EPOCHS):
        ahead = alpha + _MOMENTUM * velocity
        probs = _softmax(gram @ ahead)
        velocity = _MOMENTUM * velocity - _LEARNING_RATE * (
            (probs - target) * row_weights[:, None] / len(x) + _L2 * ahead
        )
        alpha += velocity
    return np.vstack([x.T @ alpha, alpha.sum(axis=0, keepdims=True)])


def _softmax(z: np.ndarray) -> np.ndarray:
    z = z - z.max(axis=-1, keepdims=True)
    e = np.exp(z)
    return np.asarray(e / e.sum(axis=-1, keepdims=True))


# Trained classifiers by their training data. A publish that changes prompts but not intents (a new greeting)
# then builds its runner without training, which is seconds of CPU for the demo flow and most of publish-to-live.
# Classifiers are never changed after training, so runners can share one.
_TRAINED: OrderedDict[tuple[Any, ...], IntentClassifier] = OrderedDict()
_TRAINED_LOCK = threading.Lock()
_KEEP_TRAINED = 8


def trained_classifier(intents: Mapping[str, Intent]) -> IntentClassifier:
    """A classifier for `intents`, reused when the same intents, examples and keywords were trained lately."""
    key = tuple((name, i.name, i.examples, i.keywords) for name, i in intents.items())
    with _TRAINED_LOCK:
        found = _TRAINED.get(key)
        if found is not None:
            _TRAINED.move_to_end(key)
            return found
    classifier = IntentClassifier(intents)  # trained outside the lock: two threads may both train, rarely
    with _TRAINED_LOCK:
        _TRAINED[key] = classifier
        while len(_TRAINED) > _KEEP_TRAINED:
            _TRAINED.popitem(last=False)
    return classifier

