"""A deterministic local embedding for semantic store search tests: each word (lowercase,
letters and digits) is hashed into one of `DIMS` buckets, so texts sharing words point the
same way and cosine similarity ranks by word overlap. No model, no network."""

from __future__ import annotations

import hashlib
import re

DIMS = 64


def _vector(text: str) -> list[float]:
    vector = [0.0] * DIMS
    for word in re.findall(r"[a-z0-9]+", text.lower()):
        vector[int(hashlib.sha256(word.encode()).hexdigest(), 16) % DIMS] += 1.0
    return vector


def embed(texts: list[str]) -> list[list[float]]:
    """langgraph's `EmbeddingsFunc`: one `DIMS`-float vector per text."""
    return [_vector(t) for t in texts]
