"""Test-time augmentation for photo models: the class probabilities averaged over flipped and cropped views.

A photo model sees one framing of each photo; averaging its softmax over a
few views smooths out framing and left/right luck, at the cost of one
forward pass per view. The views: the photo itself, plus "crop" (its central
CROP of the side, scaled back up) and "flip" (the mirror image of every view
so far). The mirrored views are used only when the run trained with flips
(its `augmentations` hold "flip"): a run that left flips out has classes
where left and right matter.

Example:
    probabilities = predict(model, images, ("flip",))  # images float (N, S, S, 3), 0..255
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from nophd.errors import ConfigError

# The central crop's side, as a share of the photo's (ImageNet evaluation's 224/256).
CROP = 0.875
BATCH = 64
# The views `nophd evaluate --tta-views` may name, and what a plain --tta (tta=True) uses.
VIEWS = ("crop", "flip")
DEFAULT_VIEWS = ("crop", "flip")


def chosen_views(tta: bool | str | Sequence[str]) -> tuple[str, ...]:
    """What `tta` asks for: () for False, DEFAULT_VIEWS for True, else the named views ("flip", "crop,flip", ...).

    Raises:
        ConfigError: an unknown view name, or none named.
    """
    if tta is False or tta is None:
        return ()
    if tta is True:
        return DEFAULT_VIEWS
    names = [name.strip() for name in (tta.split(",") if isinstance(tta, str) else tta)]
    unknown = [name for name in names if name not in VIEWS]
    if unknown or not any(names):
        raise ConfigError(f"--tta-views: {','.join(unknown) or 'nothing'} is not a view; name one or more of "
                          f"{', '.join(VIEWS)}, comma-separated (the photo itself is always one)")
    return tuple(name for name in VIEWS if name in names)


def views(images: np.ndarray, flip: bool = True, crop: bool = True) -> list[np.ndarray]:
    """The views averaged: the photos, (with crop) their central crop scaled back to full size, and (with flip)
    each of those mirrored.

    Args:
        images: float (N, S, S, 3) pixel values 0..255.
        flip: add the left-right mirror image of each view.
        crop: add the central crop.

    Returns:
        1, 2 or 4 float32 arrays shaped like `images`.
    """
    import tensorflow as tf

    images = np.asarray(images, dtype=np.float32)
    result = [images]
    if crop:
        side = images.shape[1]
        margin = (1 - CROP) / 2
        boxes = np.tile([[margin, margin, 1 - margin, 1 - margin]], (len(images), 1)).astype(np.float32)
        cropped = tf.image.crop_and_resize(images, boxes, np.arange(len(images), dtype=np.int32), (side, side))
        result.append(np.clip(cropped.numpy(), 0, 255).astype(np.float32))
    if flip:
        result += [view[:, :, ::-1, :] for view in result]
    return result


def predict(model, images: np.ndarray, chosen: Sequence[str] = DEFAULT_VIEWS, batch_size: int = BATCH) -> np.ndarray:
    """The model's softmax averaged over the photos and the `chosen` views of them (see `views`): float (N, K)."""
    total = None
    every = views(images, flip="flip" in chosen, crop="crop" in chosen)
    for view in every:
        probabilities = np.asarray(model.predict(view, batch_size=batch_size, verbose=0), dtype=np.float64)
        total = probabilities if total is None else total + probabilities
    return (total / len(every)).astype(np.float32)
