"""Attacks on the upload page that take real time: ``alm-batch serve --sandbox`` in its own
process (password mode, bounded to 2 GB of address space), then, over 127.0.0.1:

- a 400 MB PATCH without a length and a 200 MB upload without a length: 413 after the caps,
  and the server's peak memory stays small (one such PATCH once peaked at 2.5 GB);
- 40 uploads trickling a byte a second: each cut off with 408 soon after the grace period while
  the page keeps answering others at once;
- password guessing as fast as one client can ask for 20 s: the guesses actually checked are a
  handful, not 22 a second.
"""

from __future__ import annotations

import base64
import http.client
import json
import re
import select
import socket
import threading
import time
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path

import pytest

from bench.soak.runner import clean_env, kill, start_cli

pytestmark = pytest.mark.timeout(300)
PASSWORD = "soak-test passphrase 7"
AUTH = "Basic " + base64.b64encode(f"hr:{PASSWORD}".encode()).decode()
MB = 1024 * 1024


def start_page(tmp_path: Path) -> tuple[object, int]:
    err = tmp_path / "serve.err"
    proc = start_cli(
        ["serve", "--sandbox", "--no-browser", "--port", "0", "--state-dir", str(tmp_path / "s")],
        cwd=tmp_path,
        env=clean_env({"ALM_BATCH_WEB_PASSWORD": PASSWORD}),
        out=tmp_path / "serve.out",
        err=err,
    )
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        found = re.search(r"http://127\.0\.0\.1:(\d+)/", err.read_text("utf-8", "replace"))
        if found:
            return proc, int(found.group(1))
        assert proc.poll() is None, err.read_text()
        time.sleep(0.1)
    kill(proc)  # type: ignore[arg-type]
    raise AssertionError("the page did not start")


def peak_rss_mb(pid: int) -> float:
    status = Path(f"/proc/{pid}/status").read_text()
    found = re.search(r"VmHWM:\s+(\d+) kB", status)
    assert found
    return int(found.group(1)) / 1024


def send(
    port: int, head: str, parts: Iterable[bytes], pause: float = 0.0
) -> tuple[int, dict[str, object], int]:
    """Send a request head, then body ``parts`` until the server answers; (status, body, sent)."""
    sent = 0
    with socket.create_connection(("127.0.0.1", port), timeout=60) as sock:
        sock.sendall(head.encode())
        for part in parts:
            if select.select([sock], [], [], pause)[0]:
                break
            try:
                sock.sendall(part)
            except OSError:
                break
            sent += len(part)
        response = http.client.HTTPResponse(sock)
        response.begin()
        return response.status, json.loads(response.read() or b"{}"), sent


def chunked(size: int, piece: bytes) -> Iterator[bytes]:
    for _ in range(size // len(piece)):
        yield f"{len(piece):x}\r\n".encode() + piece + b"\r\n"
    yield b"0\r\n\r\n"


def head(port: int, method: str, path: str, extra: str) -> str:
    return (
        f"{method} {path} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nAuthorization: {AUTH}\r\n"
        f"X-Requested-By: alm-batch\r\n{extra}\r\n"
    )


def get(port: int, path: str, auth: str = AUTH) -> int:
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    try:
        conn.request("GET", path, headers={"Authorization": auth})
        response = conn.getresponse()
        response.read()
        return response.status
    finally:
        conn.close()


def test_the_page_survives_oversized_slow_and_guessing_clients(
    tmp_path: Path, soak_line: Callable[[str], None]
) -> None:
    proc, port = start_page(tmp_path)
    pid = proc.pid  # type: ignore[attr-defined]
    try:
        assert get(port, "/") == 200
        base_mb = peak_rss_mb(pid)

        # 1. bodies with no length: cut off at the caps while they arrive
        patch = head(port, "PATCH", "/api/jobs/x/rows/2",
                     "Content-Type: application/json\r\nTransfer-Encoding: chunked\r\n")  # fmt: skip
        status, body, sent = send(port, patch, chunked(400 * MB, b" " * (256 * 1024)))
        assert status == 413 and "1 MB" in str(body["error"]), body
        multipart = "multipart/form-data; boundary=B"
        upload = head(port, "POST", "/api/uploads",
                      f"Content-Type: {multipart}\r\nTransfer-Encoding: chunked\r\n")  # fmt: skip
        opening = b'--B\r\nContent-Disposition: form-data; name="file"; filename="x.csv"\r\n\r\n'
        pieces = iter([f"{len(opening):x}\r\n".encode() + opening + b"\r\n"])
        big_status, big_body, big_sent = send(
            port, upload, (*pieces, *chunked(200 * MB, b"a@b.example,X,2025-01-01\n" * 10000))
        )
        assert big_status == 413 and "50 MB limit" in str(big_body["error"]), big_body
        assert list((tmp_path / "s" / "web" / "uploads").iterdir()) == []
        peak_mb = peak_rss_mb(pid)
        assert peak_mb - base_mb < 200, (base_mb, peak_mb)

        # 2. forty uploads trickling a byte a second, and an ordinary visitor meanwhile
        results: list[tuple[int, float]] = []

        def trickle() -> None:
            started = time.monotonic()
            slow = head(port, "POST", "/api/uploads",
                        f"Content-Type: {multipart}\r\nContent-Length: 100000\r\n")  # fmt: skip
            code, _, _ = send(port, slow, [opening, *([b"x"] * 60)], pause=1.0)
            results.append((code, time.monotonic() - started))

        threads = [threading.Thread(target=trickle) for _ in range(40)]
        for thread in threads:
            thread.start()
        time.sleep(2)
        asked = time.monotonic()
        assert get(port, "/") == 200
        visitor_s = time.monotonic() - asked
        assert visitor_s < 2, visitor_s
        for thread in threads:
            thread.join(60)
        assert len(results) == 40 and all(code == 408 for code, _ in results), results
        slowest = max(seconds for _, seconds in results)
        assert slowest < 20, slowest
        # 3. guessing (last: it locks this address out) the password for 20 s from one address
        wrong = "Basic " + base64.b64encode(b"hr:guess").decode()
        answers: dict[int, int] = {}
        end = time.monotonic() + 20
        while time.monotonic() < end:
            code = get(port, "/", auth=wrong)
            answers[code] = answers.get(code, 0) + 1
        checked = answers.get(401, 0)
        assert checked <= 12 and answers.get(429, 0) > 0, answers

    finally:
        kill(proc)  # type: ignore[arg-type]
    soak_line(
        f"SOAK web attacks: PASS 400 MB PATCH -> 413 after {sent / MB:.1f} MB, 200 MB upload -> "
        f"413 after {big_sent / MB:.1f} MB, peak {peak_mb:.0f} MB (from {base_mb:.0f}); "
        f"20 s of guessing: {checked} passwords checked, {answers.get(429, 0)} refused (429); "
        f"40 trickling uploads cut off (408) within {slowest:.1f} s while a visitor was answered "
        f"in {visitor_s:.2f} s"
    )
