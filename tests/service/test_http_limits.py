"""The HTTP server's own limits, with raw sockets against a real server process: oversized request
lines and headers, malformed requests, slow headers, a body sent a byte at a time, and a
connection flood. Each is answered with the JSON error body where the server answers, and the
service is healthy afterwards. Bounded loops; no assertion about time."""

from __future__ import annotations

import json
import socket
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from liveserver.server import Server
from tests.conftest import serve
from tests.service.helpers import VAE

pytestmark = pytest.mark.e2e

SETTINGS = {
    "header_timeout_s": "1",
    "body_timeout_s": "1",
    "max_connections": "8",
    "max_request_line_bytes": "1024",
    "max_header_bytes": "4096",
    "max_headers": "20",
}


@pytest.fixture(scope="module")
def server(model_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    with serve(model_dir, tmp_path_factory.mktemp("limits"), SETTINGS) as live:
        yield live


def connect(server: Server) -> socket.socket:
    host, port = server.url.removeprefix("http://").split(":")
    return socket.create_connection((host, int(port)), timeout=15)


def answer(connection: socket.socket) -> tuple[int, dict[str, str], bytes]:
    """Read one response to the end (the server closes after these): status, headers, body."""
    data = b""
    for _ in range(10_000):  # bounded
        chunk = connection.recv(65536)
        if not chunk:
            break
        data += chunk
    head, _, body = data.partition(b"\r\n\r\n")
    lines = head.decode("latin-1").split("\r\n")
    headers = dict(line.lower().split(": ", 1) for line in lines[1:])
    return int(lines[0].split()[1]), headers, body


def assert_json_error(response: tuple[int, dict[str, str], bytes], status: int, code: str) -> None:
    got, headers, body = response
    assert got == status, body
    assert headers["content-type"] == "application/json"
    assert headers["connection"] == "close"
    error = json.loads(body)["error"]
    assert set(error) == {"code", "message", "detail"}
    assert error["code"] == code and error["message"]


def assert_healthy(server: Server) -> None:
    assert httpx.get(f"{server.url}/healthz", timeout=10).status_code == 200
    decoded = httpx.post(f"{server.url}/v1/models/{VAE}/decode", json={"z": [[0, 0]]}, timeout=30)
    assert decoded.status_code == 200, decoded.text


def trickle(connection: socket.socket, data: bytes) -> None:
    """Send `data` a byte every 0.1 s, until the server answers (or closes) or it is all sent."""
    for byte in data:
        try:
            connection.sendall(bytes([byte]))
        except OSError:
            break
        connection.settimeout(0.1)
        try:
            if connection.recv(1, socket.MSG_PEEK):
                break
        except TimeoutError:
            continue
    connection.settimeout(15)


def sent(server: Server, request: bytes) -> tuple[int, dict[str, str], bytes]:
    with connect(server) as connection:
        connection.sendall(request)
        return answer(connection)


def test_an_oversized_header_gets_431(server: Server) -> None:
    big = b"GET /healthz HTTP/1.1\r\nHost: x\r\nX-Big: " + b"a" * 8192 + b"\r\n\r\n"
    assert_json_error(sent(server, big), 431, "header_too_large")
    many = b"GET /healthz HTTP/1.1\r\n" + b"".join(b"X-%d: 1\r\n" % i for i in range(30))
    assert_json_error(sent(server, many + b"\r\n"), 431, "header_too_large")
    assert_healthy(server)


def test_a_header_that_never_ends_gets_431_before_it_is_buffered(server: Server) -> None:
    with connect(server) as connection:
        connection.sendall(b"GET /healthz HTTP/1.1\r\nX-Endless: ")
        for _ in range(64):  # 1 MiB at most; the server stops reading far sooner
            try:
                connection.sendall(b"a" * 16384)
            except OSError:  # closed by the server after its answer
                break
        assert_json_error(answer(connection), 431, "header_too_large")
    assert_healthy(server)


def test_an_oversized_request_line_gets_414(server: Server) -> None:
    long = b"GET /" + b"a" * 2000 + b" HTTP/1.1\r\nHost: x\r\n\r\n"
    assert_json_error(sent(server, long), 414, "uri_too_long")
    assert_healthy(server)


def test_a_malformed_request_gets_a_json_400(server: Server) -> None:
    assert_json_error(sent(server, b"NOT HTTP AT ALL\r\n\r\n"), 400, "bad_request")
    assert_healthy(server)


def test_headers_sent_too_slowly_get_408(server: Server) -> None:
    with connect(server) as connection:
        connection.sendall(b"GET /healthz HTTP/1.1\r\n")
        trickle(connection, b"X" * 50)  # a header that never ends
        assert_json_error(answer(connection), 408, "request_timeout")
    assert_healthy(server)


def test_a_body_sent_a_byte_at_a_time_gets_408(server: Server) -> None:
    body = json.dumps({"z": [[0.0, 0.0]] * 20}).encode()
    head = (
        f"POST /v1/models/{VAE}/decode HTTP/1.1\r\nHost: x\r\n"
        f"Content-Type: application/json\r\nContent-Length: {len(body)}\r\n\r\n"
    ).encode()
    with connect(server) as connection:
        connection.sendall(head)
        trickle(connection, body)
        assert_json_error(answer(connection), 408, "request_timeout")
    assert_healthy(server)


def test_a_connection_flood_gets_json_503_and_the_service_recovers(server: Server) -> None:
    idle = [connect(server) for _ in range(int(SETTINGS["max_connections"]))]
    try:
        request = b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n"
        status, headers, body = sent(server, request)
        assert_json_error((status, headers, body), 503, "overloaded")
        assert headers["retry-after"] == "1"
    finally:
        for connection in idle:
            connection.close()
    for _ in range(100):  # bounded: the server notices the closed sockets quickly
        try:
            if httpx.get(f"{server.url}/healthz", timeout=10).status_code == 200:
                break
        except httpx.TransportError:
            pass
    assert_healthy(server)


def test_under_v2_the_server_answers_in_the_open_inference_protocols_error_shape(
    server: Server,
) -> None:
    big = b"GET /v2/health/ready HTTP/1.1\r\nHost: x\r\nX-Big: " + b"a" * 8192 + b"\r\n\r\n"
    status, headers, body = sent(server, big)
    assert status == 431 and headers["content-type"] == "application/json"
    message = json.loads(body)["error"]
    assert isinstance(message, str) and "headers over" in message
    assert_healthy(server)
