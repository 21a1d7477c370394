"""The simulated Jira Cloud site as a real, threaded HTTP server on 127.0.0.1.

    site = generate_site(500, seed=7, now="2026-06-01T09:00:00+00:00")
    with FakeJira(site) as fj:          # port 0: an ephemeral port
        httpx.get(fj.url + "/rest/api/3/myself", auth=fj.auth)

``fj.faults`` injects faults (see :mod:`cache.fakejira.faults`); the site's
mutation hooks and clock (``site.now``, ``site.advance``, ``site.search_lag_seconds``)
act on the served data directly.
"""

from __future__ import annotations

import base64
import binascii
import json
import logging
import socket
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlsplit

from cache.fakejira import api
from cache.fakejira.faults import Fault, Faults
from cache.fakejira.jql import JqlError
from cache.fakejira.model import Site

log = logging.getLogger("ticketbook.fakejira")

DEMO_EMAIL = "demo@example.com"
DEMO_TOKEN = "demo-token"
MAX_BODY = 10 * 1024 * 1024


def error_body(path: str, status: int, message: str, errors: dict | None = None) -> dict:
    """Jira's error shapes: ErrorCollection on the platform API, ErrorResponse on JSM."""
    if path.startswith("/rest/servicedeskapi/"):
        return {"errorMessage": message, "i18nErrorMessage": {"i18nKey": f"sd.error.{status}", "parameters": []}}
    return {"errorMessages": [message] if message else [], "errors": errors or {}}


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_version = "FakeJira/1.0"
    sys_version = ""
    # Headers and body go out in separate sends; without TCP_NODELAY every
    # response waits for the peer's delayed ACK (~40 ms).
    disable_nagle_algorithm = True
    fake: "FakeJira"  # set on the subclass made per server

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - quiet unless asked
        if self.fake.verbose:
            log.info("%s - %s", self.address_string(), format % args)

    def do_GET(self) -> None:  # noqa: N802
        self._dispatch("GET")

    def do_POST(self) -> None:  # noqa: N802
        self._dispatch("POST")

    def do_PUT(self) -> None:  # noqa: N802
        self._dispatch("PUT")

    def do_DELETE(self) -> None:  # noqa: N802
        self._dispatch("DELETE")

    # -----------------------------------------------------------------------------------
    def _dispatch(self, method: str) -> None:
        fake = self.fake
        parts = urlsplit(self.path)
        path = parts.path
        length = int(self.headers.get("Content-Length") or 0)
        if length > MAX_BODY:
            self._send(413, error_body(path, 413, "Request entity too large"), close=True)
            return
        raw = self.rfile.read(length) if length else b""
        with fake._count_lock:
            fake.requests.append((method, self.path))
        fault = fake.faults.next_for(path)
        if fault is not None and fault.kind in ("429", "500", "503"):
            status = int(fault.kind)
            headers = {"Retry-After": str(fault.retry_after)} if status in (429, 503) else {}
            msg = {429: "Rate limit exceeded.", 500: "Internal server error.",
                   503: "Service temporarily unavailable."}[status]
            self._send(status, error_body(path, status, msg), headers=headers)
            return
        if fault is not None and fault.kind == "slow":
            time.sleep(fault.delay)
        if not self._authorized():
            self._send(401, error_body(path, 401, "Client must be authenticated to access this resource."),
                       headers={"WWW-Authenticate": 'Basic realm="fake-jira"'})
            return
        status, payload = self._answer(method, path, parts.query, raw)
        self._send(status, payload, fault=fault)

    def _authorized(self) -> bool:
        header = self.headers.get("Authorization") or ""
        scheme, _, value = header.partition(" ")
        if scheme.lower() != "basic":
            return False
        try:
            email, _, token = base64.b64decode(value.strip(), validate=True).decode("utf-8").partition(":")
        except (binascii.Error, UnicodeDecodeError):
            return False
        return email == self.fake.email and token == self.fake.token

    def _answer(self, method: str, path: str, query: str, raw: bytes) -> tuple[int, Any]:
        site = self.fake.site
        try:
            found = api.route(method, path)
            if found is None:
                return 404, error_body(path, 404, f"null for uri: {self.fake.url}{path}")
            func, args = found
            body = None
            if method in ("POST", "PUT") and raw:
                ctype = self.headers.get("Content-Type") or ""
                if "json" not in ctype:
                    return 415, error_body(path, 415, "Unsupported Media Type")
                try:
                    body = json.loads(raw)
                except ValueError:
                    return 400, error_body(path, 400, api.BAD_PAYLOAD)
            req = api.Request(method, path, parse_qs(query, keep_blank_values=True), body, self.fake.url)
            with site.lock:
                return 200, func(site, req, *args)
        except api.ApiError as exc:
            return exc.status, error_body(path, exc.status, exc.message, exc.errors)
        except JqlError as exc:
            return 400, error_body(path, 400, str(exc))
        except Exception:  # a bug in the simulator: answer like Jira would, log it
            log.exception("fake Jira failed on %s %s", method, path)
            return 500, error_body(path, 500, "Internal server error.")

    def _send(self, status: int, payload: Any, *, headers: dict[str, str] | None = None,
              fault: Fault | None = None, close: bool = False) -> None:
        body = json.dumps(payload, ensure_ascii=False, separators=(",", ":")).encode("utf-8")
        if fault is not None and fault.kind == "malformed":
            status = 200
            body = body[: max(1, len(body) // 2)] + b"\x00<html>"
        self.send_response(status)
        self.send_header("Content-Type", "application/json;charset=UTF-8")
        self.send_header("Content-Length", str(len(body)))
        self.send_header("X-AREQUESTID", f"fake-{len(self.fake.requests)}")
        for k, v in (headers or {}).items():
            self.send_header(k, v)
        if close:
            self.send_header("Connection", "close")
            self.close_connection = True
        self.end_headers()
        if fault is not None and fault.kind == "cut":
            self.wfile.write(body[: len(body) // 2])
            self.wfile.flush()
            self.close_connection = True
            try:
                self.connection.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
            return
        self.wfile.write(body)


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True

    def handle_error(self, request: Any, client_address: Any) -> None:  # client went away: not our problem
        log.debug("connection from %s ended abruptly", client_address, exc_info=True)


class FakeJira:
    """A running (after ``start()``) simulated Jira Cloud site serving ``site``."""

    def __init__(self, site: Site, *, email: str = DEMO_EMAIL, token: str = DEMO_TOKEN,
                 host: str = "127.0.0.1", port: int = 0, faults: Faults | None = None,
                 verbose: bool = False) -> None:
        self.site = site
        self.email = email
        self.token = token
        self.host = host
        self.port = port
        self.faults = faults or Faults()
        self.verbose = verbose
        self.requests: list[tuple[str, str]] = []  # (method, path?query) of every request received
        self._count_lock = threading.Lock()
        self._server: _Server | None = None
        self._thread: threading.Thread | None = None

    @property
    def url(self) -> str:
        if self._server is None:
            raise RuntimeError("FakeJira is not started")
        host, port = self._server.server_address[:2]
        return f"http://{host}:{port}"

    @property
    def auth(self) -> tuple[str, str]:
        """(email, token) for HTTP Basic auth, e.g. ``httpx.Client(auth=fj.auth)``."""
        return (self.email, self.token)

    def start(self) -> "FakeJira":
        if self._server is not None:
            return self
        handler = type("Handler", (_Handler,), {"fake": self})
        self._server = _Server((self.host, self.port), handler)
        with self.site.lock:
            self.site.base_url = self.url
        self._thread = threading.Thread(target=self._server.serve_forever, kwargs={"poll_interval": 0.1},
                                        name="fake-jira", daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        if self._server is None:
            return
        self._server.shutdown()
        self._server.server_close()
        if self._thread is not None:
            self._thread.join(timeout=5)
        self._server = None
        self._thread = None

    def serve_forever(self) -> None:
        """Serve in the calling thread until KeyboardInterrupt (the CLI)."""
        self.start()
        try:
            while self._thread is not None and self._thread.is_alive():
                self._thread.join(0.5)
        finally:
            self.stop()

    def __enter__(self) -> "FakeJira":
        return self.start()

    def __exit__(self, *exc: Any) -> None:
        self.stop()
