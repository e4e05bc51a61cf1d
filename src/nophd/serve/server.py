"""Running the dashboard: bind the address, say where it is, serve until Ctrl-C."""

from __future__ import annotations

import ipaddress
import os
import socket
from pathlib import Path

from nophd.errors import ConfigError
from nophd.serve import app as app_module, catalog, inference
from nophd.serve.defaults import DEFAULT_HOST, DEFAULT_PORT

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
    application = app_module.create_app(runs_dir, data_dir=data_dir, allowed_hosts=allowed_hosts(host))
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
    # TensorFlow is imported here, in this thread, before the first request is
    # accepted: a request importing it while another thread is half-way
    # through leaves it broken for the life of the process.
    announce("nophd serve: loading TensorFlow…")
    try:
        inference.import_tensorflow()
    except Exception as error:  # noqa: BLE001 - a broken install: say so in one line and stop.
        listener.close()
        raise ConfigError(f"nophd serve: TensorFlow does not import ({type(error).__name__}: "
                          f"{' '.join(str(error).split())[:200]})") from None
    announce("Ctrl-C stops it.")
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


def allowed_hosts(host: str) -> list[str] | None:
    """The Host header values to accept when bound to `host`; None (any) when not loopback.

    Starlette's TrustedHostMiddleware compares the Host header without its
    port, and an IPv6 literal keeps its brackets ("[::1]:8000" -> "[::1]"),
    so an IPv6 address is allowed in brackets.

    Example:
        allowed_hosts("::1")  # ["127.0.0.1", "localhost", "[::1]"]
    """
    if not is_loopback(host):
        return None
    try:
        address = ipaddress.ip_address(host)
    except ValueError:
        return _LOCAL_NAMES + ([host] if host not in _LOCAL_NAMES else [])
    if address.version == 6:
        # "::1" and its long spellings ("0:0:0:0:0:0:0:1") alike.
        return _LOCAL_NAMES + sorted({f"[{host.lower()}]", f"[{address.compressed}]", f"[{address.exploded}]"})
    return _LOCAL_NAMES + ([host] if host not in _LOCAL_NAMES else [])


def is_loopback(host: str) -> bool:
    """True for localhost and 127.0.0.0/8, ::1."""
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False
