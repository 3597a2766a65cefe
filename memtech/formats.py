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
        """Which field a bit position (0 = least significant) belongs to: sign, exponent or mantissa
        (int8: sign or value)."""
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
        # round to nearest even on the 16 bits dropped; a NaN is truncated instead, since rounding could
        # carry its payload into the sign bit or turn it into an infinity
        rounded = bits + xp.uint32(0x7FFF) + ((bits >> xp.uint32(16)) & xp.uint32(1))
        rounded = xp.where((bits & xp.uint32(0x7FFFFFFF)) > xp.uint32(0x7F800000), bits | xp.uint32(0x10000), rounded)
        return (rounded >> xp.uint32(16)).astype(xp.uint16), 1.0

    def decode(self, xp, words, scale):
        return (words.astype(xp.uint32) << xp.uint32(16)).view(xp.float32)


class Int8(StorageFormat):
    def encode(self, xp, values):
        magnitude = xp.abs(values)
        peak = float(xp.max(magnitude)) if values.size else 0.0
        if not np.isfinite(peak):  # the scale follows the finite values; infinities saturate, NaN stores 0
            finite = magnitude[xp.isfinite(magnitude)]
            peak = float(xp.max(finite)) if finite.size else 0.0
        scale = peak / 127.0 if peak > 0 else 1.0
        scaled = xp.nan_to_num(values / xp.float32(scale), nan=0.0, posinf=127.0, neginf=-127.0)
        codes = xp.clip(xp.rint(scaled), -127, 127).astype(xp.int8)
        return codes.view(xp.uint8), scale

    def decode(self, xp, words, scale):
        """``scale`` is one float, or an array with one scale per word (a read spanning several writes)."""
        factor = xp.float32(scale) if isinstance(scale, float) else xp.asarray(scale, dtype=xp.float32)
        return words.view(xp.int8).astype(xp.float32) * factor

    def field_of_bit(self, bit: int) -> str:
        # two's complement: bit 7 is the sign (weight -128), bits 0-6 the value
        return "sign" if bit == 7 else "value"


FORMATS: dict[str, StorageFormat] = {
    "float32": Float32("float32", 32, np.uint32),
    "float16": Float16("float16", 16, np.uint16),
    "bfloat16": BFloat16("bfloat16", 16, np.uint16),
    "int8": Int8("int8", 8, np.uint8),
}
