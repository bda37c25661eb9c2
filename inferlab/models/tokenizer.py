"""The course tokenizer: a small byte-level BPE shared by the target and draft models.

Text is split into chunks (a word with its leading space, one digit, a run of
punctuation or other symbols, or whitespace), each chunk's UTF-8 bytes are the
starting tokens 0..255, and the learned merges are applied in the order they were
learned: merge `r` turns the pair `merges[r]` into token `256 + r`. Every string
encodes, and `decode(encode(s)) == s`.
"""
from __future__ import annotations

import collections
import json
import re
from pathlib import Path

import torch

# Covers every character: letters, single digits, other symbols, whitespace.
PATTERN = r" ?[A-Za-z]+| ?[0-9]| ?[^\sA-Za-z0-9]+|\s+(?!\S)|\s+"


def _to_bytes(text: str) -> bytes:
    return text.encode("utf-8", errors="surrogatepass")  # lone surrogates round-trip too


def _merge(ids: list[int], pair: tuple[int, int], new_id: int) -> list[int]:
    """Replace every non-overlapping occurrence of `pair` in `ids`, left to right."""
    out, i = [], 0
    while i < len(ids):
        if i + 1 < len(ids) and ids[i] == pair[0] and ids[i + 1] == pair[1]:
            out.append(new_id)
            i += 2
        else:
            out.append(ids[i])
            i += 1
    return out


def train_bpe(text: str, num_merges: int) -> list[tuple[int, int]]:
    """Learn `num_merges` merges from `text`; the most frequent pair wins, ties to the smallest pair."""
    chunks = collections.Counter(re.findall(PATTERN, text))
    words = [(list(_to_bytes(chunk)), count) for chunk, count in sorted(chunks.items())]
    merges = []
    for rank in range(num_merges):
        pairs = collections.Counter()
        for ids, count in words:
            for pair in zip(ids, ids[1:]):
                pairs[pair] += count
        if not pairs:
            break
        best = min(pairs, key=lambda p: (-pairs[p], p))
        merges.append(best)
        words = [(_merge(ids, best, 256 + rank), count) for ids, count in words]
    return merges


class Tokenizer:
    """Byte-level BPE: `encode(str) -> list[int]`, `decode(ids) -> str`."""

    def __init__(self, merges: list[tuple[int, int]]):
        self.merges = [tuple(int(i) for i in pair) for pair in merges]
        self.ranks = {pair: rank for rank, pair in enumerate(self.merges)}
        self.vocab_size = 256 + len(self.merges)
        self.token_bytes = [bytes([i]) for i in range(256)]
        for a, b in self.merges:
            self.token_bytes.append(self.token_bytes[a] + self.token_bytes[b])
        self._pattern = re.compile(PATTERN)
        self._cache: dict[str, list[int]] = {}

    def _encode_chunk(self, chunk: str) -> list[int]:
        ids = list(_to_bytes(chunk))
        while len(ids) >= 2:
            pair = min(zip(ids, ids[1:]), key=lambda p: self.ranks.get(p, len(self.ranks)))
            if pair not in self.ranks:
                break
            ids = _merge(ids, pair, 256 + self.ranks[pair])
        return ids

    def encode(self, text: str) -> list[int]:
        """Token ids of `text`."""
        if not isinstance(text, str):
            raise TypeError(f"text must be a str, got {type(text).__name__}")
        ids = []
        for chunk in self._pattern.findall(text):
            cached = self._cache.get(chunk)
            if cached is None:
                cached = self._encode_chunk(chunk)
                if len(self._cache) < 100_000:
                    self._cache[chunk] = cached
            ids.extend(cached)
        return ids

    def decode(self, ids) -> str:
        """Text of token ids (a list of ints or a 1-D integer tensor); invalid UTF-8 becomes U+FFFD."""
        if isinstance(ids, torch.Tensor):
            if ids.dim() != 1:
                raise ValueError(f"ids must be 1-D, got shape {tuple(ids.shape)}")
            ids = ids.tolist()
        data = bytearray()
        for i in ids:
            if not isinstance(i, int) or isinstance(i, bool) or not 0 <= i < self.vocab_size:
                raise ValueError(f"ids must be ints in [0, {self.vocab_size}), got {i!r}")
            data += self.token_bytes[i]
        try:
            return bytes(data).decode("utf-8", errors="surrogatepass")
        except UnicodeDecodeError:  # e.g. generation stopped inside a multi-byte character
            return bytes(data).decode("utf-8", errors="replace")

    def save(self, path: Path) -> None:
        """Write the merges as JSON."""
        payload = {"pattern": PATTERN, "vocab_size": self.vocab_size, "merges": [list(p) for p in self.merges]}
        Path(path).write_text(json.dumps(payload, separators=(",", ":")) + "\n")

    @classmethod
    def from_file(cls, path: Path) -> "Tokenizer":
        """Read merges written by `save`."""
        payload = json.loads(Path(path).read_text())
        if payload["pattern"] != PATTERN:
            raise ValueError(f"{path} was written with another pre-tokenizer pattern")
        return cls(payload["merges"])
