"""Stage 1: load, normalize and flatten the images."""

from __future__ import annotations

import numpy as np

from mnist_course.data import load_mnist

__all__ = ["flatten", "load_mnist", "normalize"]


def normalize(images):
    """Scale grey levels from 0..255 to floats in [0, 1] (same shape).

    Networks train faster and more stably on small inputs of similar scale.
    """
    return np.asarray(images, dtype="float32") / 255.0


def flatten(images):
    """Turn each 28x28 image into a vector of 784 values, shape (n, 784).

    Dense layers take vectors, not grids.
    """
    images = np.asarray(images)
    return images.reshape(len(images), 28 * 28)
