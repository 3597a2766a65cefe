"""Stored bit formats: how float32 values become the words a memory holds, and back.

float32 is stored as it is (a zero-copy view). float16 and bfloat16 halve the bits; int8 keeps a
symmetric per-tensor scale (max |x| / 127) in a reliable register, so only the 8-bit codes can fail.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np


@dataclass(frozen=True)
class StorageFormat:
    name: str
    bits: int
    word_dtype: Any  # numpy unsigned dtype of one stored word

    def encode(self, xp: Any, values: Any) -> tuple[Any, float]:
        """float32 values -> (unsigned words, scale)."""
        raise NotImplementedError

    def decode(self, xp: Any, words: Any, scale: float) -> Any:
        raise NotImplementedError

    def field_of_bit(self, bit: int) -> str:
        """Which field a bit position belongs to: sign, exponent or mantissa (int8: sign or magnitude)."""
        raise NotImplementedError


class _Float(StorageFormat):
    exponent_bits: int = 0

    def field_of_bit(self, bit: int) -> str:
        mantissa = self.bits - 1 - self.exponent_bits
        if bit == self.bits - 1:
            return "sign"
        return "exponent" if bit >= mantissa else "mantissa"


class Float32(_Float):
    exponent_bits = 8

    def encode(self, xp, values):
        return xp.ascontiguousarray(values, dtype=xp.float32).view(xp.uint32), 1.0

    def decode(self, xp, words, scale):
        return words.view(xp.float32)


class Float16(_Float):
    exponent_bits = 5

    def encode(self, xp, values):
        return values.astype(xp.float16).view(xp.uint16), 1.0

    def decode(self, xp, words, scale):
        return words.view(xp.float16).astype(xp.float32)


class BFloat16(_Float):
    exponent_bits = 8

    def encode(self, xp, values):
        bits = xp.ascontiguousarray(values, dtype=xp.float32).view(xp.uint32)
        # round to nearest even on the 16 bits dropped
        rounded = bits + xp.uint32(0x7FFF) + ((bits >> xp.uint32(16)) & xp.uint32(1))
        return (rounded >> xp.uint32(16)).astype(xp.uint16), 1.0

    def decode(self, xp, words, scale):
        return (words.astype(xp.uint32) << xp.uint32(16)).view(xp.float32)


class Int8(StorageFormat):
    def encode(self, xp, values):
        peak = float(xp.max(xp.abs(values))) if values.size else 0.0
        scale = peak / 127.0 if peak > 0 and np.isfinite(peak) else 1.0
        codes = xp.clip(xp.rint(values / scale), -127, 127).astype(xp.int8)
        return codes.view(xp.uint8), scale

    def decode(self, xp, words, scale):
        return words.view(xp.int8).astype(xp.float32) * xp.float32(scale)

    def field_of_bit(self, bit: int) -> str:
        return "sign" if bit == 7 else "magnitude"


FORMATS: dict[str, StorageFormat] = {
    "float32": Float32("float32", 32, np.uint32),
    "float16": Float16("float16", 16, np.uint16),
    "bfloat16": BFloat16("bfloat16", 16, np.uint16),
    "int8": Int8("int8", 8, np.uint8),
}
