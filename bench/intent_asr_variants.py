"""Regenerate bench/data/intent_testset.jsonl: each held-out phrasing as typed and as misheard by pocketsphinx.

The ASR path is espeak-ng speech -> 8 kHz G.711 mu-law (a phone line) -> 16 kHz -> pocketsphinx
with its general US English model, so the errors are those of a real recognizer, not invented ones.
A second condition, `asr-hinted`, decodes with a small language model built from the phrases the runner hands
the recognizer as hints (Listen.phrases of the widest step), the way a deployed recognizer is biased to a step.
Run: .venv/bin/python bench/intent_asr_variants.py  (minutes; needs espeak-ng and sox)
"""

from __future__ import annotations

import hashlib
import json
import subprocess
import sys
import tempfile
import wave
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

import yaml

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

DATA = Path(__file__).parent / "data"
# Two voices, two speeds: the recognizer's mistakes differ between them.
VOICES = (("en-us", 165), ("en-us+f3", 145))
HINTED_VOICE = ("en-us", 165)


def _hint_lm(path: Path) -> str:
    """An ARPA trigram model of the flow's hint phrases (what Listen.phrases carries)."""
    import io

    from pocketsphinx.lm import ArpaBoLM

    from flows.loader import load_flow
    from flows.runner import FlowRunner
    from ivr.core.events import DtmfDigit, Listen

    runner = FlowRunner(load_flow(Path(__file__).parents[1] / "flows/acme_retail.yaml"))
    state, _ = runner.start("lm")
    _, actions = runner.handle(state, DtmfDigit("lm", digit="3"))
    listen = [a for a in actions if isinstance(a, Listen)][-1]
    model = ArpaBoLM(text="\n".join(listen.phrases).lower(), case="lower", add_start=True)
    model.compute()
    buf = io.StringIO()
    model.write(buf)
    path.write_text(buf.getvalue())
    return hashlib.sha256("\n".join(listen.phrases).encode()).hexdigest()[:12]


def _decode(jobs: list[tuple[str, str, int]], lm: str = "") -> list[str]:
    from pocketsphinx import Decoder

    decoder = Decoder(samprate=16000, logfn="/dev/null", **({"lm": lm} if lm else {}))
    out = []
    with tempfile.TemporaryDirectory() as tmp:
        raw, line, wide = (str(Path(tmp) / n) for n in ("a.wav", "b.wav", "c.wav"))
        for text, voice, speed in jobs:
            subprocess.run(["espeak-ng", "-v", voice, "-s", str(speed), "-w", raw, text], check=True)
            subprocess.run(["sox", raw, "-r", "8000", "-e", "mu-law", line], check=True)
            subprocess.run(["sox", line, "-r", "16000", "-e", "signed", "-b", "16", wide], check=True)
            with wave.open(wide, "rb") as w:
                pcm = w.readframes(w.getnframes())
            decoder.start_utt()
            decoder.process_raw(pcm, full_utt=True)
            decoder.end_utt()
            hyp = decoder.hyp()
            out.append(hyp.hypstr if hyp is not None else "")
    return out


def main() -> int:
    """Write the test set file with one line per (phrase, source)."""
    phrases = yaml.safe_load((DATA / "intent_phrases.yaml").read_text())
    items = [(intent, text) for intent, texts in phrases.items() for text in texts]
    out_path = DATA / "intent_testset.jsonl"
    # Keep what pocketsphinx already heard for unchanged phrases; decode only new ones.
    with tempfile.TemporaryDirectory() as tmp, ProcessPoolExecutor(2) as pool:
        lm = str(Path(tmp) / "hints.arpa")
        hints = _hint_lm(Path(lm))
        known: dict[tuple[str, str], str] = {}
        if out_path.exists():
            for line in out_path.read_text().splitlines():
                row = json.loads(line)
                if row["source"].startswith("asr:") and row.get("hints", hints) == hints:
                    known[(row["said"], row["source"][4:])] = row["text"]
        jobs = [(text, voice, speed) for _, text in items for voice, speed in VOICES if (text, voice) not in known]
        hinted = [(text, *HINTED_VOICE) for _, text in items if (text, "hinted:" + HINTED_VOICE[0]) not in known]
        half, h_half = len(jobs) // 2, len(hinted) // 2
        parts = pool.map(_decode, [jobs[:half], jobs[half:], hinted[:h_half], hinted[h_half:]], ["", "", lm, lm])
        decoded = [h for part in parts for h in part]
    known |= {(text, voice): hyp for (text, voice, _), hyp in zip(jobs, decoded, strict=False)}
    known |= {(text, "hinted:" + voice): hyp for (text, voice, _), hyp in zip(hinted, decoded[len(jobs):], strict=True)}
    variants = [v for v, _ in VOICES] + ["hinted:" + HINTED_VOICE[0]]
    results = [known[(text, voice)] for _, text in items for voice in variants]
    # Rows of other recognizers (bench/intent_whisper_variants.py) stay, after this one's rows of each phrase.
    others: dict[str, list[str]] = {}
    for line in out_path.read_text().splitlines() if out_path.exists() else []:
        row = json.loads(line)
        if row["source"] != "typed" and not row["source"].startswith("asr:"):
            others.setdefault(row["said"], []).append(line)
    with out_path.open("w") as f:
        for i, (intent, text) in enumerate(items):
            f.write(json.dumps({"intent": intent, "text": text, "source": "typed"}) + "\n")
            for j, voice in enumerate(variants):
                asr = results[i * len(variants) + j]
                row = {"intent": intent, "text": asr, "source": f"asr:{voice}", "said": text}
                if voice.startswith("hinted:"):
                    row["hints"] = hints
                f.write(json.dumps(row) + "\n")
            f.writelines(line + "\n" for line in others.get(text, []))
    print(f"wrote {len(items)} phrasings x {1 + len(variants)} variants ({len(jobs) + len(hinted)} decoded now)",
          file=sys.stderr)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
