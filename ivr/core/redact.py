"""How sensitive caller input (card numbers, PINs) appears wherever a call is stored or logged.

A collect step marked `sensitive` keeps its value in the flow's variables only; transcripts,
intents, IVR read-backs and log lines show these markers instead.
"""

from __future__ import annotations

REDACTED_SPEECH = "[redacted speech]"
REDACTED_VALUE = "[redacted]"  # a sensitive variable inside an IVR prompt ("I heard [redacted], right?")


def redact_keys(keys: str) -> str:
    """'4111111111111111' -> '[redacted 16 digits]': the length helps QA, the digits are gone."""
    n = len(keys)
    return f"[redacted {n} digit{'' if n == 1 else 's'}]"
