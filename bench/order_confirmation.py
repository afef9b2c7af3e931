"""When to read an order number back: recognizer confidence of right and wrong reads, and what confirming costs.

    .venv/bin/python bench/order_confirmation.py confidence [--sequences 100]
    .venv/bin/python bench/order_confirmation.py calls --flow flows/acme_retail.yaml [--flow OLD.yaml] [--rounds 5]

`confidence`: five-digit order numbers read by one FSDD speaker each, through a G.711 μ-law line, decoded at
the IVR's rate with the hints the Acme `ask_order_number` step gives (as CallSpeech does); the runner's slot
parser reads the digits. For each `confirm_below` it prints how many right reads would still be read back
("Is that right?") and how many wrong reads would go to the lookup unconfirmed.

`calls`: real calls (`ivr serve` + `ivr call`) on the demo's order path by speech: the caller says "order
status", reads 12345 (real FSDD takes), answers "yes" if asked "Is that right?", and hangs up later. Prints,
per flow file, the caller's turns up to the order status, the seconds from the end of the order number to
the IVR's first reply (recognition: it depends on the machine's load), and from that reply to the start of
the order status (the read-back exchange: prompt, the caller's "yes" and its recognition; 0 when the first
reply is the answer), median over the rounds.
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from asr.corpus import LINE_RATE, digit_sequences, digit_takes, phone_line, spoken_digits  # noqa: E402
from asr.engines import load_recognizer  # noqa: E402
from flows import FlowRunner, load_flow  # noqa: E402
from flows.model import CollectStep  # noqa: E402
from flows.slots import parse_slot  # noqa: E402
from ivr.core.config import AsrConfig  # noqa: E402
from ivr.core.events import DtmfDigit, Listen  # noqa: E402
from ivr.core.interfaces import Grammar  # noqa: E402

ACME = REPO / "flows" / "acme_retail.yaml"
THRESHOLDS = (0.0, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9)


def order_step_listen(flow: Path) -> tuple[FlowRunner, Listen]:
    """The Listen the Acme flow sends at its order-number step (key 1 at the menu)."""
    runner = FlowRunner(load_flow(flow))
    state, _ = runner.start("bench")
    _, actions = runner.handle(state, DtmfDigit("bench", digit="1"))
    return runner, next(a for a in actions if isinstance(a, Listen))


async def confidence(count: int) -> None:
    runner, listen = order_step_listen(ACME)
    step = runner.flow.steps["ask_order_number"]
    assert isinstance(step, CollectStep)
    rate = AsrConfig().sample_rate
    recognizer = load_recognizer(AsrConfig(sample_rate=rate, workers=1))
    reads: list[tuple[bool, float, str, str]] = []
    frame = rate // 50 * 2
    for i, seq in enumerate(digit_sequences(digit_takes(), count)):
        pcm = phone_line(spoken_digits(seq, seed=i), LINE_RATE, rate)
        stream = recognizer.stream("bench", Grammar("order", listen.phrases))
        for j in range(0, len(pcm), frame):
            stream.push(pcm[j : j + frame])
        stream.end()
        text, conf = "", 0.0
        async for event in stream:
            if event.final:
                text, conf = event.text, event.confidence
        truth = "".join(str(t.digit) for t in seq)
        value = parse_slot(step.slot, text=text) if text.strip() else None
        reads.append((value == truth, value is not None, conf, truth, text))
    right = sorted(c for ok, _, c, _, _ in reads if ok)
    looked_up = [c for ok, number, c, _, _ in reads if number and not ok]  # a wrong five-digit number
    print(f"engine {recognizer.capabilities.engine} ({recognizer.capabilities.model}), {rate} Hz, {count} numbers: "
          f"{len(right)} read right, {len(looked_up)} read as another five-digit number, "
          f"{count - len(right) - len(looked_up)} not read as five digits (the step asks again anyway)")  # fmt: skip
    if len(right) > 1:
        print(f"confidence of right reads: min {right[0]:.2f}, p10 {statistics.quantiles(right, n=10)[0]:.2f}, "
              f"median {statistics.median(right):.2f}")  # fmt: skip
    for ok, number, c, truth, text in sorted(reads, key=lambda r: r[2]):
        if not ok:
            print(f"  {c:.2f} {truth} heard {text!r}" + ("" if number else " (not five digits)"))
    print("| confirm_below | right reads read back | wrong five-digit reads looked up without a read-back |")
    print("|---|---|---|")
    for t in THRESHOLDS:
        asked = sum(c < t for c in right) if t else len(right)
        slipped = sum(c >= t for c in looked_up) if t else 0
        label = "unset (always)" if not t else f"{t:.2f}"
        print(f"| {label} | {asked} of {len(right)} | {slipped} of {len(looked_up)} |")


def calls(flows: list[Path], rounds: int) -> None:
    from bench.turn_latency import digits_wav, phrase_wav
    from tests.e2e.harness import events, run_call, start_server

    out = Path(tempfile.mkdtemp(prefix="order-confirmation-"))
    for name in ("menu", "yes", "number"):
        (out / name).mkdir()
    phrase, _ = phrase_wav("order status", out / "menu")
    yes, _ = phrase_wav("yes", out / "yes")
    number, number_end = digits_wav("12345", out / "number")
    print("| flow | caller turns to the answer | end of order number -> first reply, median s "
          "| first reply -> answer starts (the read-back exchange), median s |")  # fmt: skip
    print("|---|---|---|---|")
    for flow in flows:
        srv = start_server(out / f"serve-{flow.stem}-{time.monotonic_ns()}", workers=1, kamailio=False,
                           env={"IVR_FLOWS__DEFAULT": str(flow.resolve()), "IVR_WORKERS__LOG_LEVEL": "1"})  # fmt: skip
        replies: list[float] = []
        exchanges: list[float] = []
        turns: list[int] = []
        try:
            for _ in range(rounds):
                before = srv.log().count("says 'Order one two three four five shipped")
                confirms_before = srv.log().count("says 'I heard one two three four five. Is that right?'")
                t = run_call(srv.uri, f"quiet play {phrase}", f"quiet play {number}", f"quiet play {yes}",
                             "quiet hangup", max_seconds=90)  # fmt: skip
                srv.wait_log("says 'Order one two three four five shipped", count=before + 1, timeout=30)
                confirmed = srv.log().count("says 'I heard one two three four five. Is that right?'") > confirms_before
                plays = events(t, "play_start")
                spoken_end = plays[1]["t"] + number_end
                starts = [e["t"] for e in events(t, "prompt_start") if e["t"] > spoken_end]
                # The answer is the first prompt after the number, or after the "yes" when it was asked.
                answer = next(s for s in starts if s > plays[2]["t"]) if confirmed else starts[0]
                replies.append(starts[0] - spoken_end)
                exchanges.append(answer - starts[0])
                turns.append(3 if confirmed else 2)
        finally:
            srv.stop()
        print(f"| {flow} | {statistics.median(turns):g} | {statistics.median(replies):.2f} "
              f"| {statistics.median(exchanges):.2f} |")  # fmt: skip


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = ap.add_subparsers(dest="what", required=True)
    p = sub.add_parser("confidence")
    p.add_argument("--sequences", type=int, default=100)
    p = sub.add_parser("calls")
    p.add_argument("--flow", type=Path, action="append", required=True)
    p.add_argument("--rounds", type=int, default=5)
    args = ap.parse_args()
    if args.what == "confidence":
        asyncio.run(confidence(args.sequences))
    else:
        calls(args.flow, args.rounds)
    return 0


if __name__ == "__main__":
    sys.exit(main())
