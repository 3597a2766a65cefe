"""Seeded faults pinned to the values the fault engine has always drawn.

Fast paths of the engine must not change any statistical result: with the same seed, every write, read,
retention, disturb and stuck-at event lands on the same bit as before. Each case runs 300 write/read steps on
the default MLP's weight buffer size and compares a digest of every value read and of the final stored words,
the flip counts per event and the per-bit histogram with the values recorded before the fast paths existed.
"""

from __future__ import annotations

import hashlib

import shutil
import sysconfig
from pathlib import Path

import numpy as np
import pytest

from memtech import storage
from memtech.storage import writes
from memtech.memory import ErrorModel
from test_storage import make_arena

SWITCH_1E4 = ErrorModel(write_ber_0to1=1e-4, write_ber_1to0=1e-4)

# name: (errors, memory params, digest, flips per event (write, read_sense, read_disturb, retention, stuck),
#        flips per bit (0 = least significant), errors corrected, errors detected)
CASES = {
    "switch_1e-4": (
        SWITCH_1E4, {}, "9f28c80c297f09ae", (1905, 0, 0, 0, 0),
        [62, 65, 74, 74, 60, 83, 66, 85, 63, 70, 57, 84, 81, 69, 65, 72, 75, 62, 74, 65, 69, 71, 73, 70, 58, 27, 18,
         15, 13, 8, 13, 64], 0, 0),
    "switch_1e-4_parity": (
        SWITCH_1E4, {"protection": "parity"}, "8fdf0afd98af11ef", (2009, 0, 0, 0, 0),
        [83, 70, 73, 78, 86, 55, 90, 65, 67, 82, 74, 57, 56, 70, 67, 64, 78, 72, 70, 67, 78, 64, 68, 76, 68, 33, 13,
         11, 9, 12, 13, 74, 66], 0, 2009),
    "asym_hold_disturb": (
        ErrorModel(write_ber_0to1=3e-4, write_ber_1to0=1e-4, write_ber_hold=2e-5, read_disturb_ber=1e-5), {},
        "3b2c04d94e4a8459", (4381, 0, 466, 0, 0),
        [199, 157, 176, 167, 162, 189, 172, 172, 154, 172, 166, 194, 168, 180, 147, 173, 156, 179, 179, 180, 188,
         154, 170, 169, 147, 88, 64, 71, 77, 59, 56, 162], 0, 0),
    "uniform_1e-3_secded": (
        ErrorModel.uniform_write(1e-3, read_sense_ber=1e-4), {"protection": "secded"}, "816fdc0f8beff592",
        (55466, 5697, 0, 0, 0),
        [1649, 1588, 1522, 1541, 1555, 1563, 1537, 1556, 1629, 1536, 1522, 1570, 1617, 1546, 1576, 1563, 1568,
         1528, 1526, 1643, 1606, 1620, 1570, 1568, 1525, 1542, 1617, 1607, 1657, 1591, 1575, 1552, 1556, 1508,
         1580, 1566, 1545, 1535, 1508], 58689, 1222),
    "retention_stuck": (
        ErrorModel(write_ber_0to1=1e-4, write_ber_1to0=1e-4, retention_rate_1to0_per_s=1e2,
                   stuck_at_0_fraction=1e-4, stuck_at_1_fraction=1e-4), {},
        "8cafa9a0244769ad", (1905, 0, 0, 4000, 4388),
        [305, 184, 348, 464, 325, 357, 155, 191, 309, 328, 471, 669, 189, 487, 182, 197, 336, 183, 354, 510, 316,
         166, 554, 475, 299, 353, 250, 239, 248, 489, 27, 333], 0, 0),
    "switch_1e-4_bf16": (
        SWITCH_1E4, {"storage_format": "bfloat16"}, "f2477946801a87a3", (772, 0, 0, 0, 0),
        [61, 56, 75, 63, 73, 69, 69, 76, 81, 25, 10, 17, 10, 10, 9, 68], 0, 0),
    "switch_1e-2_int8": (
        ErrorModel(write_ber_0to1=1e-2, write_ber_1to0=1e-2), {"storage_format": "int8"}, "cc7b85bb09356e04",
        (56772, 0, 0, 0, 0), [7195, 6991, 7089, 7083, 6991, 7049, 7211, 7163], 0, 0),
}


@pytest.mark.parametrize("path", ["compiled", "pure_python", "device"])
@pytest.mark.parametrize("name", CASES)
def test_seeded_faults_are_unchanged(name, path, monkeypatch):
    """Every write path draws the same faults: the compiled one (memtech._fastpath), the pure-Python one, and
    the one a GPU takes (switch-only failures decided by array operations, counted later), run here on NumPy."""
    if path == "compiled" and writes._fastpath is None:
        pytest.skip("memtech._fastpath is not built in this install (see test_compiled_path_is_built)")
    if path != "compiled":
        monkeypatch.setattr(writes, "_fastpath", None)
    errors, params, digest_expected, flips, by_bit, corrected, detected = CASES[name]
    arena = make_arena(errors, 4736, seed=5, **params)
    write = arena.write_errors
    assert write.compiled == (path == "compiled" and (write.switch_only or write.uniform)
                              and arena.stored.element_access)
    if path == "device":
        arena.take_array_paths()  # the array paths, as on a GPU
    rng = np.random.default_rng(11)
    digest = hashlib.sha256()
    for _ in range(300):
        arena.write(rng.standard_normal(4736).astype(np.float32))
        arena.clock.advance(1e-6)
        digest.update(np.asarray(arena.read()).tobytes())
    digest.update(np.asarray(arena.words).tobytes())
    if path == "device" and write.on_device and not len(arena.cells.stuck):
        assert arena.memory._deferred_write_failures  # the device path ran and left its counting for later
    counters = arena.counters
    assert tuple(counters.flips.values()) == flips
    assert counters.flips_by_bit == {bit: n for bit, n in enumerate(by_bit) if n}
    assert (counters.errors_corrected, counters.errors_detected) == (corrected, detected)
    assert digest.hexdigest()[:16] == digest_expected


def test_compiled_path_is_built_where_a_compiler_exists():
    """The install builds memtech._fastpath wherever it can; a silent build failure would only show as speed."""
    has_compiler = shutil.which("cc") or shutil.which("gcc")
    has_headers = (Path(sysconfig.get_paths()["include"]) / "Python.h").exists()
    if not (has_compiler and has_headers):
        pytest.skip("no C compiler or Python headers here: memtech runs its pure-Python path")
    assert writes._fastpath is not None, "memtech._fastpath was not built: reinstall with `make install-dev`"


def test_device_path_settles_its_counts_before_holding_too_many(monkeypatch):
    """Failure masks kept for later counting are bounded: past the limit they are counted at once, and when
    they are counted changes no count."""
    monkeypatch.setattr(writes, "_fastpath", None)

    def run(limit):
        monkeypatch.setattr(storage.Memory, "_MAX_DEFERRED_WORDS", limit)
        arena = make_arena(ErrorModel(write_ber_0to1=1e-3, write_ber_1to0=1e-3), 4736, seed=5)
        arena.take_array_paths(device_switches=True)
        rng = np.random.default_rng(0)
        held = []
        for _ in range(20):
            arena.write(rng.standard_normal(4736).astype(np.float32))
            held.append(arena.memory._deferred_words)
        return held, arena.counters.flips["write"], arena.counters.flips_by_bit

    held, flips, by_bit = run(400)  # ~150 words with candidates per write
    assert max(held) < 400 and 0 in held and any(held)
    unbounded = run(1 << 30)
    assert unbounded[0][-1] > 400 and (flips, by_bit) == unbounded[1:] and flips > 500
