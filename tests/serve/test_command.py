"""`nophd serve` from the command line: start, answer, stop; bad flags and busy ports in one line."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

from nophd import cli
from nophd.serve import server


def run_cli(capsys, *arguments):
    code = cli.main([str(argument) for argument in arguments])
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def test_serve_starts_answers_and_stops_on_ctrl_c(served_runs):
    environment = {**os.environ, "PYTHONUNBUFFERED": "1"}
    process = subprocess.Popen([sys.executable, "-m", "nophd", "serve", str(served_runs), "--port", "0"],
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=environment)
    try:
        lines = []
        deadline = time.monotonic() + 60
        while not any("Ctrl-C stops it" in line for line in lines):
            assert time.monotonic() < deadline, lines
            line = process.stdout.readline()
            assert line, (lines, process.stderr.read())
            lines.append(line)
        url = next(line for line in lines if "dashboard" in line).split()[-1]
        assert url.startswith("http://localhost:")
        with urllib.request.urlopen(url.replace("localhost", "127.0.0.1") + "api/runs", timeout=30) as response:
            assert any(run["id"] == "digits" for run in json.loads(response.read())["runs"])
        assert "runs in" in lines[0] and "tensorboard --logdir" in "".join(lines)
    finally:
        process.send_signal(signal.SIGINT)
        out, err = process.communicate(timeout=30)
    assert process.returncode == 0, err
    assert "stopped" in out
    assert "Traceback" not in err


def test_a_busy_port_is_one_line(capsys, served_runs):
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        code, _, err = run_cli(capsys, "serve", served_runs, "--port", busy.getsockname()[1])
    assert code == 2
    assert err.count("\n") == 1 and "cannot listen on 127.0.0.1" in err and "--port" in err


def test_runs_dir_that_is_a_file(capsys, tmp_path):
    path = tmp_path / "runs.txt"
    path.write_text("x")
    code, _, err = run_cli(capsys, "serve", path, "--port", "0")
    assert code == 2 and "is a file, not a folder of runs" in err and err.count("\n") == 1


def test_bad_port_and_host(capsys, tmp_path):
    with pytest.raises(SystemExit) as exit_info:
        cli.main(["serve", str(tmp_path), "--port", "70000"])
    assert exit_info.value.code == 2 and "port number" in capsys.readouterr().err
    code, _, err = run_cli(capsys, "serve", tmp_path, "--host", "no-such-host.invalid", "--port", "0")
    assert code == 2 and "cannot resolve" in err


def test_loopback_detection():
    assert server.is_loopback("127.0.0.1") and server.is_loopback("localhost") and server.is_loopback("::1")
    assert not server.is_loopback("0.0.0.0") and not server.is_loopback("192.168.1.5")


def test_the_default_is_localhost_only():
    parser = cli.build_parser()
    args = parser.parse_args(["serve"])
    assert args.host == "127.0.0.1" and args.port == 8000 and args.runs_dir == Path("runs")
