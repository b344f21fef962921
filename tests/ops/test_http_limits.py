"""HTTP limits against a real ``cds-service serve`` (docs/operations.md), at small scale: a
request head over the size limit, never finished; a connection that stays idle; a head or a body
sent too slowly; more connections and more requests in progress than a worker takes. Each ends
in an answer (431, 408, 503 as OperationOutcomes) or a closed connection, and the server keeps
answering. Short limits are set for each case; nothing here asserts on durations."""

from __future__ import annotations

import json
import socket
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import httpx2
import pytest

from tests.auth.ehr import EHR
from tests.ops.processes import (
    SIGN,
    Served,
    call,
    metric,
    production,
    serving,
    sign_request,
)

pytestmark = [pytest.mark.slow, pytest.mark.usefixtures("each_http_stack")]

MIB = 1 << 20
WAIT = 10.0  # the longest any case waits for the server before failing


def connect(served: Served) -> socket.socket:
    sock = socket.create_connection(("127.0.0.1", served.port), timeout=WAIT)
    return sock


def until_closed(sock: socket.socket) -> bytes:
    """Everything the server sends until it closes the connection (a reset ends it too)."""
    data = b""
    while True:
        try:
            chunk = sock.recv(65536)
        except ConnectionResetError:
            return data
        if not chunk:
            return data
        data += chunk


def outcome(answer: bytes) -> dict[str, Any]:
    head, _, body = answer.partition(b"\r\n\r\n")
    parsed = json.loads(body)
    assert parsed["resourceType"] == "OperationOutcome", answer
    assert b"connection: close" in head.lower(), head
    return dict(parsed)


def head_of(method: str, path: str, **headers: str) -> bytes:
    lines = [f"{method} {path} HTTP/1.1", "Host: 127.0.0.1"]
    lines += [f"{name.replace('_', '-')}: {value}" for name, value in headers.items()]
    return ("\r\n".join(lines) + "\r\n\r\n").encode()


def rss_bytes(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) * 1024
    raise AssertionError("no VmRSS")


def test_an_endless_header_line_gets_431_and_costs_the_server_no_memory(tmp_path: Path) -> None:
    """So do too many header fields."""
    ehr = EHR()
    # A long head timeout: only the size limit can end these connections in time.
    env = production(tmp_path, ehr, CDS_HTTP_HEADER_TIMEOUT_SECONDS="120")
    with serving(env, tmp_path) as served:
        with connect(served) as sock:
            sock.sendall(b"GET /healthz HTTP/1.1\r\nHost: x\r\nX-Long: " + b"a" * 64 * 1024)
            answer = until_closed(sock)
        assert answer.startswith(b"HTTP/1.1 431 "), answer[:200]
        assert outcome(answer)["issue"][0]["code"] == "too-costly"
        with connect(served) as sock:  # small, but more header fields than allowed
            sock.sendall(head_of("GET", "/healthz", **{f"X-{i}": "a" for i in range(150)}))
            answer = until_closed(sock)
        assert answer.startswith(b"HTTP/1.1 431 "), answer[:200]

        before = rss_bytes(served.proc.pid)

        def endless_header_line() -> bytes:
            with connect(served) as sock:
                sock.sendall(b"GET /healthz HTTP/1.1\r\nHost: x\r\nX-Long: ")
                try:
                    for _ in range(4 * MIB // 65536):  # a few MiB, and never a line end
                        sock.sendall(b"a" * 65536)
                except OSError:  # the server has closed it: the rest cannot be sent
                    pass
                return until_closed(sock)

        with ThreadPoolExecutor(8) as pool:
            answers = list(pool.map(lambda _: endless_header_line(), range(8)))
        grown = rss_bytes(served.proc.pid) - before
        # Closed, each with a 431 unless the reset overtook it; never a timeout.
        assert all(a == b"" or a.startswith(b"HTTP/1.1 431 ") for a in answers), answers
        assert grown < 8 * MIB, f"the server grew by {grown / MIB:.1f} MiB"
        assert call(served, ehr.token()).status_code == 200


def test_idle_connections_are_closed(tmp_path: Path) -> None:
    ehr = EHR()
    with serving(production(tmp_path, ehr, CDS_HTTP_IDLE_TIMEOUT_SECONDS="1"), tmp_path) as served:
        with connect(served) as never_used:
            assert until_closed(never_used) == b""
        with connect(served) as used_once:
            used_once.sendall(head_of("GET", "/healthz"))
            answer = until_closed(used_once)  # answered, kept alive, then closed when idle
        assert answer.startswith(b"HTTP/1.1 200 ") and b"connection: close" not in answer.lower()


def test_a_head_or_body_sent_too_slowly_gets_408_and_the_connection_closed(
        tmp_path: Path) -> None:
    """And an answer given before the body was read closes the connection too."""
    ehr = EHR()
    env = production(tmp_path, ehr, CDS_HTTP_HEADER_TIMEOUT_SECONDS="1",
                     CDS_HTTP_BODY_TIMEOUT_SECONDS="1", CDS_HTTP_IDLE_TIMEOUT_SECONDS="60")
    with serving(env, tmp_path) as served:
        with connect(served) as trickling:
            # A byte every 0.2 s: the head's deadline is not extended by more bytes.
            trickling.sendall(b"GET /healthz HTTP/1.1\r\nHost: x\r\n")
            trickling.settimeout(0.2)
            deadline = time.monotonic() + WAIT
            answer = b""
            while not answer and time.monotonic() < deadline:
                try:
                    answer = trickling.recv(65536)
                except TimeoutError:
                    trickling.sendall(b"X")
            trickling.settimeout(WAIT)
            answer += until_closed(trickling)
        assert answer.startswith(b"HTTP/1.1 408 "), answer[:200]
        assert outcome(answer)["issue"][0]["code"] == "timeout"

        body = json.dumps(sign_request()).encode()
        with connect(served) as half_body:
            half_body.sendall(head_of("POST", SIGN, Content_Type="application/json",
                                      Content_Length=str(len(body)),
                                      Authorization=f"Bearer {ehr.token()}"))
            half_body.sendall(body[:len(body) // 2])
            answer = until_closed(half_body)
        assert answer.startswith(b"HTTP/1.1 408 "), answer[:200]
        assert outcome(answer)["issue"][0]["code"] == "timeout"

        # Answered before its body was read (no token): closed, so the body cannot trickle on.
        with connect(served) as unread:
            unread.sendall(head_of("POST", SIGN, Content_Type="application/json",
                                   Content_Length="100000") + b"{")
            answer = until_closed(unread)
        assert answer.startswith(b"HTTP/1.1 401 "), answer[:200]
        assert outcome(answer)["issue"][0]["code"] == "login"

        assert call(served, ehr.token()).status_code == 200
        counted = httpx2.get(f"{served.base}/metrics", timeout=WAIT).text
        for limit in ("header-timeout", "body-timeout"):
            assert metric(counted, "cds_http_limit_hits_total", limit=limit) == 1, limit


def test_a_connection_over_the_cap_replaces_the_longest_idle_one_or_gets_503(
        tmp_path: Path) -> None:
    ehr = EHR()
    env = production(tmp_path, ehr, CDS_HTTP_MAX_CONNECTIONS="4",
                     CDS_HTTP_IDLE_TIMEOUT_SECONDS="60", CDS_HTTP_BODY_TIMEOUT_SECONDS="60")
    with serving(env, tmp_path) as served:
        idle = [connect(served) for _ in range(4)]  # open, never used
        try:
            # The fifth is served: the connection idle the longest makes room for it.
            assert call(served, ehr.token()).status_code == 200
            assert until_closed(idle[0]) == b""
        finally:
            for sock in idle:
                sock.close()

        busy = [half_sent_call(served, ehr) for _ in range(4)]  # requests in progress
        try:
            with connect(served) as fifth:
                answer = until_closed(fifth)
            assert answer.startswith(b"HTTP/1.1 503 "), answer[:200]
            assert b"retry-after: 1" in answer.lower()
            assert outcome(answer)["issue"][0]["code"] == "transient"
        finally:
            for sock, _ in busy:
                sock.close()
        assert eventually(lambda: call(served, ehr.token()).status_code == 200)


def half_sent_call(served: Served, ehr: EHR) -> tuple[socket.socket, bytes]:
    """A hook call in progress: its head sent, and the first 100 bytes of its body once the
    service has asked for the body (``100 Continue``), so the service is known to be reading."""
    body = json.dumps(sign_request()).encode()
    sock = connect(served)
    sock.sendall(head_of("POST", SIGN, Content_Type="application/json", Expect="100-continue",
                         Content_Length=str(len(body)), Authorization=f"Bearer {ehr.token()}"))
    assert sock.recv(65536).startswith(b"HTTP/1.1 100 ")
    sock.sendall(body[:100])
    return sock, body


def test_one_request_over_the_cap_gets_503_at_once_and_health_checks_still_answer(
        tmp_path: Path) -> None:
    ehr = EHR()
    env = production(tmp_path, ehr, CDS_HTTP_MAX_REQUESTS="2")
    with serving(env, tmp_path) as served:
        calls = [half_sent_call(served, ehr) for _ in range(2)]  # two calls in progress
        held = [sock for sock, _ in calls]
        bodies = [body for _, body in calls]
        try:
            refused = call(served, ehr.token())
            assert refused.status_code == 503, refused.text
            assert refused.headers["retry-after"] == "1"
            assert refused.json()["issue"][0]["code"] == "transient"
            assert httpx2.get(served.base + "/healthz", timeout=WAIT).status_code == 200
            counted = httpx2.get(f"{served.base}/metrics", timeout=WAIT)
            assert counted.status_code == 503  # not exempt: only /healthz is
            for sock, body in zip(held, bodies, strict=True):
                sock.sendall(body[100:])
            for sock in held:
                answer = sock.recv(65536)
                assert answer.startswith(b"HTTP/1.1 200 "), answer[:200]
        finally:
            for sock in held:
                sock.close()
        assert call(served, ehr.token()).status_code == 200
        counted = httpx2.get(f"{served.base}/metrics", timeout=WAIT).text
        assert metric(counted, "cds_http_limit_hits_total", limit="requests") == 2


def eventually(check: Any, tries: int = 50) -> bool:
    """``check()`` true within a few seconds (the server handles events in its own order)."""
    for _ in range(tries):
        if check():
            return True
        time.sleep(0.1)
    return False




def test_content_length_with_transfer_encoding_is_refused_and_the_connection_closed(
        tmp_path: Path) -> None:
    # RFC 9112 §6.3; otherwise a proxy framing by Content-Length and we by chunks see different
    # requests: the "body" below smuggles a GET /metrics onto the connection.
    ehr = EHR()
    with serving(production(tmp_path, ehr), tmp_path) as served, connect(served) as sock:
        sock.sendall(head_of("POST", SIGN, Authorization=f"Bearer {ehr.token()}",
                             Content_Type="application/json", Content_Length="48",
                             Transfer_Encoding="chunked")
                     + b"0\r\n\r\nGET /metrics HTTP/1.1\r\nHost: x\r\n\r\n")
        answer = until_closed(sock)
    assert answer.startswith(b"HTTP/1.1 400 "), answer[:200]
    assert "Content-Length and Transfer-Encoding" in outcome(answer)["issue"][0]["diagnostics"]
    assert answer.count(b"HTTP/1.1 ") == 1  # the smuggled request was never answered


def test_a_websocket_upgrade_is_answered_as_plain_http_never_switched(tmp_path: Path) -> None:
    # No route is a WebSocket, and uvicorn's WebSocket protocol has none of the limits above:
    # an upgrade request must never reach it (uvicorn ws="none").
    with serving(production(tmp_path, EHR()), tmp_path) as served, connect(served) as sock:
        sock.sendall(head_of("GET", "/healthz", Connection="Upgrade", Upgrade="websocket",
                             Sec_WebSocket_Version="13",
                             Sec_WebSocket_Key="dGhlIHNhbXBsZSBub25jZQ=="))
        answer = sock.recv(65536)
    assert not answer.startswith(b"HTTP/1.1 101 "), answer[:200]
    assert answer.startswith(b"HTTP/1.1 200 "), answer[:200]
