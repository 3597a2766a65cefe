"""The standard image data sets from their standard files: MNIST and Fashion-MNIST (four IDX files, gzipped or
not) and CIFAR-10 (the binary version). Nothing is downloaded at run time.

Where each looks, in order: ``dataset.path`` (only there, when it is set), ``$MEMTECH_DATA_DIR/<name>/``,
and for Fashion-MNIST the folder of Debian's package ``dataset-fashion-mnist``. Pixels are scaled to [0, 1]
and, by default, normalised per channel over the training set; ``train_size`` / ``test_size`` take a
deterministic subset for quick runs.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import ClassVar

import numpy as np

import memtech
from memtech import ConfigError, Data, Dataset, knob
from memtech.datafiles import IDX_IMAGES_MAGIC, IDX_LABELS_MAGIC, read_cifar_batch, read_idx
from memtech.dataset import normalize_per_channel, subset

DATA_DIR_ENV = "MEMTECH_DATA_DIR"


@dataclass(frozen=True)
class ImageSetParams:
    path: str = knob("", help="folder holding the data set's files; empty: $MEMTECH_DATA_DIR/<name>/, then the "
                              "system's copy where one is known")
    train_size: int = knob(0, min=0, help="train on a deterministic subset of this many images (0: all)")
    test_size: int = knob(0, min=0, help="test on a deterministic subset of this many images (0: all)")
    subset_seed: int = knob(0, min=0, help="which subset train_size / test_size take (fixed, not the run's seed)")
    normalize: bool = knob(True, help="shift and scale each channel to mean 0, deviation 1 over the training set")


class ImageSet(Dataset):
    """A data set kept as files in one folder; subclasses say which files and how to read them."""

    Params = ImageSetParams
    files: ClassVar[tuple[tuple[str, ...], ...]] = ()  # each needed file: its accepted names, first preferred
    system_dirs: ClassVar[tuple[str, ...]] = ()
    where_to_get: ClassVar[str] = ""

    def candidate_dirs(self) -> list[Path]:
        if self.params.path:
            return [Path(self.params.path).expanduser()]
        dirs = []
        if os.environ.get(DATA_DIR_ENV):
            dirs.append(Path(os.environ[DATA_DIR_ENV]).expanduser() / self.name)
        return dirs + [Path(d) for d in self.system_dirs]

    def _find(self, folder: Path) -> list[Path] | None:
        found = []
        for names in self.files:
            hit = next((folder / n for n in names if (folder / n).is_file()), None)
            if hit is None:
                return None
            found.append(hit)
        return found

    def locate(self) -> list[Path]:
        """The data set's files, from the first folder that holds all of them."""
        looked = []
        for folder in self.candidate_dirs():
            for candidate in (folder, *self._subfolders(folder)):
                files = self._find(candidate)
                if files is not None:
                    return files
                looked.append(str(candidate))
        if not self.params.path and not os.environ.get(DATA_DIR_ENV):
            looked.append(f"${DATA_DIR_ENV}/{self.name} (${DATA_DIR_ENV} is not set)")
        names = ", ".join(names[0] for names in self.files)
        raise ConfigError("dataset.path", self.params.path,
                          f"a folder holding the {self.name} files {names} (or without .gz); looked in: "
                          f"{'; '.join(looked)}; get them from {self.where_to_get}; nothing is downloaded at run time")

    def _subfolders(self, folder: Path) -> tuple[Path, ...]:
        return ()

    def read(self, files: list[Path]) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
        """(train images (n, C, H, W) uint8, train labels, test images, test labels)."""
        raise NotImplementedError

    def source(self) -> str:
        return str(self.locate()[0].parent)  # the folder the files were found in

    def load(self) -> Data:
        p = self.params
        x_train, y_train, x_test, y_test = self.read(self.locate())
        x_train, y_train = subset(x_train, y_train, p.train_size, p.subset_seed)
        x_test, y_test = subset(x_test, y_test, p.test_size, p.subset_seed + 1)
        shape = tuple(int(d) for d in x_train.shape[1:])
        data = Data(_pixels(x_train), y_train.astype(np.int64), _pixels(x_test), y_test.astype(np.int64), 10, shape)
        return normalize_per_channel(data) if p.normalize else data


def _pixels(images: np.ndarray) -> np.ndarray:
    return images.reshape(len(images), int(np.prod(images.shape[1:]))).astype(np.float32) / np.float32(255)


def _idx_names(stem: str) -> tuple[str, ...]:
    # the official names, gzipped or not, and the dotted spelling some mirrors use
    dotted = stem.replace("-idx", ".idx")
    return (f"{stem}.gz", stem, f"{dotted}.gz", dotted)


class _Idx(ImageSet):
    files = tuple(_idx_names(stem) for stem in (
        "train-images-idx3-ubyte", "train-labels-idx1-ubyte", "t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte"))

    def read(self, files):
        train_images, train_labels, test_images, test_labels = files
        x_train, x_test = read_idx(train_images, IDX_IMAGES_MAGIC), read_idx(test_images, IDX_IMAGES_MAGIC)
        y_train, y_test = read_idx(train_labels, IDX_LABELS_MAGIC), read_idx(test_labels, IDX_LABELS_MAGIC)
        for images, labels, image_file, label_file in ((x_train, y_train, train_images, train_labels),
                                                       (x_test, y_test, test_images, test_labels)):
            if len(images) != len(labels):
                raise ConfigError("dataset.path", str(image_file.parent),
                                  f"as many labels as images, got {len(images)} images in {image_file.name} and "
                                  f"{len(labels)} labels in {label_file.name}")
            if len(labels) and labels.max() > 9:
                row = int(np.flatnonzero(labels > 9)[0])
                raise ConfigError("dataset.path", str(label_file), f"labels 0-9, got {int(labels[row])} at index {row}")
        return x_train[:, None], y_train, x_test[:, None], y_test


class Mnist(_Idx):
    """MNIST handwritten digits: 60,000 training and 10,000 test images, 1 x 28 x 28 (LeCun et al. 1998)."""

    name = "mnist"
    where_to_get = ("http://yann.lecun.com/exdb/mnist/ (mirror: https://ossci-datasets.s3.amazonaws.com/mnist/); "
                    "put the four files in $MEMTECH_DATA_DIR/mnist/ or set dataset.path")


class FashionMnist(_Idx):
    """Fashion-MNIST: Zalando's 28 x 28 grey clothing images in ten classes, 60,000 + 10,000 (Xiao et al. 2017)."""

    name = "fashion_mnist"
    system_dirs = ("/usr/share/datasets/fashion-mnist",)  # `dpkg -L dataset-fashion-mnist`
    where_to_get = ("Debian's package (apt-get install dataset-fashion-mnist) or "
                    "https://github.com/zalandoresearch/fashion-mnist (data/fashion)")


class Cifar10(ImageSet):
    """CIFAR-10, binary version: 50,000 training and 10,000 test colour images, 3 x 32 x 32 (Krizhevsky 2009)."""

    name = "cifar10"
    files = tuple((f"data_batch_{i}.bin",) for i in range(1, 6)) + (("test_batch.bin",),)
    where_to_get = ("https://www.cs.toronto.edu/~kriz/cifar-10-binary.tar.gz (the binary version, never the "
                    "python one); unpack it into $MEMTECH_DATA_DIR/cifar10/ or set dataset.path")

    def _subfolders(self, folder):
        return (folder / "cifar-10-batches-bin",)  # the folder the archive unpacks to

    def read(self, files):
        batches = [read_cifar_batch(f) for f in files[:5]]
        x_test, y_test = read_cifar_batch(files[5])
        return (np.concatenate([x for x, _ in batches]), np.concatenate([y for _, y in batches]), x_test, y_test)


@memtech.hookimpl
def memtech_register_datasets(register):
    register(Mnist)
    register(FashionMnist)
    register(Cifar10)
