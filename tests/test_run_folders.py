"""Run folders you can trust: one process per folder, resumes on the same data, debris swept, one-line errors.

Tiny generated MNIST and the one-layer dense1 model for one epoch keep these fast.
"""

import json
import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from nophd import cli, runs
from nophd.data import mnist, synthetic
from nophd.errors import CorruptModelError

ENVIRONMENT = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3"}


def run_cli(capsys, *arguments):
    code = cli.main([str(argument) for argument in arguments])
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def nophd_command(*arguments):
    return [sys.executable, "-m", "nophd", *[str(argument) for argument in arguments]]


def one_line_error(code, err, *fragments):
    assert code == 2, err
    assert err.count("\n") == 1 and err.startswith("nophd: error: "), err
    assert "internal error" not in err and "Traceback" not in err, err
    for fragment in fragments:
        assert fragment in err, err


def train_arguments(data, out, *more, epochs=1):
    """`nophd train mnist --model dense1` arguments; epochs=None leaves the recipe's (or the resumed run's)."""
    return ["train", "mnist", "--model", "dense1", *(["--epochs", str(epochs)] if epochs else []), "--data-dir", data,
            "--out", out, "--quiet", *more]


@pytest.fixture(scope="module")
def finished_run(tmp_path_factory):
    """A finished one-epoch dense1 run on tiny generated MNIST, and its data folder (copy it to change it)."""
    data = synthetic.write_mnist_like(tmp_path_factory.mktemp("data"), train_count=600, test_count=200, seed=0)
    run = tmp_path_factory.mktemp("runs") / "dense1"
    assert cli.main([str(argument) for argument in train_arguments(data, run)]) == 0
    return run, data


def copy_run(finished_run, tmp_path, name="run"):
    run, _ = finished_run
    copy = tmp_path / name
    shutil.copytree(run, copy)
    return copy


def make_interrupted(run_directory, pid):
    """Makes a finished one-epoch run look killed after epoch 1 of 2, with `pid` in run.json."""
    import keras

    config = json.loads((run_directory / runs.CONFIG).read_text())
    (run_directory / runs.CONFIG).write_text(json.dumps({**config, "epochs": 2}))
    keras.models.load_model(run_directory / runs.MODEL).save(run_directory / runs.CHECKPOINT)
    for name in (runs.MODEL, runs.METRICS):
        (run_directory / name).unlink()
    runs.write_state(run_directory, status="running", pid=pid, epochs_done=1, epochs_total=2)


# 2. One process per run folder.

def test_two_trainings_into_one_folder_one_runs_the_other_stops_with_one_line(finished_run, tmp_path):
    _, data = finished_run
    out = tmp_path / "mix"
    first = subprocess.Popen(nophd_command(*train_arguments(data, out, epochs=3)), env=ENVIRONMENT,
                             stderr=subprocess.PIPE, text=True)
    second = subprocess.Popen(nophd_command("train", "mnist", "--model", "dense", "--epochs", "3", "--data-dir", data,
                                            "--out", out, "--quiet"), env=ENVIRONMENT, stderr=subprocess.PIPE, text=True)
    results = [(process.wait(timeout=300), process.stderr.read()) for process in (first, second)]
    codes = sorted(code for code, _ in results)
    assert codes == [0, 2], results
    (refused,) = [err for code, err in results if code == 2]
    one_line_error(2, refused, str(out))
    # The folder holds one run: one process's TensorBoard events, and it finished.
    assert runs.status(out) == "finished"
    assert len(list((out / runs.TENSORBOARD / "train").iterdir())) == 1


def test_a_held_folder_refuses_a_second_resume_and_a_ladder_rung(finished_run, tmp_path, capsys):
    _, data = finished_run
    run = copy_run(finished_run, tmp_path)
    make_interrupted(run, pid=2**22 + 12345)
    with runs.lock(run):  # As another nophd process training it would.
        assert runs.status(run) == "running"
        code, _, err = run_cli(capsys, *train_arguments(data, run, "--resume", epochs=None))
        one_line_error(code, err, str(run), "another nophd process")
        with runs.lock(tmp_path / "ladder" / "dense1"):
            code, _, err = run_cli(capsys, "ladder", "mnist", "--models", "dense1", "--epochs-scale", "0.1",
                                   "--data-dir", data, "--out", tmp_path / "ladder", "--quiet")
            one_line_error(code, err, str(tmp_path / "ladder" / "dense1"), "another nophd process")
    assert runs.status(run) == "interrupted"  # The kernel's lock, not the pid, says so.


def test_a_reused_pid_does_not_block_a_resume_and_debris_is_swept(finished_run, tmp_path, capsys):
    _, data = finished_run
    run = copy_run(finished_run, tmp_path)
    make_interrupted(run, pid=os.getpid())  # A live process that is not training it: a reused pid.
    # What kill -9 during atomic writes leaves behind, and a hidden file of the user's.
    debris = [run / ".curves.k2j_9x0a.png", run / ".model.abcd1234.keras", run / ".lr.zz_00000.png"]
    for path in debris:
        path.write_bytes(b"")
    (run / ".notes.txt").write_text("mine")
    assert runs.status(run) == "interrupted"
    code, _, err = run_cli(capsys, *train_arguments(data, run, "--resume", epochs=None))
    assert code == 0, err
    assert runs.status(run) == "finished" and len(runs.read_history(run)) == 2
    assert not any(path.exists() for path in debris)
    assert (run / ".notes.txt").read_text() == "mine"


def test_resume_with_nothing_to_resume_says_so_then_starts_fresh(finished_run, tmp_path, capsys):
    _, data = finished_run
    code, _, err = run_cli(capsys, *train_arguments(data, tmp_path / "new", "--resume"))
    assert code == 0
    assert err.count("\n") == 1 and "no run to resume" in err and "starting a new one" in err, err
    assert runs.status(tmp_path / "new") == "finished"


# 3. A resume checks its data.

def test_a_resume_on_other_data_is_refused_and_an_old_config_still_resumes(finished_run, tmp_path, capsys):
    _, data = finished_run
    run = copy_run(finished_run, tmp_path)
    recorded = json.loads((run / runs.CONFIG).read_text())[runs.DATA_IDENTITY]
    assert recorded == {f"{key}_sha256": digest for key, digest in mnist.load(data).sha256.items()}
    make_interrupted(run, pid=2**22 + 12345)
    other = synthetic.write_mnist_like(tmp_path / "other", train_count=600, test_count=200, seed=1)
    code, _, err = run_cli(capsys, *train_arguments(other, run, "--resume", epochs=None))
    one_line_error(code, err, str(other), "not the data this run started on", "train_images_sha256")
    assert runs.status(run) == "interrupted"
    # A config.json from before runs recorded their data resumes as before.
    config = json.loads((run / runs.CONFIG).read_text())
    del config[runs.DATA_IDENTITY]
    (run / runs.CONFIG).write_text(json.dumps(config))
    code, _, err = run_cli(capsys, *train_arguments(data, run, "--resume", epochs=None))
    assert code == 0, err
    assert runs.status(run) == "finished"


# 5. Every error a user can cause is one line, exit 2.

def test_flag_and_path_errors_are_one_line(finished_run, tmp_path, capsys):
    _, data = finished_run
    with pytest.raises(SystemExit) as exit_info:
        cli.main([str(argument) for argument in train_arguments(data, tmp_path / "run", "--seed", str(2**32))])
    err = capsys.readouterr().err
    assert exit_info.value.code == 2 and err.count("\n") == 1 and "--seed" in err and "4294967295" in err, err
    (tmp_path / "file").write_text("x")
    code, _, err = run_cli(capsys, *train_arguments(data, tmp_path / "file"))
    one_line_error(code, err, str(tmp_path / "file"), "is a file")
    code, _, err = run_cli(capsys, *train_arguments(data, tmp_path / "file" / "run"))
    one_line_error(code, err, str(tmp_path / "file"))


def test_predict_on_a_photo_run_without_its_config_is_one_line(tmp_path, capsys):
    import keras

    run = tmp_path / "photos"
    run.mkdir()
    inputs = keras.Input((16, 16, 3))
    keras.Model(inputs, keras.layers.Dense(2, activation="softmax")(keras.layers.Flatten()(inputs))).save(run / runs.MODEL)
    runs.write_state(run, status="finished")
    Image.new("RGB", (16, 16), (200, 10, 10)).save(tmp_path / "red.png")
    code, _, err = run_cli(capsys, "predict", run, tmp_path / "red.png")
    one_line_error(code, err, str(run / runs.CONFIG), "missing")


def _mount_tmpfs(folder: Path, options: str) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    result = subprocess.run(["mount", "-t", "tmpfs", "-o", options, "tmpfs", str(folder)], capture_output=True, text=True)
    if result.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here ({result.stderr.strip() or 'mount failed'}): needs root and a kernel that allows it")


@pytest.fixture
def tmpfs(tmp_path):
    """Mounts small tmpfs file systems under tmp_path; unmounts them after the test."""
    mounted = []

    def mount(name, options):
        folder = tmp_path / name
        _mount_tmpfs(folder, options)
        mounted.append(folder)
        return folder

    yield mount
    for folder in mounted:
        subprocess.run(["umount", "-l", str(folder)], capture_output=True)


def test_read_only_and_full_file_systems_are_one_line(finished_run, tmp_path, tmpfs, capsys):
    run, data = finished_run
    read_only = tmpfs("read-only", "size=1m,ro")
    code, _, err = run_cli(capsys, *train_arguments(data, read_only / "run"))
    one_line_error(code, err, str(read_only / "run"), "read-only file system")
    code, _, err = run_cli(capsys, "export", run, "--format", "tflite", "--out", read_only / "export", "--data-dir", data)
    one_line_error(code, err, str(read_only), "read-only file system")

    full = tmpfs("full", "size=256k")
    try:
        with open(full / "filler", "wb") as stream:
            while True:
                stream.write(b"\0" * 4096)
                stream.flush()
    except OSError:
        pass  # Full.
    code, _, err = run_cli(capsys, *train_arguments(data, full / "run"))
    one_line_error(code, err, str(full / "run"), "no space left")
    assert not (full / "run").exists()  # Nothing half-written: the folder it made is gone again.
    code, _, err = run_cli(capsys, "export", run, "--format", "tflite", "--out", full / "export", "--data-dir", data)
    one_line_error(code, err, str(full), "no space left")
    assert sorted(path.name for path in full.iterdir()) == ["filler"]


NOBODY = 65534


def _nobody_prefix() -> tuple[list[str], bool] | None:
    """How to run a command as user nobody: (command prefix, whether listing permissions apply), or None.

    Plain nobody when it can reach this Python; else (an interpreter under
    /root, say) nobody with only the capability to read and search any
    folder, which still cannot write where it may not, but can list anything.
    """
    setpriv = shutil.which("setpriv")
    if os.geteuid() != 0 or setpriv is None:
        return None
    plain = [setpriv, f"--reuid={NOBODY}", f"--regid={NOBODY}", "--clear-groups", "--"]
    if subprocess.run([*plain, sys.executable, "-c", "import nophd"], capture_output=True, env=ENVIRONMENT).returncode == 0:
        return plain, True
    reading = [setpriv, f"--reuid={NOBODY}", f"--regid={NOBODY}", "--clear-groups", "--inh-caps=+dac_read_search",
               "--ambient-caps=+dac_read_search", "--"]
    if subprocess.run([*reading, sys.executable, "-c", "import nophd"], capture_output=True, env=ENVIRONMENT).returncode == 0:
        return reading, False
    return None


@pytest.fixture
def shared_folder():
    """A folder every user may read (pytest's tmp_path is private to root), removed afterwards."""
    folder = Path(tempfile.mkdtemp(prefix="nophd-nobody-"))
    folder.chmod(0o755)
    yield folder
    shutil.rmtree(folder, ignore_errors=True)


def run_as_nobody(prefix, folder: Path, *arguments):
    """`nophd ARGUMENTS` as user nobody; (exit status, stderr)."""
    home = folder / "home"
    home.mkdir(exist_ok=True)
    home.chmod(0o777)
    result = subprocess.run([*prefix, *nophd_command(*arguments)], capture_output=True, text=True, timeout=300, cwd=home,
                            env={**ENVIRONMENT, "HOME": str(home), "XDG_CACHE_HOME": str(home / "cache"),
                                 "MPLCONFIGDIR": str(home / "mpl"), "KERAS_HOME": str(home / "keras")})
    return result.returncode, result.stderr


def make_readable(folder: Path) -> None:
    for path in [folder, *folder.rglob("*")]:
        path.chmod(0o755 if path.is_dir() else 0o644)


def test_folders_without_permission_are_one_line_for_a_plain_user(finished_run, shared_folder):
    how = _nobody_prefix()
    if how is None:
        pytest.skip("needs root and setpriv to run nophd as user nobody (root ignores permissions)")
    prefix, listing_applies = how
    _, data = finished_run
    readable_data = shared_folder / "data"
    shutil.copytree(data, readable_data)
    make_readable(readable_data)
    locked = shared_folder / "locked"
    locked.mkdir()
    locked.chmod(0o755)  # Root's: nobody may read it but not write into it.
    code, err = run_as_nobody(prefix, shared_folder, *train_arguments(readable_data, locked / "run"))
    one_line_error(code, err, str(locked / "run"), "permission denied")
    code, err = run_as_nobody(prefix, shared_folder, "data", "tfrecords", readable_data, locked / "shards")
    assert code == 2 and "internal error" not in err and "Traceback" not in err, err

    if not listing_applies:
        pytest.skip("this Python lies where plain nobody cannot reach it (e.g. under /root), so nophd ran as nobody "
                    "with read-search capability: folders it may not list cannot be checked here")
    private = shared_folder / "private"
    shutil.copytree(data, private)
    private.chmod(0o700)  # nobody cannot list it.
    code, err = run_as_nobody(prefix, shared_folder, "data", "mnist", "--data-dir", private)
    one_line_error(code, err, str(private), "permission denied")

    photos = synthetic.write_photo_folder(shared_folder / "photos", per_class=3, size=16)
    make_readable(shared_folder / "photos")
    unreadable = sorted(path for path in photos.iterdir() if path.is_dir())[0]
    unreadable.chmod(0o700)
    code, err = run_as_nobody(prefix, shared_folder, "data", "photos", photos)
    one_line_error(code, err, str(unreadable), "cannot list the class folder", "permission")


def test_an_unreadable_class_folder_is_named_unreadable(tmp_path, monkeypatch):
    """The same as the plain-user case above, where no plain user can run: listing the folder fails."""
    from nophd.data import folders
    from nophd.errors import DataError

    photos = synthetic.write_photo_folder(tmp_path / "photos", per_class=3, size=16)
    unreadable = sorted(path for path in photos.iterdir() if path.is_dir())[0]
    real_scandir = os.scandir

    def scandir(path="."):
        if Path(path) == unreadable:
            raise PermissionError(13, "Permission denied", str(path))
        return real_scandir(path)

    monkeypatch.setattr(os, "scandir", scandir)
    with pytest.raises(DataError, match="cannot list the class folder"):
        folders.scan_folder(photos)


# 7. Messages that say what is wrong.

def test_a_folder_or_a_broken_link_in_place_of_an_mnist_file_is_named_as_such(finished_run, tmp_path, capsys):
    _, data = finished_run
    broken = tmp_path / "broken"
    shutil.copytree(data, broken)
    (broken / "train-images-idx3-ubyte.gz").unlink()
    (broken / "train-images-idx3-ubyte.gz").mkdir()
    (broken / "train-labels-idx1-ubyte.gz").unlink()
    (broken / "train-labels-idx1-ubyte.gz").symlink_to(broken / "train-labels-idx1-ubyte.gz")
    (broken / "t10k-images-idx3-ubyte.gz").unlink()
    (broken / "t10k-images-idx3-ubyte.gz").symlink_to(tmp_path / "gone")
    code, _, err = run_cli(capsys, "data", "mnist", "--data-dir", broken)
    one_line_error(code, err, "train-images-idx3-ubyte.gz is a folder, not a file",
                   "train-labels-idx1-ubyte.gz is a symbolic link loop",
                   "t10k-images-idx3-ubyte.gz is a dangling symbolic link")
    assert "missing" not in err


def test_a_corrupt_model_is_named_corrupt_everywhere(finished_run, tmp_path, capsys):
    from nophd.inference.predictor import Predictor

    run = copy_run(finished_run, tmp_path)
    model = run / runs.MODEL
    model.write_bytes(model.read_bytes()[: model.stat().st_size // 2])
    Image.new("L", (28, 28), 0).save(tmp_path / "blank.png")
    for arguments in (["predict", run, tmp_path / "blank.png"], ["evaluate", run],
                      ["export", run, "--format", "tflite", "--out", tmp_path / "export"]):
        code, _, err = run_cli(capsys, *arguments)
        one_line_error(code, err, "model.keras is corrupt or truncated", "retrain or restore it")
    with pytest.raises(CorruptModelError):
        Predictor(run)  # What the server loads models through.


def test_a_blank_or_noise_picture_gets_a_warning_and_odd_names_stay_on_one_line(finished_run, tmp_path, capsys):
    import nophd

    run, _ = finished_run
    Image.new("L", (60, 60), 255).save(tmp_path / "blank.png")
    noise = np.random.default_rng(0).integers(0, 256, (80, 80), dtype=np.uint8)
    Image.fromarray(noise).save(tmp_path / "noise.png")
    odd = tmp_path / "seven\nnot-a-line.png"
    digit = np.zeros((28, 28), dtype=np.uint8)
    digit[5:23, 12:16] = 255  # A bold stroke: a "1".
    Image.fromarray(digit).save(odd)
    code, out, err = run_cli(capsys, "predict", run, tmp_path / "blank.png", tmp_path / "noise.png", odd)
    assert code == 0, err
    lines = out.splitlines()
    assert len(lines) == 3, out
    assert "warning: no digit found" in lines[0] and "warning: no digit found" in lines[1]
    assert "warning" not in lines[2] and repr(str(odd)) in lines[2]
    results = nophd.predict(run, [tmp_path / "blank.png", odd])
    assert results[0].warning and results[1].warning is None


# 8. A partial $NOPHD_DATA/mnist is named before any download.

def test_a_file_missing_from_nophd_data_is_named_before_the_download(finished_run, tmp_path, monkeypatch, capsys):
    _, data = finished_run
    partial = tmp_path / "root" / "mnist"
    shutil.copytree(data, partial)
    (partial / "t10k-labels-idx1-ubyte.gz").unlink()
    monkeypatch.setenv("NOPHD_DATA", str(tmp_path / "root"))
    attempts = []

    def failing_download(directory, **options):
        attempts.append(capsys.readouterr().err)  # What was said before the download started.
        raise mnist.DataError("could not download t10k-labels-idx1-ubyte.gz (no network in tests)")

    monkeypatch.setattr(mnist, "_download_function", failing_download)
    code, _, err = run_cli(capsys, "data", "mnist")
    assert attempts and "t10k-labels-idx1-ubyte.gz" in attempts[0] and str(partial) in attempts[0]
    one_line_error(code, err, str(partial), "missing: t10k-labels-idx1-ubyte.gz", "download")
    assert err.index("missing") < err.index("download")


# Issue 11, defect 5: a finished run's report says finished and does not reload.

def test_a_finished_runs_report_says_finished_and_does_not_reload(finished_run):
    run, _ = finished_run
    report = (run / "report.html").read_text(encoding="utf-8")
    assert ">finished<" in report and ">running<" not in report
    assert 'http-equiv="refresh"' not in report
