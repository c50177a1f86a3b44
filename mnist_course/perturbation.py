"""The perturbed test set of the mnist_extensions assignment, made by the grader itself.

Each test digit is rotated, zoomed and shifted about the image centre by its own random
amount, so a model that only learned upright, centred digits loses accuracy while one
trained with augmentation keeps most of it. The grader generates the set from the
canonical test images and a seed instead of shipping it, so it cannot be trained on.
Trusted side: numpy and scipy only, no TensorFlow.
"""

from __future__ import annotations

import numpy as np
from scipy import ndimage

# Stronger than the augmentation the reference trains with (about +-12 degrees, +-10% zoom,
# +-10% shift), so the set tests generalisation beyond the exact training distortions.
MAX_ROTATION_DEGREES = 20.0  # uniform in [-20, 20] degrees
ZOOM_RANGE = (0.85, 1.15)  # uniform scale factor; above 1 enlarges the digit
MAX_SHIFT_PIXELS = 3.0  # uniform in [-3, 3] pixels, rows and columns independently
INTERPOLATION_ORDER = 1  # bilinear: no overshoot, so no ringing outside 0..255
FILL_VALUE = 0.0  # MNIST background is black
IMAGE_SIDE = 28


def _inverse_affine(
    degrees: float, zoom: float, shift: np.ndarray, centre: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """Matrix and offset mapping output pixels back to input pixels (what scipy wants).

    The forward map is ``out = zoom * R(degrees) @ (in - centre) + centre + shift``.
    """
    angle = np.deg2rad(degrees)
    cos, sin = np.cos(angle), np.sin(angle)
    inverse_rotation = np.array([[cos, sin], [-sin, cos]])
    matrix = inverse_rotation / zoom
    offset = centre - matrix @ (centre + shift)
    return matrix, offset


def perturbed_test_set(images: np.ndarray, *, seed: int) -> np.ndarray:
    """A rotated, zoomed and shifted copy of ``images`` (uint8, shape (n, 28, 28)).

    The same seed gives the same images, so every submission is graded on the same set.
    """
    images = np.asarray(images)
    if images.ndim != 3 or images.shape[1:] != (IMAGE_SIDE, IMAGE_SIDE):
        raise ValueError(
            f"expected images of shape (n, {IMAGE_SIDE}, {IMAGE_SIDE}), got {images.shape}"
        )
    if images.dtype != np.uint8:
        raise ValueError(f"expected uint8 grey levels 0..255 like MNIST, got {images.dtype}")
    rng = np.random.default_rng(seed)
    count = len(images)
    degrees = rng.uniform(-MAX_ROTATION_DEGREES, MAX_ROTATION_DEGREES, count)
    zooms = rng.uniform(*ZOOM_RANGE, count)
    shifts = rng.uniform(-MAX_SHIFT_PIXELS, MAX_SHIFT_PIXELS, (count, 2))
    centre = np.full(2, (IMAGE_SIDE - 1) / 2)
    output = np.empty((count, IMAGE_SIDE, IMAGE_SIDE), dtype=np.float32)
    pixels = images.astype(np.float32)
    for index in range(count):
        matrix, offset = _inverse_affine(degrees[index], zooms[index], shifts[index], centre)
        ndimage.affine_transform(
            pixels[index],
            matrix,
            offset=offset,
            output=output[index],
            order=INTERPOLATION_ORDER,
            mode="constant",
            cval=FILL_VALUE,
        )
    return np.clip(np.rint(output), 0, 255).astype(np.uint8)
