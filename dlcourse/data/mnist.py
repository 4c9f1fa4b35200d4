"""Full MNIST (LeCun et al., 1998) and Fashion-MNIST (Xiao et al., 2017), downloaded and verified."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from .download import fetch
from .idx import read_idx

FILES = (
    "train-images-idx3-ubyte.gz",
    "train-labels-idx1-ubyte.gz",
    "t10k-images-idx3-ubyte.gz",
    "t10k-labels-idx1-ubyte.gz",
)

SOURCES = {
    "mnist": {
        "mirrors": [
            "https://ossci-datasets.s3.amazonaws.com/mnist/",
            "https://storage.googleapis.com/cvdf-datasets/mnist/",
        ],
        "sha256": dict(
            zip(
                FILES,
                (
                    "440fcabf73cc546fa21475e81ea370265605f56be210a4024d2ca8f203523609",
                    "3552534a0a558bbed6aed32b30c495cca23d567ec52cac8be1a0730e8010255c",
                    "8d422c7b0a1c1c79245a5bcf07fe86e33eeafee792b84584aec276f5a2dbc4e6",
                    "f7ae60f92e00ec6debd23a6088c31dbd2371eca3ffa0defaefb259924204aec6",
                ),
            )
        ),
    },
    "fashion": {
        "mirrors": [
            "https://fashion-mnist.s3.eu-central-1.amazonaws.com/",
            "http://fashion-mnist.s3-website.eu-central-1.amazonaws.com/",
        ],
        "sha256": dict(
            zip(
                FILES,
                (
                    "3aede38d61863908ad78613f6a32ed271626dd12800ba2636569512369268a84",
                    "a04f17134ac03560a47e3764e11b92fc97de4d1bfaf8ba1a3aa29af54cc90845",
                    "346e55b948d973a97e58d2351dde16a484bd415d4595297633bb08f03db6a073",
                    "67da17c76eaffca5446c3361aaab5c3cd6d1c2608764d35dfb1850b086bf8dd5",
                ),
            )
        ),
    },
}

FASHION_CLASSES = (
    "T-shirt/top",
    "Trouser",
    "Pullover",
    "Dress",
    "Coat",
    "Sandal",
    "Shirt",
    "Sneaker",
    "Bag",
    "Ankle boot",
)


def load_mnist(kind: str = "mnist", *, root: Path | None = None, sources: dict | None = None):
    """Download (once) and load the full set: 60,000 training and 10,000 test images.

    kind: 'mnist' or 'fashion'
    root: cache directory (default: dlcourse.data.cache_dir() / kind)
    returns: X_train (60000, 1, 28, 28) float32 in [0, 1], y_train (60000,) int64, X_test, y_test
    Needs the network the first time; ``load_digits()`` works offline.
    """
    sources = SOURCES if sources is None else sources
    if kind not in sources:
        raise ValueError(f"kind must be one of {sorted(sources)}, got {kind!r}")
    spec = sources[kind]
    from .download import cache_dir

    folder = Path(root) if root is not None else cache_dir() / kind
    arrays = [
        read_idx(fetch(name, [m + name for m in spec["mirrors"]], spec["sha256"][name], root=folder)) for name in FILES
    ]
    x_train, y_train, x_test, y_test = arrays
    for images, labels, split in ((x_train, y_train, "train"), (x_test, y_test, "test")):
        if images.ndim != 3 or labels.shape != (images.shape[0],):
            raise ValueError(f"{kind} {split}: {images.shape[0]} images but labels of shape {labels.shape}")
    scale = lambda a: (a.astype(np.float32) / 255.0)[:, None]  # noqa: E731
    return scale(x_train), y_train.astype(np.int64), scale(x_test), y_test.astype(np.int64)
