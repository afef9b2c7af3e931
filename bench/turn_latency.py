"""Turn latency on real calls: caller's end of speech -> recognized -> first reply audio.

N concurrent `ivr call` callers each wait for the Acme menu, say "order status" (espeak-ng,
sent as 8 kHz audio with a known amount of trailing silence), and listen for the reply. With
`--digits 12345` they key 1 instead and read the order number (real FSDD takes) when asked.
The real end of speech is the caller's play_start plus where the speech in its file ends; the
reply is the first audio the caller hears afterwards. Recognition latency is what the IVR logs:
from the end of speech its VAD found to the final result. Prints one row per concurrency level:

    .venv/bin/python bench/turn_latency.py --levels 1,30 --rounds 3
"""

from __future__ import annotations

import argparse
import math
import re
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from asr.corpus import DigitTake, data_dir, spoken_digits  # noqa: E402
from ivr.core.audio import read_wav, resample, silence, write_wav  # noqa: E402
from tests.e2e.harness import events, finish_call, start_call, start_server  # noqa: E402

PAD_END = 0.5  # seconds of silence after the phrase in the caller's file


LEAD = 0.2  # seconds of silence before the phrase


def phrase_wav(text: str, folder: Path) -> tuple[Path, float]:
    """The caller's file and where its speech ends (seconds from the start of the file)."""
    raw = folder / "raw.wav"
    subprocess.run(["espeak-ng", "-v", "en-us", "-s", "170", "-w", str(raw), text], check=True)
    pcm = read_wav(raw)
    speech = resample(pcm.data, pcm.rate, 8000)
    samples = np.frombuffer(speech, dtype="<i2")
    loud = np.flatnonzero(np.abs(samples) > 32768 * 10 ** (-45 / 20))  # espeak pads with silence: trim it
    speech = samples[loud[0] : loud[-1] + 1].tobytes()
    out = folder / "phrase.wav"
    write_wav(out, silence(LEAD, 8000) + speech + silence(PAD_END, 8000), 8000)
    return out, LEAD + len(speech) / 2 / 8000


def digits_wav(number: str, folder: Path) -> tuple[Path, float]:
    """A caller reading an order number (real FSDD takes of one speaker) and where its speech ends."""
    takes = [DigitTake(data_dir() / "fsdd" / f"{d}_jackson_{i}.wav", int(d), "jackson") for i, d in enumerate(number)]
    pcm = spoken_digits(takes, pad=0.0)
    samples = np.frombuffer(pcm, dtype="<i2")
    loud = np.flatnonzero(np.abs(samples) > 32768 * 10 ** (-45 / 20))
    speech = samples[: loud[-1] + 1].tobytes()
    out = folder / "digits.wav"
    write_wav(out, silence(LEAD, 8000) + speech + silence(PAD_END, 8000), 8000)
    return out, LEAD + len(speech) / 2 / 8000


def pct(values: list[float], q: float) -> float:
    if not values:
        return float("nan")
    v = sorted(values)
    return v[min(len(v) - 1, max(0, math.ceil(q / 100 * len(v)) - 1))]


def run_level(n: int, rounds: int, wav: Path, speech_end: float, out: Path, first: tuple[str, ...]) -> dict[str, float]:
    workers = math.ceil(n / 2)
    srv = start_server(out / f"serve-{n}", workers=workers, env={
        "IVR_FLOWS__DEFAULT": str(REPO / "flows/acme_retail.yaml"), "IVR_WORKERS__LOG_LEVEL": "1",
    })  # fmt: skip
    reply: list[float] = []
    failures = 0
    try:
        for _ in range(rounds):
            procs = []
            for _ in range(n):
                procs.append(start_call(srv.uri, *first, f"quiet play {wav}", "+10 hangup", max_seconds=60))
                time.sleep(0.1)
            for proc in procs:
                t = finish_call(proc, timeout=120)
                plays = events(t, "play_start")
                if not plays:
                    failures += 1
                    continue
                # play_start is noted as the player is connected: its first frame leaves within 20 ms
                end_of_speech = plays[0]["t"] + speech_end
                after = [e["t"] for e in events(t, "prompt_start") if e["t"] > end_of_speech]
                if after:
                    reply.append((after[0] - end_of_speech) * 1000)
                else:
                    failures += 1
        log = srv.log()
    finally:
        srv.stop()
    # the IVR logs when the final result is ready, measured from the end of speech its VAD found
    recognized = [float(m) for m in re.findall(r"recognized '.*?' (\d+) ms after the end of speech", log)]
    return {"calls": n, "turns": len(reply), "failures": failures,
            "asr_p50": pct(recognized, 50), "asr_p95": pct(recognized, 95),
            "reply_p50": pct(reply, 50), "reply_p95": pct(reply, 95)}  # fmt: skip


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--levels", default="1,30")
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--phrase", default="order status", help="what the caller says at the menu")
    ap.add_argument("--digits", default="", help="instead: key 1 at the menu, then read this order number (FSDD)")
    args = ap.parse_args()
    out = Path(tempfile.mkdtemp(prefix="turn-latency-"))
    wav, speech_end = digits_wav(args.digits, out) if args.digits else phrase_wav(args.phrase, out)
    first = ("quiet dtmf 1",) if args.digits else ()
    rows = [run_level(int(n), args.rounds, wav, speech_end, out, first) for n in args.levels.split(",")]
    print("| concurrent calls | turns | failed | end of speech -> recognized p50 / p95 ms "
          "| end of speech -> first reply audio p50 / p95 ms |")  # fmt: skip
    print("|---|---|---|---|---|")
    for r in rows:
        print(f"| {r['calls']} | {r['turns']} | {r['failures']} | {r['asr_p50']:.0f} / {r['asr_p95']:.0f} "
              f"| {r['reply_p50']:.0f} / {r['reply_p95']:.0f} |")  # fmt: skip
    return 0


if __name__ == "__main__":
    sys.exit(main())
