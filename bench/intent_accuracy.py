"""Intent accuracy, confusion tables and classifier latency on held-out caller phrasings.

Run: .venv/bin/python bench/intent_accuracy.py [--flow flows/acme_retail.yaml] [--data FILE] [--errors]
The test set (bench/data/intent_testset.jsonl) holds every phrasing of bench/data/intent_phrases.yaml as typed
and as heard by the product's English recognizer, Whisper tiny.en, through espeak-ng speech, an 8 kHz mu-law
phone line, the VAD endpointer and the step's phrase hints (bench/intent_whisper_variants.py), plus the older
pocketsphinx hearing (bench/intent_asr_variants.py; not the product's recognizer, kept for comparison).
Phrases are classified against all of the flow's intents (the widest step, "anything else?"); 'none' phrases
are out of scope and count as right when the top confidence is under the flow's threshold.
When the flow names a knowledge base (flows/acme_faq.yaml), its entries compete as at a step with `answers`
(flows/answers.py): an entry that wins counts as 'faq', a wrong answer for in-scope phrasings and a miss
for out-of-scope ones; the held-out FAQ phrasings (bench/data/faq_phrases.yaml) are scored too.
--no-knowledge scores the flow's intents alone, as before knowledge bases.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from collections import Counter
from collections.abc import Callable
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import yaml

from flows.answers import Answers
from flows.intents import IntentClassifier
from flows.loader import load_flow
from flows.slots import words

ROOT = Path(__file__).resolve().parents[1]


def _predict(classifier: IntentClassifier, text: str, threshold: float,
             answers: Answers | None = None) -> tuple[str, float]:
    if answers is not None:  # an entry answers when it tops the joint ranking at its threshold
        ranked_all = answers.rank(text, list(classifier.names))
        if ranked_all and ranked_all[0][0].startswith("faq:") and ranked_all[0][1] >= answers.knowledge.threshold:
            return ranked_all[0]
    ranked = classifier.classify(text)
    if not ranked or ranked[0].confidence < threshold:
        return "none", ranked[0].confidence if ranked else 0.0
    return ranked[0].intent, ranked[0].confidence


def word_error_rate(said: str, heard: str) -> float:
    """Word edit distance over the words said (0 = perfect)."""
    ref, hyp = words(said), words(heard)
    row = list(range(len(hyp) + 1))
    for i in range(1, len(ref) + 1):
        prev, row[0] = row[0], i
        for j in range(1, len(hyp) + 1):
            prev, row[j] = row[j], min(row[j] + 1, row[j - 1] + 1, prev + (ref[i - 1] != hyp[j - 1]))
    return row[len(hyp)] / max(1, len(ref))


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
    ap.add_argument("--no-knowledge", action="store_true", help="leave the flow's knowledge base out")
    ap.add_argument("--faq", default=str(ROOT / "bench/data/faq_phrases.yaml"))
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
    kb = None if args.no_knowledge else flow.knowledge_base
    answers = Answers(flow, kb, classifier) if kb is not None else None

    results = [(it, *_predict(classifier, it["text"], threshold, answers)) for it in items]
    results = [(it, "faq" if pred.startswith("faq:") else pred, conf) for it, pred, conf in results]
    latencies = []
    for _ in range(3):
        for it in items:
            t = time.perf_counter()
            classifier.classify(it["text"])
            latencies.append((time.perf_counter() - t) * 1000)

    typed = sum(1 for it in items if it["source"] == "typed" and it["intent"] != "none")
    confirm_below = min((s.settings.confirm_below for s in flow.steps.values() if hasattr(s, "settings")),
                        default=threshold)
    print(f"flow {flow.version}: {len(flow.intents)} intents, threshold {threshold} (confirm below "
          f"{confirm_below}), trained in {train_ms:.0f} ms")
    print(f"test set {args.data}: {typed} in-scope phrasings (+ none), {len(items)} items with ASR variants")
    if kb is not None:
        print(f"knowledge base {kb.version}: {len(kb.entries)} entries compete (threshold {kb.threshold}); "
              "'faq' = answered by an entry")
    print()
    print(f"{'subset':<44}{'n':>5}{'WER':>6}{'accuracy':>10}{'confirmed':>10}{'wrong':>8}{'reprompt':>10}")

    def wer(it: dict[str, str]) -> float:
        return word_error_rate(it["said"], it["text"]) if "said" in it else 0.0

    def source(prefix: str) -> Callable[[dict[str, str]], bool]:
        return lambda it: it["source"].startswith(prefix)

    whisper = source("whisper:step:")
    pocketsphinx = source("asr:")
    scope = {True: lambda it: it["intent"] != "none", False: lambda it: it["intent"] == "none"}
    subsets = {
        "typed": (lambda it: it["source"] == "typed", True),
        "Whisper tiny.en, step hints (2 voices)": (whisper, True),
        "Whisper, utterances heard with WER <= 25%": (lambda it: whisper(it) and wer(it) <= 0.25, True),
        "Whisper tiny.en, no hints (2 voices)": (source("whisper:none:"), True),
        "Moonshine base-en, step hints (2 voices)": (source("moonshine:step:"), True),
        "Moonshine base-en, no hints (2 voices)": (source("moonshine:none:"), True),
        "Moonshine+Whisper, step hints (2 voices)": (source("moonshine+whisper:step:"), True),
        "Whisper, same hints in the old order": (source("whisper:by-option:"), True),
        "pocketsphinx, general LM (2 voices)": (lambda it: pocketsphinx(it) and "hinted" not in it["source"], True),
        "pocketsphinx, hint LM": (source("asr:hinted:"), True),
        "out of scope, typed (should reprompt)": (lambda it: it["source"] == "typed", False),
        "out of scope, Whisper step hints": (whisper, False),
        "out of scope, Whisper no hints": (source("whisper:none:"), False),
        "out of scope, Whisper hints in the old order": (source("whisper:by-option:"), False),
        "out of scope, Moonshine step hints": (source("moonshine:step:"), False),
        "out of scope, Moonshine no hints": (source("moonshine:none:"), False),
        "out of scope, Moonshine+Whisper step hints": (source("moonshine+whisper:step:"), False),
    }
    for name, (pick, in_scope) in subsets.items():
        chosen = [(it, pred, conf) for it, pred, conf in results if pick(it) and scope[in_scope](it)]
        if not chosen:
            continue
        ok = sum(1 for it, pred, _ in chosen if pred == it["intent"])
        confirmed = sum(1 for it, pred, conf in chosen if pred == it["intent"] != "none" and conf < confirm_below)
        wrong = sum(1 for it, pred, _ in chosen if pred not in ("none", it["intent"]))
        said = sum(len(words(it.get("said", it["text"]))) for it, _, _ in chosen)
        err = sum(wer(it) * len(words(it.get("said", it["text"]))) for it, _, _ in chosen)
        n = len(chosen)
        print(f"{name:<44}{n:>5}{100 * err / max(1, said):>5.0f}%{100 * ok / n:>9.1f}%{100 * confirmed / n:>9.1f}%"
              f"{100 * wrong / n:>7.1f}%{100 * (n - ok - wrong) / n:>9.1f}%")
    print("accuracy: right intent at or above the threshold (out of scope: rejected, so the step reprompts);\n"
          "confirmed: of those, the step asks 'Did you say ...?' first (below confirm_below); wrong: another\n"
          "intent at or above the threshold; reprompt: below it")

    if answers is not None:
        _faq_report(answers, classifier, Path(args.faq))
    labels = [*flow.intents, *(["faq"] if answers is not None else []), "none"]
    for name, pick in (("typed", lambda it: it["source"] == "typed"), ("Whisper tiny.en, step hints", whisper)):
        print(f"\nconfusion, {name}, in scope and out (rows: truth, columns: prediction)")
        print(_table(labels, [(it["intent"], pred) for it, pred, _ in results if pick(it)]))
    latencies.sort()
    p50 = statistics.median(latencies)
    p99 = latencies[int(0.99 * (len(latencies) - 1))]
    print(f"\nclassifier latency over {len(latencies)} calls: p50 {p50:.3f} ms, p99 {p99:.3f} ms, "
          f"max {latencies[-1]:.3f} ms")
    if args.errors:
        print("\nerrors:")
        for it, pred, _ in results:
            if pred != it["intent"]:
                origin = f" (said: {it['said']})" if "said" in it else ""
                print(f"  [{it['source']}] {it['intent']} -> {pred}: {it['text']!r}{origin}")
    return 0


def _faq_report(answers: Answers, classifier: IntentClassifier, path: Path) -> None:
    """Held-out FAQ phrasings: answered by the right entry, by a wrong one, taken by an intent, or not answered."""
    phrases = {str(k): [str(t) for t in v] for k, v in yaml.safe_load(path.read_text()).items()}
    known = {" ".join(words(q)) for e in answers.knowledge.entries.values() for q in e.questions}
    leaked = sorted(t for ts in phrases.values() for t in ts if " ".join(words(t)) in known)
    if leaked:
        raise SystemExit(f"held-out FAQ phrasings that are also entry questions: {leaked}")
    counts: Counter[str] = Counter()
    for entry, texts in phrases.items():
        for text in texts:
            ranked = answers.rank(text, list(classifier.names))
            top, conf = ranked[0]
            if top.startswith("faq:") and conf >= answers.knowledge.threshold:
                counts["right" if top == "faq:" + entry else "wrong entry"] += 1
            else:
                counts["not answered"] += 1
    n = sum(counts.values())
    print(f"\nheld-out FAQ phrasings, typed ({path.name}): n={n}, answered right {100 * counts['right'] / n:.1f}%, "
          f"wrong entry {100 * counts['wrong entry'] / n:.1f}%, not answered {100 * counts['not answered'] / n:.1f}%")


if __name__ == "__main__":
    raise SystemExit(main())
