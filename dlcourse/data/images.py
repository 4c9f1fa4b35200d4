"""Real photographs for the filter demos, from the two JPEGs that scikit-learn installs with itself."""

from __future__ import annotations

import numpy as np

PHOTOS = ("china", "flower")


def load_photo(name: str = "china", gray: bool = False) -> np.ndarray:
    """A 427x640 photograph: 'china' (a temple) or 'flower' (a dahlia).

    returns: (3, H, W) float32 RGB in [0, 1], or (H, W) luminance when gray=True
    """
    if name not in PHOTOS:
        raise ValueError(f"name must be one of {PHOTOS}, got {name!r}")
    from sklearn.datasets import load_sample_image

    rgb = load_sample_image(f"{name}.jpg").astype(np.float32) / 255.0  # (H, W, 3)
    if gray:  # ITU-R BT.601 luma weights
        return rgb @ np.array([0.299, 0.587, 0.114], dtype=np.float32)
    return np.ascontiguousarray(rgb.transpose(2, 0, 1))
