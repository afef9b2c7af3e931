"""Regenerate bench/data/intent_testset.jsonl: each held-out phrasing as typed and as misheard by ASR.

The ASR path is espeak-ng speech -> 8 kHz G.711 mu-law (a phone line) -> 16 kHz -> pocketsphinx
with its general US English model, so the errors are those of a real recognizer, not invented ones.
Run: /work/venv/bin/python bench/intent_asr_variants.py  (a few minutes; needs espeak-ng and sox)
"""

from __future__ import annotations

import json
import subprocess
import sys
import tempfile
import wave
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

import yaml

DATA = Path(__file__).parent / "data"
# Two voices, two speeds: the recognizer's mistakes differ between them.
VOICES = (("en-us", 165), ("en-us+f3", 145))


def _decode(jobs: list[tuple[str, str, int]]) -> list[str]:
    from pocketsphinx import Decoder

    decoder = Decoder(samprate=16000, logfn="/dev/null")
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
    jobs = [(text, voice, speed) for _, text in items for voice, speed in VOICES]
    half = len(jobs) // 2
    with ProcessPoolExecutor(2) as pool:
        results = [h for part in pool.map(_decode, [jobs[:half], jobs[half:]]) for h in part]
    with (DATA / "intent_testset.jsonl").open("w") as f:
        for i, (intent, text) in enumerate(items):
            f.write(json.dumps({"intent": intent, "text": text, "source": "typed"}) + "\n")
            for j, (voice, _) in enumerate(VOICES):
                asr = results[i * len(VOICES) + j]
                f.write(json.dumps({"intent": intent, "text": asr, "source": f"asr:{voice}", "said": text}) + "\n")
    print(f"wrote {len(items)} phrasings x {1 + len(VOICES)} variants", file=sys.stderr)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
