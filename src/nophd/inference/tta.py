"""Test-time augmentation for photo models: the class probabilities averaged over flipped and cropped views.

A photo model sees one framing of each photo; averaging its softmax over a
few views (the photo, a central crop of CROP of its side scaled back up, and
the mirror images of both) smooths out framing and left/right luck, at the
cost of one forward pass per view. The mirrored views are used only when the
run trained with flips (its `augmentations` hold "flip"): a run that left
flips out has classes where left and right matter.

Example:
    probabilities = predict(model, images, flip=True)  # images float (N, S, S, 3), 0..255
"""

from __future__ import annotations

import numpy as np

# The central crop's side, as a share of the photo's (ImageNet evaluation's 224/256).
CROP = 0.875
BATCH = 64


def views(images: np.ndarray, flip: bool = True) -> list[np.ndarray]:
    """The views averaged: the photos, their central crop scaled back to full size, and (with flip) both mirrored.

    Args:
        images: float (N, S, S, 3) pixel values 0..255.
        flip: add the left-right mirror image of each view.

    Returns:
        2 or 4 float32 arrays shaped like `images`.
    """
    import tensorflow as tf

    images = np.asarray(images, dtype=np.float32)
    side = images.shape[1]
    margin = (1 - CROP) / 2
    boxes = np.tile([[margin, margin, 1 - margin, 1 - margin]], (len(images), 1)).astype(np.float32)
    cropped = tf.image.crop_and_resize(images, boxes, np.arange(len(images), dtype=np.int32), (side, side)).numpy()
    result = [images, np.clip(cropped, 0, 255).astype(np.float32)]
    if flip:
        result += [view[:, :, ::-1, :] for view in result]
    return result


def predict(model, images: np.ndarray, flip: bool = True, batch_size: int = BATCH) -> np.ndarray:
    """The model's softmax averaged over `views(images, flip)`: float (N, K)."""
    total = None
    chosen = views(images, flip)
    for view in chosen:
        probabilities = np.asarray(model.predict(view, batch_size=batch_size, verbose=0), dtype=np.float64)
        total = probabilities if total is None else total + probabilities
    return (total / len(chosen)).astype(np.float32)
