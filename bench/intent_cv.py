"""Choose classifier settings without touching the test set: k-fold cross-validation on a flow's own examples.

Run: .venv/bin/python bench/intent_cv.py [--flow flows/acme_retail.yaml]
Each fold holds out a fifth of every intent's examples and of the built-in background phrases, trains on the
rest, and scores held-out examples (right intent above the threshold) and held-out background (rejected).
If bench/data/intent_training_heard.jsonl exists (bench/intent_whisper_variants.py --training), the held-out
examples are also scored as Whisper heard them through a phone line, with hints that did not contain them.
The first row is the adopted setting; the others change one knob at a time.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import flows.intents as intents_module
from flows.loader import load_flow
from flows.model import Intent

FOLDS = 5
THRESHOLDS = (0.3, 0.4, 0.5)
ROOT = Path(__file__).resolve().parents[1]


@contextmanager
def settings(**values: object) -> Iterator[None]:
    """Temporarily override module-level training settings (e.g. _L2=1e-3)."""
    old = {k: getattr(intents_module, k) for k in values}
    for k, v in values.items():
        setattr(intents_module, k, v)
    try:
        yield
    finally:
        for k, v in old.items():
            setattr(intents_module, k, v)


Scores = dict[float, tuple[float, float, float, float]]


def cross_validate(intents: dict[str, Intent], heard: dict[str, list[str]]) -> Scores:
    """Per threshold: (accuracy, misroute, background rejected, accuracy on what Whisper heard) in percent."""
    background = intents_module.BACKGROUND
    typed: list[tuple[str, str, float]] = []  # (truth, top intent, confidence)
    spoken: list[tuple[str, str, float]] = []
    bg: list[float] = []
    for fold in range(FOLDS):
        train = {n: Intent(n, tuple(e for i, e in enumerate(it.examples) if i % FOLDS != fold), it.keywords)
                 for n, it in intents.items()}
        held = [(e, n) for n, it in intents.items() for i, e in enumerate(it.examples) if i % FOLDS == fold]
        with settings(BACKGROUND=tuple(b for i, b in enumerate(background) if i % FOLDS != fold)):
            classifier = intents_module.IntentClassifier(train)
        for text, truth in held:
            top = classifier.classify(text)[0]
            typed.append((truth, top.intent, top.confidence))
            for version in heard.get(text, []):
                top = classifier.classify(version)[0]
                spoken.append((truth, top.intent, top.confidence))
        bg += [classifier.classify(t)[0].confidence for i, t in enumerate(background) if i % FOLDS == fold]
    out = {}
    for th in THRESHOLDS:
        ok = sum(1 for truth, pred, conf in typed if pred == truth and conf >= th)
        wrong = sum(1 for truth, pred, conf in typed if pred != truth and conf >= th)
        spoken_ok = sum(1 for truth, pred, conf in spoken if pred == truth and conf >= th)
        out[th] = (100 * ok / len(typed), 100 * wrong / len(typed), 100 * sum(c < th for c in bg) / len(bg),
                   100 * spoken_ok / len(spoken) if spoken else float("nan"))
    return out


def main(argv: list[str] | None = None) -> int:
    """Print cross-validated scores for the adopted settings and one-knob changes, at three thresholds."""
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--flow", default=str(ROOT / "flows/acme_retail.yaml"))
    ap.add_argument("--heard", default=str(ROOT / "bench/data/intent_training_heard.jsonl"))
    args = ap.parse_args(argv)
    intents = dict(load_flow(args.flow).intents)
    heard: dict[str, list[str]] = {}
    if Path(args.heard).exists():
        for line in Path(args.heard).read_text().splitlines():
            row = json.loads(line)
            heard.setdefault(row["said"], []).append(row["text"])
    n_heard = sum(len(v) for e, v in heard.items() if any(e in it.examples for it in intents.values()))
    print(f"{sum(len(i.examples) for i in intents.values())} examples in {FOLDS} folds, "
          f"{len(intents_module.BACKGROUND)} background phrases, {n_heard} Whisper hearings of the examples")
    variants: list[tuple[str, dict[str, object]]] = [
        ("adopted", {}),
        ("function words full weight", {"_W_STOP": 1.0}),
        ("no stems", {"_W_STEM": 0.0}),
        ("no fuzzy words", {"_W_FUZZY": 0.0}),
        ("no momentum (before)", {"_MOMENTUM": 0.0}),
        ("all four off (before)", {"_W_STOP": 1.0, "_W_STEM": 0.0, "_W_FUZZY": 0.0, "_MOMENTUM": 0.0}),
        ("chars 0.15", {"_W_CHARS": 0.15}),
        ("sound 0.25", {"_W_SOUND": 0.25}),
        ("background weight 0.5", {"_BACKGROUND_WEIGHT": 0.5}),
        ("L2 3e-4", {"_L2": 3e-4}),
    ]
    print(f"{'setting':<30}{'threshold':>10}{'accuracy':>10}{'misroute':>10}{'bg rejected':>12}{'heard acc':>11}")
    for name, values in variants:
        with settings(**values):
            scores = cross_validate(intents, heard)
        for th, (acc, wrong, rej, spoken) in scores.items():
            label = name if th == THRESHOLDS[0] else ""
            heard_acc = f"{spoken:>10.1f}%" if heard else f"{'n/a':>11}"
            print(f"{label:<30}{th:>10}{acc:>9.1f}%{wrong:>9.1f}%{rej:>11.1f}%{heard_acc}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
