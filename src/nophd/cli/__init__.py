"""The `nophd` command: one module per subcommand, one error funnel.

Each subcommand module (data, models, train, ladder, evaluate, predict,
doctor, serve, export, card, weights) has add_parser(subparsers), which adds its parser
with a handler(args) -> int that parses, calls one library function and
prints. Every NophdError and every OSError a user can cause becomes one line
on stderr and exit status 2 here, in one place (main); nothing below prints
a traceback for bad input.
"""

from __future__ import annotations

import argparse
import faulthandler
import os
import signal
import sys
import threading

from nophd import errors
from nophd.cli import card, data, doctor, evaluate, export, ladder, models, predict, serve, train, weights
from nophd.errors import NophdError

# In the order `nophd --help` lists them.
COMMANDS = (data, models, train, ladder, evaluate, predict, doctor, serve, export, card, weights)


class _Parser(argparse.ArgumentParser):
    """argparse with nophd's one-line errors (a bad flag value prints no usage block); exit status 2."""

    def error(self, message: str):
        self.exit(2, f"nophd: error: {message} (see `{self.prog} --help`)\n")


def build_parser() -> argparse.ArgumentParser:
    from nophd import __version__

    parser = _Parser(
        prog="nophd", description="Train, understand and use the Keras codelab image classifiers.",
    )
    parser.add_argument("--version", action="version", version=f"nophd {__version__}")
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for command in COMMANDS:
        command.add_parser(commands)
    return parser


def main(argv: list[str] | None = None) -> int:
    # `kill -USR1 PID` prints every thread's stack to stderr: how to see where
    # a run that will not stop is stuck, without stopping it.
    if hasattr(signal, "SIGUSR1") and threading.current_thread() is threading.main_thread():
        try:
            faulthandler.register(signal.SIGUSR1, all_threads=True)
        except (OSError, ValueError):  # stderr is no real file (captured in a test, a notebook): no dumps.
            pass
    args = build_parser().parse_args(argv)
    try:
        return args.handler(args)
    except NophdError as error:
        print(f"nophd: error: {error}", file=sys.stderr)
        return 2
    except BrokenPipeError:
        # The reader went away (`nophd data mnist | head`): not an error of ours.
        # Point stdout at /dev/null so Python's exit flush does not fail again.
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 0
    except OSError as error:
        # A full disk, a read-only folder, a missing permission, a file in
        # the way: the user's to fix, so one line naming the path.
        line = errors.os_error_line(error)
        if line is None:
            return _internal_error(error)
        print(f"nophd: error: {line}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        hint = " (continue with the same command and --resume)" if args.command in ("train", "ladder") else ""
        print(f"\nnophd: interrupted{hint}", file=sys.stderr)
        return 130
    except Exception as error:
        return _internal_error(error)


def _internal_error(error: Exception) -> int:
    if os.environ.get("NOPHD_DEBUG"):
        raise error
    first_line = (str(error).splitlines() or [""])[0]
    print(f"nophd: internal error: {type(error).__name__}: {first_line} (set NOPHD_DEBUG=1 for the traceback)",
          file=sys.stderr)
    return 1
