"""Per-word protection codes applied when a stored word is read.

The fault engine tracks, for each word that has suffered flips since it was last written, the *error
pattern* over the whole codeword (data bits first, then check bits). Codes are linear, so what a decoder
does depends on that pattern alone; decoding therefore costs work per damaged word, not per word read.

* ``none``    — the damaged value is used as it is.
* ``parity``  — one check bit per word; an odd number of flips is detected and the value is replaced by
  zero before use (the patent's claim). An even number of flips passes undetected.
* ``secded``  — extended Hamming code: (13,8), (22,16), (39,32) for the stored formats; corrects one flip,
  detects two (zeroed); three or more may be miscorrected, as in real hardware.

Check bits live in the same faulty memory as the data: they can flip, and they are read and written (and
paid for in energy) with every word.
* ``sanity``  — no check bits; a value that is not finite or exceeds a bound is zeroed.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from memtech.errors import ConfigError

# Decoder outcomes per damaged word.
SILENT, CORRECTED, ZEROED = 0, 1, 2


@dataclass(frozen=True)
class Code:
    name: str
    data_bits: int
    check_bits: int

    @property
    def codeword_bits(self) -> int:
        return self.data_bits + self.check_bits

    def check_values(self, data_words: np.ndarray) -> np.ndarray:
        """Correct check bits (as a uint64 bit field) for the given data words."""
        return np.zeros(len(data_words), dtype=np.uint64)

    def decode(self, patterns: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Outcome per damaged word and the mask to XOR into its data bits (a correction)."""
        return np.full(len(patterns), SILENT, dtype=np.int8), np.zeros(len(patterns), dtype=np.uint64)


class NoCode(Code):
    pass


class ParityCode(Code):
    def check_values(self, data_words: np.ndarray) -> np.ndarray:
        return (np.bitwise_count(data_words.astype(np.uint64)) & 1).astype(np.uint64)

    def decode(self, patterns: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        odd = (np.bitwise_count(patterns) & 1).astype(bool)
        outcome = np.where(odd, ZEROED, SILENT).astype(np.int8)
        return outcome, np.zeros(len(patterns), dtype=np.uint64)


class SecdedCode(Code):
    """Extended Hamming SECDED on ``data_bits`` data bits.

    Codeword layout used by the engine: bits 0..k-1 data, bits k..k+r-1 Hamming check bits, bit k+r the
    overall parity. Each bit has a Hamming position (data bits take the positions that are not powers of
    two, check bit j takes 2^j, the overall parity bit takes 0); the syndrome of an error pattern is the XOR
    of the positions of its flipped bits.
    """

    def __init__(self, data_bits: int):
        r = 1
        while (1 << r) < data_bits + r + 1:
            r += 1
        super().__init__("secded", data_bits, r + 1)
        object.__setattr__(self, "hamming_bits", r)
        data_positions = [p for p in range(1, data_bits + r + 1) if p & (p - 1)][:data_bits]
        positions = data_positions + [1 << j for j in range(r)] + [0]
        object.__setattr__(self, "positions", np.array(positions, dtype=np.uint64))
        # position -> codeword bit index, for locating the bit a syndrome points to
        lookup = np.full(1 << r, -1, dtype=np.int64)
        for bit, pos in enumerate(positions[:-1]):
            lookup[pos] = bit
        object.__setattr__(self, "bit_at_position", lookup)

    def _syndrome(self, patterns: np.ndarray) -> np.ndarray:
        syndrome = np.zeros(len(patterns), dtype=np.uint64)
        for bit, pos in enumerate(self.positions):
            hit = (patterns >> np.uint64(bit)) & np.uint64(1)
            syndrome ^= hit * pos
        return syndrome

    def check_values(self, data_words: np.ndarray) -> np.ndarray:
        data_words = data_words.astype(np.uint64)
        syndrome = self._syndrome(data_words)  # the data bits' contribution
        checks = np.zeros(len(data_words), dtype=np.uint64)
        for j in range(self.hamming_bits):
            checks |= ((syndrome >> np.uint64(j)) & np.uint64(1)) << np.uint64(j)
        overall = (np.bitwise_count(data_words) + np.bitwise_count(checks)) & 1
        return checks | (overall.astype(np.uint64) << np.uint64(self.hamming_bits))

    def decode(self, patterns: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        syndrome = self._syndrome(patterns)
        odd = (np.bitwise_count(patterns) & 1).astype(bool)
        outcome = np.full(len(patterns), SILENT, dtype=np.int8)
        correction = np.zeros(len(patterns), dtype=np.uint64)
        in_range = syndrome < np.uint64(len(self.bit_at_position))
        target = np.where(in_range, self.bit_at_position[np.minimum(syndrome, len(self.bit_at_position) - 1).astype(np.int64)], -1)
        # Odd weight: the decoder assumes one flip at the syndrome's position and corrects it.
        single = odd & ((syndrome == 0) | (target >= 0))
        outcome[single] = CORRECTED
        fix_data = single & (target >= 0) & (target < self.data_bits)
        correction[fix_data] = np.left_shift(np.uint64(1), target[fix_data].astype(np.uint64))
        # Even weight with a non-zero syndrome, or an odd weight pointing nowhere: detected, not correctable.
        outcome[(~odd & (syndrome != 0)) | (odd & ~single)] = ZEROED
        return outcome, correction


def make_code(protection: str, data_bits: int) -> Code:
    """The code of a protection policy on ``data_bits``-bit words (sanity has no check bits: it is a value test).

    Error patterns are held in uint64 masks, so a codeword has at most 64 bits (SECDED up to 57 data bits).
    """
    if protection == "parity":
        return ParityCode("parity", data_bits, 1)
    if protection == "secded":
        code = SecdedCode(data_bits)
        if code.codeword_bits > 64:
            raise ConfigError("protection", protection, f"a code of at most 64 bits per word, not {code.codeword_bits}")
        return code
    if protection in ("none", "sanity"):
        return NoCode(protection, data_bits, 0)
    raise ConfigError("protection", protection, "one of none, parity, secded, sanity")
