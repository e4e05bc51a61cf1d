"""A web export in headless Chromium with the network cut: for its tests and for benchmarks/export_table.py.

`OfflineFolder` serves an export folder from a local HTTP server (Python's
http.server, as the README tells users to) that is also Chromium's proxy
for every request, loopback included (`--proxy-bypass-list=<-loopback>`
removes Chromium's implicit bypass of localhost). Requests for the folder's
own origin are served from the folder; every other one, to any host, port
or scheme (HTTPS comes as CONNECT), is refused with 403 and recorded in
`refused`. So a page that needed anything outside its folder fails. What
the page itself asked for is read from Chromium's performance log
(`page_requests`): `refused` also holds the browser's own background
requests (Google's time and account services), which are not the page's.

Needs Chromium and chromedriver (Debian: chromium, chromium-driver) and
selenium (the `test` extra).

Example:
    with OfflineFolder("runs/x/export/web") as page:
        page.wait_ready()
        probabilities = page.call("nophdPredict", pixels)
"""

from __future__ import annotations

import functools
import http.server
import os
import shutil
import threading
import urllib.parse
from pathlib import Path

CHROMIUM = Path("/usr/bin/chromium")
CHROMEDRIVER = Path("/usr/bin/chromedriver")


def missing_browser() -> str | None:
    """Why headless Chromium cannot be driven here, or None."""
    if not CHROMIUM.exists():
        return f"{CHROMIUM} is not installed (apt-get install chromium chromium-driver)"
    if not (shutil.which("chromedriver") or CHROMEDRIVER.exists()):
        return "chromedriver is not installed (apt-get install chromium-driver)"
    try:
        import selenium  # noqa: F401
    except ImportError:
        return "selenium is not installed (pip install -e '.[test]')"
    return None


class _Handler(http.server.SimpleHTTPRequestHandler):
    """Serves the folder for its own origin; refuses and records any other request."""

    origin = ""
    refused: list[str] = []
    served: list[str] = []

    def log_message(self, format, *args) -> None:  # noqa: A002 (http.server's name)
        pass

    def _local(self) -> str | None:
        parts = urllib.parse.urlsplit(self.path)
        if not parts.scheme:  # Origin-form: asked of this server directly.
            return self.path
        if f"{parts.scheme}://{parts.netloc}" != self.origin:
            return None
        return parts.path + (f"?{parts.query}" if parts.query else "")

    def _serve(self, method) -> None:
        local = self._local()
        if local is None:
            self.refused.append(f"{self.command} {self.path}")
            self.send_error(403, "offline: only the export folder is served")
            return
        self.path = local
        self.served.append(urllib.parse.urlsplit(local).path)
        method()

    def do_GET(self) -> None:
        self._serve(super().do_GET)

    def do_HEAD(self) -> None:
        self._serve(super().do_HEAD)

    def _refuse(self) -> None:
        self.refused.append(f"{self.command} {self.path}")
        self.send_error(403, "offline")

    do_CONNECT = do_POST = do_PUT = do_DELETE = do_OPTIONS = do_PATCH = _refuse


class OfflineFolder:
    """An export folder open in headless Chromium, every request outside the folder refused.

    Attributes:
        url: the folder's address, http://127.0.0.1:PORT/.
        driver: the selenium WebDriver.
        refused: the requests refused ("GET http://example.com/"), in order.
        served: the paths served from the folder.
    """

    def __init__(self, folder: str | os.PathLike, script_timeout: float = 120.0, before_page: str | None = None):
        """
        Args:
            folder: the web export folder.
            script_timeout: seconds a `call` may take.
            before_page: JavaScript to run in the page before its own scripts
                (e.g. to pretend the browser lacks a WebAssembly feature).
        """
        self.folder = Path(folder)
        self.script_timeout = script_timeout
        self.before_page = before_page
        self.refused: list[str] = []
        self.served: list[str] = []
        self._page_requests: list[str] = []

    def __enter__(self) -> "OfflineFolder":
        from selenium import webdriver
        from selenium.webdriver.chrome.service import Service

        handler = type("Handler", (_Handler,), {"refused": self.refused, "served": self.served})
        self._server = http.server.ThreadingHTTPServer(
            ("127.0.0.1", 0), functools.partial(handler, directory=str(self.folder)))
        self.url = f"http://127.0.0.1:{self._server.server_port}/"
        handler.origin = self.url.rstrip("/")
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)
        self._thread.start()
        options = webdriver.ChromeOptions()
        options.binary_location = str(CHROMIUM)
        for argument in ("--headless=new", "--no-sandbox", "--disable-dev-shm-usage", "--disable-gpu",
                         "--window-size=900,1000", "--disable-background-networking",
                         f"--proxy-server=http://127.0.0.1:{self._server.server_port}",
                         "--proxy-bypass-list=<-loopback>"):
            options.add_argument(argument)
        options.set_capability("goog:loggingPrefs", {"browser": "ALL", "performance": "ALL"})
        try:
            self.driver = webdriver.Chrome(options=options, service=Service(
                shutil.which("chromedriver") or str(CHROMEDRIVER)))
        except Exception:
            self._stop_server()
            raise
        self.driver.set_script_timeout(self.script_timeout)
        if self.before_page:
            self.driver.execute_cdp_cmd("Page.addScriptToEvaluateOnNewDocument", {"source": self.before_page})
        self.driver.get(self.url)
        return self

    def __exit__(self, *exc_info) -> None:
        try:
            self.driver.quit()
        finally:
            self._stop_server()

    def _stop_server(self) -> None:
        self._server.shutdown()
        self._server.server_close()

    def call(self, function: str, *arguments):
        """Awaits window[function](*arguments) in the page and returns its value (a JSON-like value).

        Raises:
            RuntimeError: the promise rejected (its message).
        """
        result = self.driver.execute_async_script(
            "const done = arguments[arguments.length - 1];"
            "Promise.resolve().then(() => window[arguments[0]](...arguments[1]))"
            ".then((value) => done({value}), (error) => done({error: String(error && error.stack || error)}));",
            function, list(arguments))
        if "error" in result:
            raise RuntimeError(f"{function}: {result['error']}")
        return result.get("value")

    def wait_ready(self) -> dict:
        """The page's {kind, imageSize, classNames} once its model is compiled."""
        return self.call("nophdReadyValue")

    def page_requests(self) -> list[str]:
        """Every URL the page has requested so far (Network.requestWillBeSent in its DevTools log)."""
        import json

        for entry in self.driver.get_log("performance"):
            message = json.loads(entry["message"])["message"]
            if message.get("method") == "Network.requestWillBeSent":
                self._page_requests.append(message["params"]["request"]["url"])
        return list(self._page_requests)

    def outside_requests(self) -> list[str]:
        """The page's requests for anything but its folder (data: and blob: URLs are in the page already)."""
        return [url for url in self.page_requests()
                if not url.startswith(self.url) and not url.startswith(("data:", "blob:"))]

    def console(self) -> list[str]:
        """The browser console's messages so far."""
        return [entry["message"] for entry in self.driver.get_log("browser")]
