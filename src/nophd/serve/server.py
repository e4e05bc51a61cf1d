"""Running the dashboard: bind the address, say where it is, serve until Ctrl-C."""

from __future__ import annotations

import ipaddress
import os
import socket
import sys
import threading
from pathlib import Path

from nophd.errors import ConfigError
from nophd.serve import app as app_module, catalog
from nophd.serve.command import DEFAULT_HOST, DEFAULT_PORT

# Host header values a browser sends for a server bound to a loopback address.
_LOCAL_NAMES = ["127.0.0.1", "localhost"]


def serve(
    runs_dir: str | os.PathLike = "runs",
    *,
    host: str = DEFAULT_HOST,
    port: int = DEFAULT_PORT,
    data_dir: str | os.PathLike | None = None,
    announce=print,
) -> None:
    """Serves the dashboard and API over `runs_dir` until interrupted.

    Args:
        runs_dir: the folder of run folders (created runs appear live; it may
            not exist yet). A run folder given here serves its parent folder.
        host: the address to bind; 127.0.0.1 keeps it to this machine.
        port: the TCP port; 0 picks a free one.
        data_dir: where the MNIST test set is (for misclassified examples).
        announce: where the start-up lines go.

    Raises:
        ConfigError: runs_dir is a file, the host does not resolve, or the
            address cannot be bound (in use, not allowed).

    Example:
        serve("runs/ladder", port=8001)
    """
    import uvicorn

    runs_dir = Path(runs_dir)
    if runs_dir.exists() and not runs_dir.is_dir():
        raise ConfigError(f"{runs_dir}: is a file, not a folder of runs")
    if catalog.is_run_folder(runs_dir):
        announce(f"nophd serve: {runs_dir} is a run folder; showing the runs in {runs_dir.parent} (it is one of them)")
        runs_dir = runs_dir.parent
    listener = open_listener(host, port)
    bound_port = listener.getsockname()[1]
    loopback = is_loopback(host)
    application = app_module.create_app(
        runs_dir, data_dir=data_dir, allowed_hosts=_LOCAL_NAMES + [host] if loopback and ":" not in host else None,
    )
    if runs_dir.is_dir():
        count = len(catalog.scan(runs_dir)[0])
        where = f"{count} run{'s' if count != 1 else ''} in {runs_dir}"
    else:
        where = f"{runs_dir} (does not exist yet: runs appear as `nophd train` writes them)"
    shown_host = "localhost" if host in ("127.0.0.1", "localhost") else (f"[{host}]" if ":" in host else host)
    announce(f"nophd serve: {where}")
    announce(f"  dashboard  http://{shown_host}:{bound_port}/")
    announce(f"  API        http://{shown_host}:{bound_port}/api/runs")
    announce(f"  TensorBoard: {catalog.tensorboard_command(runs_dir)}")
    if not loopback:
        announce(f"nophd serve: note: listening on {host}: anyone who can reach this machine can see the runs and use the models")
    announce("Ctrl-C stops it.")
    _warm_up_tensorflow()
    config = uvicorn.Config(application, log_level="warning", access_log=False, timeout_graceful_shutdown=3,
                            lifespan="off")
    try:
        uvicorn.Server(config).run(sockets=[listener])
    except KeyboardInterrupt:
        pass
    finally:
        listener.close()
    announce("nophd serve: stopped")


def open_listener(host: str, port: int) -> socket.socket:
    """A TCP socket bound to host:port.

    Raises:
        ConfigError: one line saying why (unknown host, port in use, no permission).
    """
    try:
        family, kind, protocol, _, address = socket.getaddrinfo(
            host, port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE)[0]
    except socket.gaierror as error:
        raise ConfigError(f"--host {host}: cannot resolve it ({error.strerror})") from None
    listener = socket.socket(family, kind, protocol)
    listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        listener.bind(address)
        listener.listen(128)
    except OSError as error:
        listener.close()
        reason = error.strerror or str(error)
        hint = f" (is another server running? try --port {port + 1})" if error.errno == 98 else ""
        raise ConfigError(f"cannot listen on {host}:{port}: {reason}{hint}") from None
    return listener


def is_loopback(host: str) -> bool:
    """True for localhost and 127.0.0.0/8, ::1."""
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def _warm_up_tensorflow() -> None:
    """Imports TensorFlow in the background, so that the first prediction is not the slow one."""

    def work():
        from nophd import quiet

        try:
            quiet.import_tensorflow()
            import keras  # noqa: F401
        except Exception as error:  # noqa: BLE001 - the first prediction will report it properly.
            print(f"nophd serve: note: TensorFlow did not import ({type(error).__name__}: {error})", file=sys.stderr)

    threading.Thread(target=work, name="nophd-warm-up", daemon=True).start()
