"""Datasets for the labs: 2-D toy sets, handwritten digits that work offline, full MNIST and
Fashion-MNIST downloads with checksums, and real photographs for the filter demos."""

from .augment import random_shift
from .digits import load_digits
from .download import DownloadError, cache_dir, fetch
from .idx import read_idx
from .images import load_photo
from .mnist import load_mnist
from .toy import make_blobs, make_circles, make_dataset, make_moons, make_spiral, make_xor

__all__ = [
    "DownloadError",
    "cache_dir",
    "fetch",
    "load_digits",
    "load_mnist",
    "load_photo",
    "make_blobs",
    "make_circles",
    "make_dataset",
    "make_moons",
    "make_spiral",
    "make_xor",
    "random_shift",
    "read_idx",
]
