"""Moonshine's tokenizer (a Llama SentencePiece BPE vocabulary) read from its `tokenizer.bin`.

The file is the list of pieces in id order, each a length (one byte, or two when the first is 128
or more: `(b0 - 128) + 128 * b1`) and its UTF-8 bytes. Ids 0-2 are <unk>, <s>, </s>; ids 3-258
are the raw bytes 0x00-0xff (byte fallback). The file holds no merge scores, but a SentencePiece
BPE vocabulary lists merged pieces in merge order, so merging the adjacent pair with the lowest
id reproduces its encoding (checked on digits, yes/no and menu phrases against the model's own
output).
"""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path

from ivr.core.errors import ModelError

BOS = 1
EOT = 2
_FIRST_BYTE = 3
SPACE = "\u2581"  # SentencePiece's word-start mark


class MoonshineTokenizer:
    """Text to Moonshine token ids and back."""

    def __init__(self, path: str | Path) -> None:
        data = Path(path).read_bytes()
        pieces: list[bytes] = []
        i = 0
        try:
            while i < len(data):
                n = data[i]
                i += 1
                if n >= 128:
                    n = (n - 128) + 128 * data[i]
                    i += 1
                pieces.append(data[i : i + n])
                i += n
        except IndexError as exc:
            raise ModelError(f"{path} is not a Moonshine tokenizer.bin (truncated); reinstall moonshine-cpp") from exc
        if len(pieces) < 259 or pieces[EOT] != b"</s>":
            raise ModelError(f"{path} is not a Moonshine tokenizer.bin; reinstall moonshine-cpp")
        self.pieces: tuple[bytes, ...] = tuple(pieces)
        self._ids = {p: i for i, p in enumerate(pieces) if i >= _FIRST_BYTE}

    def decode(self, ids: list[int] | tuple[int, ...]) -> str:
        """The text of token ids (special tokens and ids past the vocabulary are skipped)."""
        raw = b"".join(self.pieces[t] for t in ids if EOT < t < len(self.pieces))
        return raw.decode("utf-8", "replace").replace(SPACE, " ").strip()

    def text(self, token: int) -> str:
        """One token's text with the word-start mark as a space ("" for special tokens)."""
        if not EOT < token < len(self.pieces):
            return ""
        return self.pieces[token].decode("utf-8", "replace").replace(SPACE, " ")

    @lru_cache(maxsize=4096)  # noqa: B019 - a tokenizer lives for the whole process
    def encode(self, text: str) -> tuple[int, ...]:
        """Token ids of `text` as the model writes it at the start of a transcript (a leading word mark)."""
        parts: list[bytes] = []
        for char in SPACE + text.replace(" ", SPACE):
            b = char.encode()
            parts += [b] if b in self._ids else [bytes([x]) for x in b]
        while len(parts) > 1:
            ranks = [self._ids.get(parts[i] + parts[i + 1], -1) for i in range(len(parts) - 1)]
            candidates = [(r, i) for i, r in enumerate(ranks) if r >= 0]
            if not candidates:
                break
            _, i = min(candidates)
            parts[i : i + 2] = [parts[i] + parts[i + 1]]
        return tuple(self._ids.get(p, _FIRST_BYTE + p[0]) for p in parts)
