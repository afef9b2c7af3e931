"""Choose classifier settings without touching the test set: k-fold cross-validation on a flow's own examples.

Run: /work/venv/bin/python bench/intent_cv.py [--flow flows/acme_retail.yaml]
Each fold holds out a fifth of every intent's examples and of the built-in background phrases, trains on the
rest, and scores held-out examples (right intent above the threshold) and held-out background (rejected).
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import flows.intents as intents_module
from flows.loader import load_flow
from flows.model import Intent

FOLDS = 5


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


def cross_validate(intents: dict[str, Intent], threshold: float) -> tuple[float, float, float]:
    """(in-scope accuracy, misroute rate, background rejection) over the folds."""
    background = intents_module.BACKGROUND
    ok = wrong = total = rejected = bg_total = 0
    for fold in range(FOLDS):
        train = {n: Intent(n, tuple(e for i, e in enumerate(it.examples) if i % FOLDS != fold), it.keywords)
                 for n, it in intents.items()}
        held = [(e, n) for n, it in intents.items() for i, e in enumerate(it.examples) if i % FOLDS == fold]
        with settings(BACKGROUND=tuple(b for i, b in enumerate(background) if i % FOLDS != fold)):
            classifier = intents_module.IntentClassifier(train)
        for text, truth in held:
            top = classifier.classify(text)[0]
            pred = top.intent if top.confidence >= threshold else "none"
            total += 1
            ok += pred == truth
            wrong += pred not in ("none", truth)
        for i, text in enumerate(background):
            if i % FOLDS == fold:
                bg_total += 1
                rejected += classifier.classify(text)[0].confidence < threshold
    return 100 * ok / total, 100 * wrong / total, 100 * rejected / bg_total


def main(argv: list[str] | None = None) -> int:
    """Print cross-validated scores for a small grid of settings and thresholds."""
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--flow", default=str(Path(__file__).resolve().parents[1] / "flows/acme_retail.yaml"))
    args = ap.parse_args(argv)
    intents = dict(load_flow(args.flow).intents)
    grid = {
        "_BACKGROUND_WEIGHT": (0.3, 1.0),
        "_W_CHARS": (0.15, 0.3),
        "_W_SOUND": (0.25, 0.5),
    }
    print(f"{'background':>11}{'chars':>7}{'sound':>7}{'threshold':>10}{'accuracy':>10}{'misroute':>10}"
          f"{'bg rejected':>12}")
    for bg in grid["_BACKGROUND_WEIGHT"]:
        for chars in grid["_W_CHARS"]:
            for sound in grid["_W_SOUND"]:
                for threshold in (0.3, 0.4, 0.5):
                    with settings(_BACKGROUND_WEIGHT=bg, _W_CHARS=chars, _W_SOUND=sound):
                        acc, wrong, rej = cross_validate(intents, threshold)
                    print(f"{bg:>11}{chars:>7}{sound:>7}{threshold:>10}{acc:>9.1f}%{wrong:>9.1f}%{rej:>11.1f}%")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
