"""Digit accuracy of each English engine on telephone audio.

    .venv/bin/python bench/asr_accuracy.py [--engines moonshine,moonshine+whisper,whisper,pocketsphinx] [--sequences 40]
    .venv/bin/python bench/asr_accuracy.py --turns --engines moonshine   # CPU-s of 2 s turns only

Every FSDD take (400) is padded with 0.3 s of line hiss, sent through a G.711 μ-law line and fed to
a recognizer stream at 8 kHz in 20 ms frames with a strict digits grammar, as a call would. Five-digit
sequences join five takes of one speaker with 0.15 s pauses. RTF is wall time over audio time,
CPU-s counts all threads of this process.
"""

from __future__ import annotations

import argparse
import asyncio
import time
from collections import defaultdict
from dataclasses import dataclass, field

from asr.corpus import (
    DIGIT_WORDS,
    LINE_RATE,
    data_dir,
    digit_sequences,
    digit_takes,
    line_noise,
    phone_line,
    spoken_digits,
)
from asr.engines import load_recognizer
from ivr.core.audio import read_wav
from ivr.core.config import AsrConfig
from ivr.core.interfaces import Grammar, Recognizer

DIGITS = Grammar("digits", DIGIT_WORDS, strict=True)
FRAME = LINE_RATE // 50 * 2


async def recognize(recognizer: Recognizer, pcm: bytes, grammar: Grammar | None) -> str:
    """Feed one utterance in 20 ms frames; return the final text."""
    stream = recognizer.stream("bench", grammar)
    for i in range(0, len(pcm), FRAME):
        stream.push(pcm[i : i + FRAME])
    stream.end()
    text = ""
    async for event in stream:
        if event.final:
            text = event.text
    return text


def words_to_digits(text: str) -> str:
    """'five three' -> '53'; anything else becomes '?'."""
    return "".join(str(DIGIT_WORDS.index(w)) if w in DIGIT_WORDS else "?" for w in text.split())


@dataclass
class EngineResult:
    """One row of the table."""

    engine: str
    model: str = ""
    load_s: float = 0.0
    digits: tuple[int, int] = (0, 0)
    speakers: dict[str, tuple[int, int]] = field(default_factory=dict)
    sequences: tuple[int, int] = (0, 0)
    rtf_digit: float = 0.0
    rtf_seq: float = 0.0
    cpu_digit: float = 0.0
    cpu_seq: float = 0.0


async def bench_engine(engine: str, sequences: int, limit: int, grammar: Grammar | None) -> EngineResult:
    """Measure one engine; returns the row of the table."""
    started = time.monotonic()
    recognizer = load_recognizer(AsrConfig(engine=engine, language="en-us", sample_rate=LINE_RATE, workers=1))
    load_s = time.monotonic() - started
    takes = digit_takes()[:limit] if limit else digit_takes()
    audio_s = wall = cpu = 0.0
    right = 0
    per_speaker: dict[str, list[int]] = defaultdict(lambda: [0, 0])
    for take in takes:
        pcm = phone_line(spoken_digits([take]))
        t0, c0 = time.perf_counter(), time.process_time()
        text = await recognize(recognizer, pcm, grammar)
        wall += time.perf_counter() - t0
        cpu += time.process_time() - c0
        audio_s += len(pcm) / 2 / LINE_RATE
        ok = words_to_digits(text) == str(take.digit)
        right += ok
        per_speaker[take.speaker][0] += ok
        per_speaker[take.speaker][1] += 1
    seq_right = 0
    seq_wall = seq_audio = seq_cpu = 0.0
    for i, seq in enumerate(digit_sequences(digit_takes(), sequences)):
        pcm = phone_line(spoken_digits(seq, seed=i))
        t0, c0 = time.perf_counter(), time.process_time()
        text = await recognize(recognizer, pcm, grammar)
        seq_wall += time.perf_counter() - t0
        seq_cpu += time.process_time() - c0
        seq_audio += len(pcm) / 2 / LINE_RATE
        seq_right += words_to_digits(text) == "".join(str(t.digit) for t in seq)
    second = getattr(recognizer, "second_passes", None)
    if second is not None:
        print(f"{engine}: {second} of {len(takes) + sequences} utterances decoded again by the second pass")
    close = getattr(recognizer, "close", None)
    if close is not None:
        close()
    return EngineResult(
        engine=engine,
        model=recognizer.capabilities.model,
        load_s=load_s,
        digits=(right, len(takes)),
        speakers={s: (v[0], v[1]) for s, v in per_speaker.items()},
        sequences=(seq_right, sequences),
        rtf_digit=wall / audio_s,
        rtf_seq=seq_wall / seq_audio if sequences else 0.0,
        cpu_digit=cpu / len(takes),
        cpu_seq=seq_cpu / sequences if sequences else 0.0,
    )


def _two_seconds(pcm: bytes) -> bytes:
    """`pcm` (8 kHz) cut or padded with line hiss to a 2 s turn."""
    want = 2 * LINE_RATE * 2
    return (pcm + line_noise(2.0, seed=5))[:want]


async def turn_costs(engine: str) -> dict[str, float]:
    """Mean CPU-s of 2 s turns as a call makes them: digits and phrases under a step's hints (not strict)."""
    recognizer = load_recognizer(AsrConfig(engine=engine, language="en-us", sample_rate=LINE_RATE, workers=1))
    takes = digit_takes()
    digits = Grammar("collect", (*DIGIT_WORDS, "oh", "yes", "no"))  # what a digits collect step passes
    cards = Grammar("cards", ("ten of clubs", "four queen of clubs", "seven of clubs", "five five", "agent"))
    turns = {
        "one digit": [(phone_line(spoken_digits([t])), digits) for t in takes[::40]],
        "three digits": [
            (phone_line(spoken_digits(s, gap=0.1, pad=0.2)), digits) for s in digit_sequences(takes, 10, length=3)
        ],
        "phrase": [
            (phone_line(read_wav(data_dir() / "speech" / f"cards_{n:03d}.wav", LINE_RATE).data), cards)
            for n in range(1, 6)
        ],
    }
    await recognize(recognizer, _two_seconds(turns["one digit"][0][0]), digits)  # warm up
    out = {}
    for kind, items in turns.items():
        c0 = time.process_time()
        for pcm, grammar in items:
            await recognize(recognizer, _two_seconds(pcm), grammar)
        out[kind] = (time.process_time() - c0) / len(items)
    close = getattr(recognizer, "close", None)
    if close is not None:
        close()
    return out


def _pct(pair: tuple[int, int]) -> str:
    right, total = pair
    return f"{100 * right / total:6.2f}% ({right}/{total})" if total else "n/a"


def main() -> None:
    """Run the benchmark and print one table row per engine."""
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--engines", default="moonshine,moonshine+whisper,whisper,pocketsphinx")
    parser.add_argument("--sequences", type=int, default=40, help="how many 5-digit sequences")
    parser.add_argument("--limit", type=int, default=0, help="use only the first N takes (0 = all 400)")
    parser.add_argument("--no-grammar", action="store_true", help="free recognition instead of a digits grammar")
    parser.add_argument("--turns", action="store_true", help="only the CPU-s of 2 s turns (digits, phrases)")
    args = parser.parse_args()
    if args.turns:
        for engine in args.engines.split(","):
            costs = asyncio.run(turn_costs(engine))
            print(f"{engine:18} CPU-s per 2 s turn: " + ", ".join(f"{k} {v:.3f}" for k, v in costs.items())
                  + f"; mean {sum(costs.values()) / len(costs):.3f}")  # fmt: skip
        return
    grammar = None if args.no_grammar else DIGITS
    rows = [asyncio.run(bench_engine(e, args.sequences, args.limit, grammar)) for e in args.engines.split(",")]
    print(f"\ngrammar: {'none' if grammar is None else 'strict digits'}; audio: 8 kHz G.711 μ-law round trip")
    header = (
        f"{'engine':13} {'digit accuracy':>22} {'5-digit sequences':>20} {'RTF digit/seq':>14} "
        f"{'CPU-s/utt digit/seq':>20} {'load s':>7}"
    )
    print(header)
    print("-" * len(header))
    for r in rows:
        print(
            f"{r.engine:13} {_pct(r.digits):>22} {_pct(r.sequences):>20} "
            f"{r.rtf_digit:6.3f}/{r.rtf_seq:.3f} {r.cpu_digit:10.3f}/{r.cpu_seq:.3f} {r.load_s:7.1f}"
        )
    for r in rows:
        speakers = ", ".join(f"{s} {_pct(v).strip()}" for s, v in sorted(r.speakers.items()))
        print(f"{r.engine} by speaker: {speakers}")
        print(f"{r.engine} model: {r.model}")


if __name__ == "__main__":
    main()
