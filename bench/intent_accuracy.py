"""Intent accuracy, confusion table and classifier latency on held-out caller phrasings.

Run: /work/venv/bin/python bench/intent_accuracy.py [--flow flows/acme_retail.yaml] [--data FILE]
The test set (bench/data/intent_testset.jsonl, made by bench/intent_asr_variants.py) holds every phrasing
as typed and as pocketsphinx heard it through espeak-ng and a mu-law phone line. Phrases are classified
against all of the flow's intents (the widest step, "anything else?"); 'none' phrases are out of scope
and count as right when the top confidence is under the flow's threshold.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from collections import Counter
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from flows.intents import IntentClassifier
from flows.loader import load_flow

ROOT = Path(__file__).resolve().parents[1]


def _predict(classifier: IntentClassifier, text: str, threshold: float) -> str:
    ranked = classifier.classify(text)
    return ranked[0].intent if ranked and ranked[0].confidence >= threshold else "none"


def _table(labels: list[str], pairs: list[tuple[str, str]]) -> str:
    counts = Counter(pairs)
    width = max(len(x) for x in labels) + 1
    head = "true \\ predicted".ljust(width + 4) + "".join(x[:9].rjust(10) for x in labels)
    lines = [head]
    for truth in labels:
        row = [counts[(truth, pred)] for pred in labels]
        lines.append(truth.ljust(width + 4) + "".join(str(n).rjust(10) for n in row))
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    """Print accuracy by source, the confusion table, errors and latency."""
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--flow", default=str(ROOT / "flows/acme_retail.yaml"))
    ap.add_argument("--data", default=str(ROOT / "bench/data/intent_testset.jsonl"))
    ap.add_argument("--errors", action="store_true", help="list every misclassified phrase")
    args = ap.parse_args(argv)

    flow = load_flow(args.flow)
    threshold = min((s.settings.confidence for s in flow.steps.values() if hasattr(s, "settings")),
                    default=0.5)
    training = {e.lower() for i in flow.intents.values() for e in i.examples}
    items = [json.loads(line) for line in Path(args.data).read_text().splitlines() if line.strip()]
    leaked = sorted({it["text"] for it in items if it["source"] == "typed" and it["text"].lower() in training})
    if leaked:
        print(f"test phrases that are also training examples: {leaked}", file=sys.stderr)
        return 1

    t0 = time.perf_counter()
    classifier = IntentClassifier(flow.intents)
    train_ms = (time.perf_counter() - t0) * 1000

    results = []
    for it in items:
        results.append((it, _predict(classifier, it["text"], threshold)))
    latencies = []
    for _ in range(3):
        for it in items:
            t = time.perf_counter()
            classifier.classify(it["text"])
            latencies.append((time.perf_counter() - t) * 1000)

    typed = sum(1 for it in items if it["source"] == "typed" and it["intent"] != "none")
    print(f"flow {flow.version}: {len(flow.intents)} intents, threshold {threshold}, trained in {train_ms:.0f} ms")
    print(f"test set {args.data}: {typed} in-scope phrasings (+ none), {len(items)} items with ASR variants\n")
    print(f"{'subset':<34}{'n':>6}{'correct':>9}{'accuracy':>10}")
    subsets = {
        "typed, in scope": lambda it: it["source"] == "typed" and it["intent"] != "none",
        "ASR (pocketsphinx), in scope": lambda it: it["source"] != "typed" and it["intent"] != "none",
        "ASR, in scope, non-empty": lambda it: it["source"] != "typed" and it["intent"] != "none" and it["text"],
        "all in scope (typed + ASR)": lambda it: it["intent"] != "none",
        "out of scope rejected (typed)": lambda it: it["source"] == "typed" and it["intent"] == "none",
        "out of scope rejected (ASR)": lambda it: it["source"] != "typed" and it["intent"] == "none",
    }
    for name, pick in subsets.items():
        chosen = [(it, pred) for it, pred in results if pick(it)]
        ok = sum(1 for it, pred in chosen if pred == it["intent"])
        acc = 100 * ok / len(chosen) if chosen else 0.0
        print(f"{name:<34}{len(chosen):>6}{ok:>9}{acc:>9.1f}%")

    labels = [*flow.intents, "none"]
    print("\nconfusion, all items (rows: truth, columns: prediction)")
    print(_table(labels, [(it["intent"], pred) for it, pred in results]))
    latencies.sort()
    p50 = statistics.median(latencies)
    p99 = latencies[int(0.99 * (len(latencies) - 1))]
    print(f"\nclassifier latency over {len(latencies)} calls: p50 {p50:.3f} ms, p99 {p99:.3f} ms, "
          f"max {latencies[-1]:.3f} ms")
    if args.errors:
        print("\nerrors:")
        for it, pred in results:
            if pred != it["intent"]:
                said = f" (said: {it['said']})" if "said" in it else ""
                print(f"  [{it['source']}] {it['intent']} -> {pred}: {it['text']!r}{said}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
