"""Photo augmentation the user picks: which random transforms (`--augment flip,rotate,zoom,...`) and when.

Photo runs augment with Keras' random preprocessing layers on the training
images, at strengths the Keras transfer-learning guide uses. Not every
transform suits every dataset: a horizontal flip turns a "left arrow" photo
into a "right arrow" one (mediapipe#5367), a vertical flip suits microscope
slides but not street scenes. So the transforms are named, and a run keeps
the list it used (config.json's `augmentations`).

When they apply is the run's `augment` phase: "off", "all" (both phases),
or "fine-tune" (only while fine-tuning, so the frozen phase keeps its
cached features; see nophd.tasks.photos).

`--augment` takes both in one comma-separated value: phase words and
transform names, in any order (`--augment all,rotate,zoom`); `parse` splits it.

Example:
    phase, names = parse("rotate,zoom,contrast")  # (None, ("rotate", "zoom", "contrast"))
    layer = augmenter(names, seed=0)               # keras.Sequential for float pixels 0..255
"""

from __future__ import annotations

import dataclasses
from typing import Callable

from nophd.errors import ConfigError

PHASES = ("off", "all", "fine-tune")


@dataclasses.dataclass(frozen=True)
class Transform:
    """One named random transform.

    Args:
        name: what `--augment` calls it.
        description: one line for --help and the README.
        seed_offset: added to the run's seed for this layer's generator; fixed
            per transform, so adding or dropping another keeps its draws.
        build: seed -> a Keras random preprocessing layer for pixels 0..255.
    """

    name: str
    description: str
    seed_offset: int
    build: Callable


def _flip(seed):
    import keras
    return keras.layers.RandomFlip("horizontal", seed=seed)


def _vertical_flip(seed):
    import keras
    return keras.layers.RandomFlip("vertical", seed=seed)


def _rotate(seed):
    import keras
    return keras.layers.RandomRotation(ROTATION, fill_mode="reflect", seed=seed)


def _zoom(seed):
    import keras
    return keras.layers.RandomZoom(ZOOM, fill_mode="reflect", seed=seed)


def _translate(seed):
    import keras
    return keras.layers.RandomTranslation(TRANSLATION, TRANSLATION, fill_mode="reflect", seed=seed)


def _contrast(seed):
    import keras
    # RandomContrast works on [0, 255] pixel values and clips to them.
    return keras.layers.RandomContrast(CONTRAST, seed=seed)


def _brightness(seed):
    import keras
    return keras.layers.RandomBrightness(BRIGHTNESS, value_range=(0, 255), seed=seed)


ROTATION = 0.05  # of a full turn: +-18 degrees
ZOOM = 0.1
TRANSLATION = 0.1  # of the side
CONTRAST = 0.1
BRIGHTNESS = 0.1  # of the value range

TRANSFORMS: dict[str, Transform] = {transform.name: transform for transform in (
    # The first four, with their seed offsets, are the transforms photo runs always had.
    Transform("flip", "mirror left-right (leave out when left and right mean different classes)", 0, _flip),
    Transform("rotate", f"rotate by up to {ROTATION * 360:.0f} degrees", 1, _rotate),
    Transform("zoom", f"zoom in or out by up to {ZOOM:.0%}", 2, _zoom),
    Transform("contrast", f"change contrast by up to {CONTRAST:.0%}", 3, _contrast),
    Transform("vflip", "mirror top-bottom (photos with no up, such as microscope slides)", 4, _vertical_flip),
    Transform("translate", f"shift by up to {TRANSLATION:.0%} of the side", 5, _translate),
    Transform("brightness", f"change brightness by up to {BRIGHTNESS:.0%}", 6, _brightness),
)}
# What runs use unless told: the transforms photo runs have always had.
DEFAULT = ("flip", "rotate", "zoom", "contrast")


def check(names) -> tuple[str, ...]:
    """`names` as a tuple, each a known transform, none twice, at least one.

    Raises:
        ConfigError: an unknown or repeated name, or none.
    """
    names = tuple(names)
    if not names:
        raise ConfigError(f"augmentations: name at least one of {', '.join(TRANSFORMS)} (or turn augmentation off)")
    for name in names:
        if name not in TRANSFORMS:
            raise ConfigError(f"augmentations: unknown transform {name!r}; valid: {', '.join(TRANSFORMS)}")
    if len(set(names)) != len(names):
        raise ConfigError(f"augmentations: {', '.join(names)} names a transform twice")
    return names


def parse(text: str) -> tuple[str | None, tuple[str, ...] | None]:
    """Splits an `--augment` value into its phase and its transforms (None where it names none).

    Args:
        text: comma-separated phase words (off, all, fine-tune) and transform
            names, e.g. "all,flip,zoom", "rotate,contrast" or "off".

    Returns:
        (phase or None, transform names or None).

    Raises:
        ConfigError: an unknown word, two phases, "off" with transforms, or nothing.

    Example:
        parse("all,rotate")  # ("all", ("rotate",))
    """
    words = [word.strip().lower() for word in str(text).split(",") if word.strip()]
    if not words:
        raise ConfigError(f"--augment: expected a phase ({', '.join(PHASES)}) and/or transforms "
                          f"({', '.join(TRANSFORMS)}), got {text!r}")
    phases = [word for word in words if word in PHASES]
    names = [word for word in words if word not in PHASES]
    if len(phases) > 1:
        raise ConfigError(f"--augment: name one phase, not {', '.join(phases)}")
    for name in names:
        if name not in TRANSFORMS:
            raise ConfigError(f"--augment: unknown word {name!r}; phases: {', '.join(PHASES)}; "
                              f"transforms: {', '.join(TRANSFORMS)}")
    if phases == ["off"] and names:
        raise ConfigError("--augment: off cannot go with transforms; drop off, or the transforms")
    return (phases[0] if phases else None), (check(names) if names else None)


def augmenter(names, seed: int):
    """A keras.Sequential applying the named transforms in TRANSFORMS' order, for float pixels 0..255.

    Each layer's generator is seeded with `seed` plus its transform's fixed
    offset, so a run draws the same as before for the transforms it keeps.
    """
    import keras

    chosen = set(check(names))
    return keras.Sequential([transform.build(seed + transform.seed_offset)
                             for transform in TRANSFORMS.values() if transform.name in chosen], name="augmentation")
