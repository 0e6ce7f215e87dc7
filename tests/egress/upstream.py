"""A real HTTP upstream for egress tests: a threaded ``http.server`` on loopback.

Endpoints (all answer with Content-Length, HTTP/1.1 keep-alive):
``/echo`` (JSON: method, path, query, headers, base64 body),
``/echo-raw`` (the request headers as plain text, gzip-encoded with ``?gzip=1``),
``/redirect?to=URL&status=302``, ``/loop`` (redirects to itself forever),
``/slow?s=SECONDS``, ``/big?n=BYTES``, ``/binary``, ``/brotli`` (an undecodable encoding),
``/echo-query`` (the raw query string in the body).
``Upstream.seen`` records what really arrived: (path with query, headers) per request.
"""

from __future__ import annotations

import base64
import gzip
import json
import ssl
import threading
import time
from collections import deque
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from socket import AF_INET6
from urllib.parse import parse_qs, urlsplit

BINARY = bytes(range(256)) * 4


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    wbufsize = 1 << 16  # headers and body leave in one segment (no delayed-ACK stalls)

    def log_message(self, format: str, *args: object) -> None:
        pass

    def _send(self, status: int, body: bytes, headers: dict[str, str] | None = None) -> None:
        self.send_response(status)
        for name, value in (headers or {}).items():
            self.send_header(name, value)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(body)

    def _handle(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length) if length else b""
        parts = urlsplit(self.path)
        self.server.seen.append((self.path, [(k, v) for k, v in self.headers.items()]))  # type: ignore[attr-defined]
        query = {k: v[0] for k, v in parse_qs(parts.query).items()}
        route = parts.path
        if route == "/echo":
            payload = {
                "method": self.command,
                "path": parts.path,
                "query": parts.query,
                "headers": [[k, v] for k, v in self.headers.items()],
                "body": base64.b64encode(body).decode(),
            }
            self._send(200, json.dumps(payload).encode(), {"Content-Type": "application/json"})
        elif route == "/echo-raw":
            text = "".join(f"{k}: {v}\n" for k, v in self.headers.items()).encode()
            headers = {
                "Content-Type": "text/plain",
                "X-Echo-Auth": self.headers.get("Authorization", ""),
            }
            token = self.headers.get("Authorization", "").rpartition(" ")[2]
            if token:
                headers[f"X-Name-{token}"] = "1"  # the secret echoed as a header *name*
            if query.get("gzip"):
                text = gzip.compress(text)
                headers["Content-Encoding"] = "gzip"
            self._send(200, text, headers)
        elif route == "/echo-query":
            self._send(200, parts.query.encode(), {"Content-Type": "text/plain"})
        elif route == "/redirect":
            self._send(int(query.get("status", "302")), b"", {"Location": query["to"]})
        elif route == "/loop":
            self._send(302, b"", {"Location": "/loop"})
        elif route == "/slow":
            time.sleep(float(query.get("s", "2")))
            self._send(200, b"late")
        elif route == "/big":
            self._send(200, b"x" * int(query["n"]), {"Content-Type": "application/octet-stream"})
        elif route == "/binary":
            self._send(200, BINARY, {"Content-Type": "application/octet-stream"})
        elif route == "/brotli":
            self._send(200, b"\x8b\x00\x80hello\x03", {"Content-Encoding": "br"})
        else:
            self._send(404, b"not found")

    do_GET = do_POST = do_PUT = do_DELETE = do_PATCH = do_HEAD = _handle


class _Server6(ThreadingHTTPServer):
    address_family = AF_INET6


class Upstream:
    """A running upstream; ``url(path)`` builds URLs to it."""

    def __init__(self, host: str = "127.0.0.1", tls: ssl.SSLContext | None = None) -> None:
        server_cls = _Server6 if ":" in host else ThreadingHTTPServer
        self.server = server_cls((host, 0), _Handler)
        self.scheme = "https" if tls else "http"
        if tls is not None:
            self.server.socket = tls.wrap_socket(self.server.socket, server_side=True)
        self.server.daemon_threads = True
        self.seen: deque[tuple[str, list[tuple[str, str]]]] = deque(maxlen=1000)
        self.server.seen = self.seen  # type: ignore[attr-defined]
        self.host = host
        self.port: int = self.server.server_address[1]
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    @property
    def netloc(self) -> str:
        """``host:port`` with brackets for IPv6."""
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"{host}:{self.port}"

    def url(self, path: str = "/echo") -> str:
        """``scheme://host:port`` + ``path``."""
        return f"{self.scheme}://{self.netloc}{path}"

    def close(self) -> None:
        """Stop serving and close the socket."""
        self.server.shutdown()
        self.server.server_close()
