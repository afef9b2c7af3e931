"""Overload at 2x capacity over real SIP: does any caller sit in silence, and are the extra calls refused with 503?

`ivr serve` runs the Acme hotline with a small capacity ([overload] max_calls and decode_slots). Each round,
2 x max_calls `ivr call` processes dial at once; the admitted ones wait for the menu, say "order status"
(espeak-ng at 8 kHz, a known end of speech) and listen for 8 s; the others must be refused before answer
with 503 and Retry-After. Measured from the caller's side: the silence from their end of speech to the
first audio they hear ("One moment." or the reply), and the longest silence before the reply itself (a
prompt of 1.5 s or more; "One moment." is 0.7 s). A caller whose menu asked for keys (keypad fallback) is
counted apart: their words were not taken. One command, prints a table:

    .venv/bin/python bench/overload.py --capacity 4 --slots 2 --rounds 3
"""

from __future__ import annotations

import argparse
import json
import math
import os
import re
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from bench.turn_latency import PAD_END, pct, phrase_wav  # noqa: E402
from tests.e2e.harness import events, start_call, start_server  # noqa: E402

PROMPTS = REPO / ".pytest_cache/d/ivr-e2e-prompts"  # kept between runs, like a deployment's var/prompts
REPLY_SECONDS = 1.5  # a heard prompt this long is the reply; the acknowledgement is shorter
QUIET = 0.8  # `ivr call` notes a prompt's end after this much quiet (its --quiet-ms default)


def speech_ended(t: dict[str, Any], speech_end: float) -> float | None:
    """When the caller's speech ended on their clock: the end of the file they played less its quiet tail.

    Counted from the end, not from play_start + offset: on an overloaded machine the caller's own media clock
    runs late and a 1.6 s file takes up to 5 s to go out (see `stretch`), and the IVR hears it as it goes out.
    """
    starts, ends = events(t, "play_start"), events(t, "play_end")
    if ends:
        return float(ends[0]["t"]) - PAD_END
    return float(starts[0]["t"]) + speech_end if starts else None


def stretch(t: dict[str, Any], seconds: float) -> float | None:
    """How much longer than the file the caller's playback took (1.0: on time)."""
    starts, ends = events(t, "play_start"), events(t, "play_end")
    return (ends[0]["t"] - starts[0]["t"]) / seconds if starts and ends else None


def silences(t: dict[str, Any], speech_end: float) -> tuple[float, float] | None:
    """(end of speech -> first audio, longest silence before the reply), or None if nothing was heard."""
    end = speech_ended(t, speech_end)
    if end is None:
        return None
    marks = [(e["event"], e["t"]) for e in t["events"] if e["event"] in ("prompt_start", "prompt_end")]
    segments: list[tuple[float, float]] = []
    for kind, at in marks:
        if kind == "prompt_start":
            segments.append((at, math.inf))
        elif segments:
            segments[-1] = (segments[-1][0], at - QUIET)
    after = [s for s in segments if s[0] > end]
    if not after:
        return None
    first = after[0][0] - end
    longest, last_end = first, end
    for start, stop in after:
        longest = max(longest, start - last_end)
        if stop - start >= REPLY_SECONDS:
            break
        last_end = stop
    return first, longest


def run_round(uri: str, n: int, wav: Path, name: str) -> list[tuple[dict[str, Any], str, str]]:
    """n callers dial at once; each is (timeline, stderr, caller ID: the From user the IVR logs)."""
    procs = []
    for i in range(n):
        user = f"{name}c{i}"
        procs.append((start_call(uri, f"quiet play {wav}", "+8 hangup", max_seconds=60, extra=("--user", user)), user))
        time.sleep(0.05)
    out = []
    for p, user in procs:
        stdout, stderr = p.communicate(timeout=150)
        text = stdout.decode()
        out.append((json.loads(text[text.find("{") :]), stderr.decode(), user))
    return out


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--capacity", type=int, default=4, help="[overload] max_calls; 2x this many callers dial")
    ap.add_argument("--slots", type=int, default=2, help="[overload] decode_slots and [asr] workers")
    ap.add_argument("--rounds", type=int, default=3)
    args = ap.parse_args()
    out = Path(tempfile.mkdtemp(prefix="overload-"))
    wav, speech_end = phrase_wav("order status", out)
    callers = 2 * args.capacity
    srv = start_server(out / "serve", workers=math.ceil(callers / 2), env={
        "IVR_FLOWS__DEFAULT": str(REPO / "flows/acme_retail.yaml"), "IVR_WORKERS__LOG_LEVEL": "1",
        "IVR_OVERLOAD__MAX_CALLS": str(args.capacity), "IVR_OVERLOAD__DECODE_SLOTS": str(args.slots),
        "IVR_ASR__WORKERS": str(args.slots), "IVR_TTS__CACHE_DIR": str(PROMPTS),
    })  # fmt: skip
    results: list[tuple[dict[str, Any], str, str]] = []
    load = []
    try:
        for r in range(args.rounds):
            results += run_round(srv.uri, callers, wav, f"r{r}")
            load.append(os.getloadavg()[0])
            time.sleep(2)
        log = srv.log()
    finally:
        try:
            srv.stop()
        except AssertionError as exc:  # a slow stop on a loaded machine does not void the rounds measured
            print(f"(ivr serve stopped slowly: {str(exc)[:80]})", file=sys.stderr)
    (out / "timelines.json").write_text(json.dumps([{"user": u, **t} for t, _, u in results], indent=1))
    answered = [(t, user) for t, _, user in results if t["answered"]]
    refused = [t for t, _, _ in results if not t["answered"]]
    refused_503 = [t for t in refused if t["end_code"] == 503 and t["retry_after"] is not None]
    # A caller whose menu came with "Please use your keypad. Press 1 for ..." spoke over a keys-only step:
    # nothing was decoded and the IVR waits for keys (its no-input timeout), by design: counted apart.
    calls = dict(re.findall(r"call (\S+) offered on \S+ from <sip:(\w+)@", log))
    keyed_calls = set(re.findall(r"call (\S+) says 'Please use your keypad\. Press", log))
    keyed_users = {user for call, user in calls.items() if call in keyed_calls}
    keyed = [t for t, user in answered if user in keyed_users]
    spoken = [t for t, user in answered if user not in keyed_users]
    heard = [s for s in (silences(t, speech_end) for t in spoken) if s is not None]
    first = [s[0] for s in heard]
    longest = [s[1] for s in heard]
    replies = len({m for m in re.findall(r"call (\S+) says 'Please say or key in your five-digit order number", log)})
    acks = log.count("says 'One moment.'")
    keypad = log.count("says 'Please use your keypad.")
    print(f"timelines and the server log: {out}")
    print(f"callers {callers} a round x {args.rounds} rounds; capacity {args.capacity} calls, {args.slots} decode "
          f"slots; load average during the rounds {', '.join(f'{x:.1f}' for x in load)}")  # fmt: skip
    print("| dialled | answered | refused (503 + Retry-After / all refused) | completed (heard the reply) "
          "| speech turns taken (menu asked for keys) | end of speech -> first audio p50 / p95 / max s "
          "| longest silence before the reply max s | 'one moment' played | keypad fallbacks |")  # fmt: skip
    print("|---|---|---|---|---|---|---|---|---|")
    print(f"| {len(results)} | {len(answered)} | {len(refused_503)} / {len(refused)} | {replies} "
          f"| {len(spoken)} ({len(keyed)}) "
          f"| {pct(first, 50):.2f} / {pct(first, 95):.2f} / {max(first, default=math.nan):.2f} "
          f"| {max(longest, default=math.nan):.2f} | {acks} | {keypad} |")  # fmt: skip
    stretched = [x for x in (stretch(t, speech_end + PAD_END) for t in spoken) if x is not None]
    print(f"callers' playback took {pct(stretched, 50):.1f}x (median) / {max(stretched, default=math.nan):.1f}x "
          "(worst) the file's length: above ~1.2x the callers' own processes were short of CPU")  # fmt: skip
    if len(heard) < len(spoken):
        print(f"{len(spoken) - len(heard)} caller(s) whose speech was taken heard nothing after it")
    return 0


if __name__ == "__main__":
    sys.exit(main())
