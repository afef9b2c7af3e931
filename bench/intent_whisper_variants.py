"""Add the product recognizer's hearing of each held-out phrasing to bench/data/intent_testset.jsonl.

The path is the one a call takes: espeak-ng speech -> 8 kHz G.711 mu-law (the phone line) -> 16 kHz (what the
call leg hands the recognizer) -> the call's own speech input, `ivr.session.speech.CallSpeech` with the [vad]
defaults (endpointer, early decode, complete-answer rule), over Whisper tiny.en loaded as `ivr serve` loads it
(`asr.engines.load_recognizer(AsrConfig(engine="whisper"))`), listening with the `Listen` of the widest step of
the Acme flow ("anything else?", which takes every intent) so its phrase hints are the Grammar. A change to
what a step passes as hints is measured here. The flow acts on the first final transcript, so that is kept.

Run: .venv/bin/python bench/intent_whisper_variants.py [--engine whisper|moonshine|moonshine+whisper]
     [--hints step|none|by-option]  (about 1 s per utterance); rows are tagged "<engine>:<hints>:<voice>"
Rows are cached by (phrase, voice, hint list); pass --fresh after a change to the recognizer or to CallSpeech.
Other sources in the file (typed, pocketsphinx) are kept.

With --training it hears the flow's own training examples instead, for cross-validation (bench/intent_cv.py):
each example is decoded with the hints of a step that does not hold that example's fold (i % 5 of each intent's
examples, as intent_cv.py holds them out), since a new caller phrasing is not among the hints either. Those
rows go to bench/data/intent_training_heard.jsonl; the test set is not used.
"""

from __future__ import annotations

import argparse
import asyncio
import dataclasses
import hashlib
import json
import subprocess
import sys
import tempfile
import time
from collections.abc import AsyncIterator
from pathlib import Path

import yaml

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from asr.corpus import line_noise
from asr.engines import load_recognizer
from flows.loader import load_flow
from flows.runner import FlowRunner
from ivr.core.audio import pcm16_to_ulaw, read_wav, resample, ulaw_to_pcm16
from ivr.core.config import AsrConfig, VadConfig
from ivr.core.events import AudioChunk, DtmfDigit, Event, Listen, Transcript
from ivr.core.interfaces import Recognizer
from ivr.session.speech import CallSpeech

ROOT = Path(__file__).resolve().parents[1]
DATA = ROOT / "bench/data"
VOICES = (("en-us", 165), ("en-us+f3", 145))  # a male and a female voice at two speeds, as for pocketsphinx
RATE = 16000  # [asr] sample_rate: the call leg resamples the 8 kHz line to this
FRAME = RATE // 50 * 2  # 20 ms, the media clock's frame
FRESH = False  # --fresh: decode again even what is cached
ENGINE = "whisper"  # --engine: the recognizer that hears the phrases


def step_listen(flow_path: Path) -> Listen:
    """The Listen of the flow's "anything else?" step (reached by pressing 3 at the main menu)."""
    runner = FlowRunner(load_flow(flow_path))
    state, _ = runner.start("hints")
    _, actions = runner.handle(state, DtmfDigit("hints", digit="3"))
    return [a for a in actions if isinstance(a, Listen)][-1]


def step_phrases(flow_path: Path) -> tuple[str, ...]:
    """The hint phrases of that step."""
    return step_listen(flow_path).phrases


def by_option_phrases(flow_path: Path) -> tuple[str, ...]:
    """The step's hints as flows/turns.py ordered them before: each option's label, then its examples."""
    flow = load_flow(flow_path)
    names = ("yes", "no", "goodbye", "order_status", "returns", "store_hours", "agent")  # the step's options
    found = [p for n in names for p in (flow.intents[n].label, *flow.intents[n].examples)]
    return tuple(dict.fromkeys([*found, "yes", "no"]))


def hint_key(phrases: tuple[str, ...]) -> str:
    """A short fingerprint of a hint list, stored with each row so stale rows are decoded again."""
    return hashlib.sha256("\n".join(phrases).encode()).hexdigest()[:12] if phrases else "none"


def caller_audio(text: str, voice: str, speed: int) -> bytes:
    """`text` spoken by espeak-ng as it reaches the recognizer: 8 kHz mu-law round trip, then 16 kHz PCM."""
    with tempfile.TemporaryDirectory() as tmp:
        wav = Path(tmp) / "said.wav"
        subprocess.run(["espeak-ng", "-v", voice, "-s", str(speed), "-w", str(wav), text], check=True)
        narrow = read_wav(wav, 8000).data
    # Line hiss before and after, so the endpointer sees an onset and a full trailing silence.
    line = line_noise(0.5, seed=1) + narrow + line_noise(1.2, seed=2)
    return resample(ulaw_to_pcm16(pcm16_to_ulaw(line)), 8000, RATE)


class _Line:
    """A caller's call leg that sends one utterance, then line hiss until the IVR has heard the turn."""

    def __init__(self, pcm: bytes, heard: asyncio.Event) -> None:
        self.call_id = "bench"
        self._pcm = pcm
        self._heard = heard

    async def audio(self, rate: int = RATE) -> AsyncIterator[AudioChunk]:
        for i in range(0, len(self._pcm), FRAME):
            yield AudioChunk(self.call_id, pcm=self._pcm[i : i + FRAME], rate=rate)
            await asyncio.sleep(0)
        # Quiet line at the pace of a call while the decode finishes (a call's audio keeps coming too).
        hiss = resample(line_noise(0.02, seed=3), 8000, RATE)
        for _ in range(1000):
            if self._heard.is_set():
                return
            yield AudioChunk(self.call_id, pcm=hiss, rate=rate)
            await asyncio.sleep(0.02)


async def hear(recognizer: Recognizer, pcm: bytes, listen: Listen | None) -> list[str]:
    """Final transcripts of the turns `CallSpeech` finds in `pcm` while the step listens with `listen`."""
    finals: list[str] = []
    heard = asyncio.Event()

    def emit(event: Event) -> None:
        if isinstance(event, Transcript) and event.final:
            finals.append(event.text)
            heard.set()

    speech = CallSpeech(recognizer, VadConfig())
    await speech.run(_Line(pcm, heard), emit, lambda: listen)  # type: ignore[arg-type]
    return finals


def _rows(path: Path) -> list[dict[str, str]]:
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()] if path.exists() else []


async def decode_all(
    items: list[tuple[str, str]], listen: Listen, tag: str, known: dict[tuple[str, str], dict[str, str]]
) -> dict[tuple[str, str], dict[str, str]]:
    """Recognizer rows for every (phrase, voice) not already in `known` with the same hints."""
    recognizer = load_recognizer(AsrConfig(engine=ENGINE, language="en-us", sample_rate=RATE, workers=1))
    key = hint_key(listen.phrases)
    out: dict[tuple[str, str], dict[str, str]] = {}
    todo = [(intent, text, v, s) for intent, text in items for v, s in VOICES]
    started = time.monotonic()
    done = 0
    for intent, text, voice, speed in todo:
        source = f"{ENGINE}:{tag}:{voice}"
        cached = None if FRESH else known.get((text, source))
        if cached is not None and cached.get("hints") == key:
            out[(text, source)] = cached
            continue
        finals = await hear(recognizer, caller_audio(text, voice, speed), listen)
        row = {"intent": intent, "text": finals[0] if finals else "", "source": source, "said": text, "hints": key}
        if len(finals) > 1:
            row["later_turns"] = " | ".join(finals[1:])
        out[(text, source)] = row
        done += 1
        if done % 50 == 0:
            print(f"  {done} decoded, {time.monotonic() - started:.0f} s", file=sys.stderr)
    close = getattr(recognizer, "close", None)
    if close is not None:
        close()
    return out


async def decode_training(flow_path: Path, out_path: Path, folds: int = 5) -> int:
    """Whisper rows for every training example, heard with the hints minus the example's own fold."""
    flow = load_flow(flow_path)
    step = step_listen(flow_path)
    known = {(r["said"], r["source"]): r for r in _rows(out_path)}
    recognizer = load_recognizer(AsrConfig(engine="whisper", language="en-us", sample_rate=RATE, workers=1))
    rows: list[dict[str, str]] = []
    decoded = 0
    for fold in range(folds):
        held = [(name, e) for name, it in flow.intents.items() for i, e in enumerate(it.examples) if i % folds == fold]
        held_set = {e for _, e in held}
        listen = dataclasses.replace(step, phrases=tuple(p for p in step.phrases if p not in held_set))
        key = hint_key(listen.phrases)
        for intent, text in held:
            for voice, speed in VOICES:
                source = f"whisper:cv:{voice}"
                row = None if FRESH else known.get((text, source))
                if row is None or row.get("hints") != key:
                    finals = await hear(recognizer, caller_audio(text, voice, speed), listen)
                    row = {"intent": intent, "text": finals[0] if finals else "", "source": source, "said": text,
                           "hints": key}
                    decoded += 1
                rows.append(row)
    close = getattr(recognizer, "close", None)
    if close is not None:
        close()
    out_path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    return decoded


def main(argv: list[str] | None = None) -> int:
    """Decode missing or stale rows and rewrite the test set, grouped by phrase."""
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--flow", default=str(ROOT / "flows/acme_retail.yaml"))
    ap.add_argument("--data", default=str(DATA / "intent_testset.jsonl"))
    ap.add_argument("--hints", choices=("step", "none", "by-option"), default="step",
                    help="step: the phrases the flow's step passes (the product); none: no grammar; by-option: "
                    "the same phrases in the order used before 2026-11-22 (label and examples option by option)")
    ap.add_argument("--training", action="store_true",
                    help="hear the flow's training examples (cross-validation) instead of the test set")
    ap.add_argument("--fresh", action="store_true", help="ignore cached rows (the recognizer or CallSpeech changed)")
    ap.add_argument("--engine", default="whisper", help="[asr] engine that hears the phrases (default whisper)")
    args = ap.parse_args(argv)
    global FRESH, ENGINE
    FRESH = args.fresh
    ENGINE = args.engine
    if args.training:
        out = DATA / "intent_training_heard.jsonl"
        decoded = asyncio.run(decode_training(Path(args.flow), out))
        print(f"wrote {out} ({decoded} decoded now)", file=sys.stderr)
        return 0
    phrases = yaml.safe_load((DATA / "intent_phrases.yaml").read_text())
    items = [(intent, text) for intent, texts in phrases.items() for text in texts]
    listen = step_listen(Path(args.flow))
    if args.hints == "none":
        listen = dataclasses.replace(listen, phrases=())
    elif args.hints == "by-option":
        listen = dataclasses.replace(listen, phrases=by_option_phrases(Path(args.flow)))
    path = Path(args.data)
    rows = _rows(path)
    known = {(r.get("said", r["text"]), r["source"]): r for r in rows}
    fresh = asyncio.run(decode_all(items, listen, args.hints, known))
    prefix = f"{ENGINE}:{args.hints}:"
    kept = [r for r in rows if not r["source"].startswith(prefix)]
    by_phrase: dict[str, list[dict[str, str]]] = {}
    for r in [*kept, *fresh.values()]:
        by_phrase.setdefault(r.get("said", r["text"]), []).append(r)
    with path.open("w") as f:
        for _, text in items:
            for r in by_phrase.pop(text, []):
                f.write(json.dumps(r) + "\n")
    if by_phrase:
        print(f"dropped rows of {len(by_phrase)} phrases no longer in intent_phrases.yaml", file=sys.stderr)
    key = hint_key(listen.phrases)
    print(f"{len(fresh)} {ENGINE}:{args.hints} rows ({len(listen.phrases)} hint phrases, key {key})", file=sys.stderr)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
