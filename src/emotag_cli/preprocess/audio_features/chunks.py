"""Splitting a long token sequence into overlapping encoder chunks.

Transformer encoders cost memory quadratic in input length (wav2vec2) or accept a fixed length
only (Whisper: 30 s). Long audio is therefore encoded chunk by chunk; each chunk keeps only its
*core* tokens, and the ``margin`` tokens on either side give those core tokens context, so the
seams between chunks see audio on both sides like every other token.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Chunk:
    """One encoder call, in token units (multiply by 320 for samples).

    start, stop: the input span fed to the encoder.
    keep_start, keep_stop: the core span whose tokens are kept, inside [start, stop).
    """

    start: int
    stop: int
    keep_start: int
    keep_stop: int


def plan_chunks(n_tokens: int, chunk: int, margin: int) -> list[Chunk]:
    """Chunks whose cores tile ``[0, n_tokens)`` exactly once; every input span is <= ``chunk``.

    Sequences no longer than ``chunk`` are one chunk. Otherwise cores are ``chunk - 2 * margin``
    long, and every input span is a full ``chunk`` (shifted inwards at both ends of the sequence
    rather than cut short), so no chunk is encoded with less context than it could have.
    """
    if n_tokens < 1 or chunk < 1 or margin < 0:
        raise ValueError(f"bad chunk plan: n_tokens={n_tokens}, chunk={chunk}, margin={margin}")
    if n_tokens <= chunk:
        return [Chunk(0, n_tokens, 0, n_tokens)]
    core = chunk - 2 * margin
    if core < 1:
        raise ValueError(f"margin {margin} leaves no core in a chunk of {chunk}")
    plan = []
    for keep_start in range(0, n_tokens, core):
        keep_stop = min(keep_start + core, n_tokens)
        start = max(0, min(keep_start - margin, n_tokens - chunk))
        plan.append(Chunk(start, start + chunk, keep_start, keep_stop))
    return plan
