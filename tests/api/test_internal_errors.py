"""An unhandled error is a problem+json 500 that leaks nothing and keeps the connection open."""

from __future__ import annotations

import asyncio
import json
import socket
import threading
import time
from collections.abc import Iterator

import pytest
import uvicorn
from fastapi import FastAPI

from tenantflow.api import problems

SECRET = "db password is hunter2"


def _app() -> FastAPI:
    app = FastAPI()
    problems.install(app)

    @app.get("/boom")
    async def boom() -> None:
        raise RuntimeError(SECRET)

    @app.get("/fine")
    async def fine() -> dict[str, bool]:
        return {"ok": True}

    return app


@pytest.fixture(scope="module")
def address() -> Iterator[tuple[str, int]]:
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("127.0.0.1", 0))
    config = uvicorn.Config(_app(), log_level="critical", lifespan="off")
    server = uvicorn.Server(config)
    thread = threading.Thread(target=lambda: asyncio.run(server.serve(sockets=[sock])), daemon=True)
    thread.start()
    deadline = time.monotonic() + 30
    while not server.started:
        assert time.monotonic() < deadline, "server did not start"
        time.sleep(0.02)
    yield sock.getsockname()[:2]
    server.should_exit = True
    thread.join(10)


def _exchange(conn: socket.socket, path: str) -> tuple[int, dict[str, str], bytes]:
    """One HTTP/1.1 request on ``conn``; the response's status, headers and body."""
    conn.sendall(f"GET {path} HTTP/1.1\r\nHost: test\r\n\r\n".encode())
    data = b""
    while b"\r\n\r\n" not in data:
        chunk = conn.recv(65536)
        assert chunk, "the server closed the connection"
        data += chunk
    head, _, body = data.partition(b"\r\n\r\n")
    status_line, *lines = head.decode().split("\r\n")
    headers = {k.lower(): v.strip() for k, _, v in (line.partition(":") for line in lines)}
    length = int(headers["content-length"])
    while len(body) < length:
        chunk = conn.recv(65536)
        assert chunk, "the server closed the connection mid-body"
        body += chunk
    return int(status_line.split()[1]), headers, body


def test_a_500_is_a_problem_and_the_connection_stays_open(address: tuple[str, int]) -> None:
    with socket.create_connection(address, timeout=30) as conn:
        status, headers, body = _exchange(conn, "/boom")
        assert status == 500
        assert headers["content-type"].startswith("application/problem+json")
        problem = json.loads(body)
        assert problem["type"] == "/problems/internal-error"
        assert problem["status"] == 500 and problem["instance"] == "/boom"
        assert SECRET not in body.decode()
        assert headers.get("connection") != "close"
        time.sleep(0.3)  # a server that drops the connection after an error has done so now
        status, _, body = _exchange(conn, "/fine")
        assert status == 200 and json.loads(body) == {"ok": True}
