"""Readers of the standard image data files, checked before any work: IDX (MNIST, Fashion-MNIST) and the
CIFAR-10 binary version. Nothing is downloaded, nothing is unpickled.

IDX (http://yann.lecun.com/exdb/mnist/, "FILE FORMATS"): a big-endian header, magic 0x00000801 for labels
(then the count) or 0x00000803 for images (then count, rows, columns), then one unsigned byte per label or
pixel; files are usually gzipped. CIFAR-10 binary (https://www.cs.toronto.edu/~kriz/cifar.html): records of
1 label byte and 3072 pixel bytes (1024 red, 1024 green, 1024 blue, each 32 × 32 in row order).

Every problem is a :class:`~memtech.errors.ConfigError` naming ``dataset.path``, the file and what was
expected.
"""

from __future__ import annotations

import gzip
import zlib
from pathlib import Path

import numpy as np

from memtech.errors import ConfigError

IDX_LABELS_MAGIC = 0x00000801
IDX_IMAGES_MAGIC = 0x00000803
CIFAR_RECORD_BYTES = 1 + 3 * 32 * 32
KEY = "dataset.path"


def _read_bytes(path: Path) -> bytes:
    try:
        raw = path.read_bytes()
        if raw[:2] == b"\x1f\x8b":  # gzip's magic, whatever the file is called
            return gzip.decompress(raw)
        return raw
    except (OSError, EOFError, zlib.error) as exc:
        raise ConfigError(KEY, str(path), f"a readable file (gzipped or not); reading it said: {exc}") from None


def read_idx(path: Path, magic: int) -> np.ndarray:
    """The array of an IDX file: labels (n,) for magic 0x801, images (n, rows, cols) for 0x803, as uint8."""
    data = _read_bytes(path)
    kind = "labels" if magic == IDX_LABELS_MAGIC else "images"
    header_ints = 2 if magic == IDX_LABELS_MAGIC else 4
    if len(data) < 4 * header_ints:
        raise ConfigError(KEY, str(path), f"an IDX {kind} file with a {4 * header_ints}-byte header, got "
                          f"{len(data)} bytes")
    header = np.frombuffer(data[:4 * header_ints], dtype=">u4")
    if int(header[0]) != magic:
        raise ConfigError(KEY, str(path), f"an IDX {kind} file (magic number 0x{magic:08x}), got magic "
                          f"0x{int(header[0]):08x}")
    dims = [int(d) for d in header[1:]]
    expected = int(np.prod(dims))
    body = len(data) - 4 * header_ints
    if body != expected:
        shape = " x ".join(str(d) for d in dims)
        raise ConfigError(KEY, str(path), f"an IDX {kind} file of {shape} bytes after its header "
                          f"(truncated or padded?), got {body} bytes")
    return np.frombuffer(data, dtype=np.uint8, offset=4 * header_ints).reshape(dims)


def read_cifar_batch(path: Path) -> tuple[np.ndarray, np.ndarray]:
    """(images (n, 3, 32, 32) uint8, labels (n,) uint8) of one CIFAR-10 binary batch file."""
    data = _read_bytes(path)
    if len(data) == 0 or len(data) % CIFAR_RECORD_BYTES:
        raise ConfigError(KEY, str(path), f"a CIFAR-10 binary batch of {CIFAR_RECORD_BYTES}-byte records "
                          f"(1 label byte + 3072 pixel bytes), got {len(data)} bytes (truncated, or the python version?)")
    records = np.frombuffer(data, dtype=np.uint8).reshape(-1, CIFAR_RECORD_BYTES)
    labels = records[:, 0]
    if labels.max() > 9:
        row = int(np.flatnonzero(labels > 9)[0])
        raise ConfigError(KEY, str(path), f"a CIFAR-10 binary batch with labels 0-9, got label {int(labels[row])} "
                          f"in record {row} (is it CIFAR-100?)")
    return records[:, 1:].reshape(-1, 3, 32, 32), labels


def read_npz(path: str | Path, key: str, expected: str) -> dict[str, np.ndarray]:
    """Every array of an ``.npz`` file (np.savez), loaded without pickle. Anything else (no such file, not a
    zip archive, a truncated or corrupt archive, pickled objects) is a ConfigError naming ``key`` and the
    file, with ``expected`` and what was wrong."""
    import zipfile

    def refuse(problem: str) -> ConfigError:
        return ConfigError(key, str(path), f"{expected} ({problem})")

    path = Path(path).expanduser()
    if not path.is_file():
        raise refuse("no such file")
    # checked first: on a file that is no zip archive np.load guesses a pickle and says so, which misleads
    with open(path, "rb") as head:
        if head.read(6) == b"\x93NUMPY":
            shape = np.load(path, mmap_mode="r", allow_pickle=False).shape
            raise refuse(f"it holds a single array of shape {shape}: save with np.savez(path, x=..., y=...)")
    if not zipfile.is_zipfile(path):
        raise refuse("this file is not a zip archive, as np.savez writes; truncated, or not an .npz")
    try:
        with np.load(path, allow_pickle=False) as archive:
            return {name: archive[name] for name in archive.files}
    except ValueError as exc:
        if "allow_pickle" in str(exc):
            raise refuse("it holds pickled objects, which memtech never loads: save plain arrays") from None
        raise refuse(f"an array could not be read: {exc}") from None
    except (OSError, EOFError, zipfile.BadZipFile, zlib.error, KeyError) as exc:
        raise refuse(f"an array could not be read: {type(exc).__name__}: {exc}") from None
