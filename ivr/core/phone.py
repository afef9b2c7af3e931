"""Caller numbers as lookup keys: one normal form for a SIP From, a tel: URI or a number typed by a person."""

from __future__ import annotations

import re

# Punctuation people and SIP put in numbers but that never tells two numbers apart.
_NOISE = re.compile(r"[\s+\-.()/]")


def number_key(text: str) -> str:
    """'"Dana" <sip:+1 555-0100@host;user=phone>' -> '15550100'; a SIP user name ('alice') stays as it is.

    Strips the display name, the scheme (sip:, sips:, tel:), the host and URI parameters, then '+', spaces,
    dashes, dots, slashes and parentheses. Numbers are stored and looked up in this form.
    """
    inner = str(text).strip()
    if "<" in inner:
        inner = inner.split("<", 1)[1].split(">", 1)[0]
    inner = re.sub(r"^(?:sips?|tel):", "", inner.strip(), flags=re.IGNORECASE)
    inner = inner.split("@", 1)[0].split(";", 1)[0]
    return _NOISE.sub("", inner).lower()
