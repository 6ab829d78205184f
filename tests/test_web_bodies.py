"""Request bodies on the page: JSON bodies capped at 1 MB and edited cells at Excel's 32,767
characters (413 with a JSON error, nothing stored), uploads capped while they stream, and
bodies that trickle in cut off with a 408. The caps that depend on how bytes arrive run against
a real server on 127.0.0.1 through a raw socket (a test client hands the app the whole body at
once); pace rules are shortened so no test waits more than a second or two."""

from __future__ import annotations

import http.client
import json
import select
import socket
import time
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest

from batch.web.app import WebConfig, create_app
from batch.web.limits import MAX_CELL_CHARS, BodyRules
from batch.web.server import Running, start_in_thread
from tests.e2e_support import SAMPLE_CSV
from tests.web_support import H, dry_run, site, upload

# A slow client is cut off after half a second at under 2,000 bytes a second.
QUICK = BodyRules(grace_seconds=0.5, min_bytes_per_second=2000)
BOUNDARY = "alm-batch-test"


@contextmanager
def served(tmp_path: Path, **config: Any) -> Iterator[tuple[Running, Path]]:
    state = tmp_path / "state"
    app = create_app(
        WebConfig(state_dir=state, settings_factory=lambda: pytest.fail("no ALM"), **config)
    )
    running = start_in_thread(app, "127.0.0.1", 0)
    try:
        yield running, state / "web" / "uploads"
    finally:
        app.registry.shutdown(wait=5)
        running.stop()


def head(port: int, method: str, path: str, headers: dict[str, str]) -> bytes:
    lines = [f"{method} {path} HTTP/1.1", f"Host: 127.0.0.1:{port}", "X-Requested-By: alm-batch"]
    lines += [f"{k}: {v}" for k, v in headers.items()]
    return ("\r\n".join(lines) + "\r\n\r\n").encode()


def exchange(
    port: int, start: bytes, parts: Iterable[bytes], pause: float = 0.0
) -> tuple[int, dict[str, Any], int, float]:
    """Send ``start``, then ``parts`` one by one (``pause`` apart) until the server answers or
    hangs up; returns (status, JSON body, body bytes sent, seconds until the answer)."""
    sent, began = 0, time.monotonic()
    with socket.create_connection(("127.0.0.1", port), timeout=10) as sock:
        sock.sendall(start)
        for part in parts:
            if select.select([sock], [], [], pause)[0]:
                break  # the server has answered: stop sending
            try:
                sock.sendall(part)
            except OSError:
                break  # it hung up
            sent += len(part)
        response = http.client.HTTPResponse(sock)
        response.begin()
        body = json.loads(response.read() or b"{}")
        return response.status, body, sent, time.monotonic() - began


def chunked(parts: Iterable[bytes]) -> Iterator[bytes]:
    for part in parts:
        yield f"{len(part):x}\r\n".encode() + part + b"\r\n"
    yield b"0\r\n\r\n"


def multipart_start(filename: str) -> bytes:
    return (
        f'--{BOUNDARY}\r\nContent-Disposition: form-data; name="file"; filename="{filename}"'
        "\r\nContent-Type: text/csv\r\n\r\n"
    ).encode()


def test_a_json_body_over_1_mb_is_refused_and_an_edit_is_capped_at_a_cell(tmp_path: Path) -> None:
    with site(tmp_path) as s:
        c = s.client
        job = dry_run(c, upload(c, Path(SAMPLE_CSV))["upload_id"])
        url = f"/api/jobs/{job['job_id']}/rows/2"
        job_json = next((s.state_dir / "web" / "jobs").glob(f"{job['job_id']}/job.json"))
        before = job_json.stat().st_size

        huge = {"cells": {"Course Name": "x" * (3 << 20)}}  # the 400 MB PATCH, smaller
        r = c.patch(url, json=huge, headers=H)
        assert r.status_code == 413 and "larger than 1 MB" in r.json()["error"]
        r = c.patch(url, json={"cells": {"Course Name": "x" * (MAX_CELL_CHARS + 1)}}, headers=H)
        assert r.status_code == 413
        assert "32,768 characters" in r.json()["error"] and "32,767" in r.json()["error"]
        assert job_json.stat().st_size == before  # nothing of either was stored

        r = c.patch(url, json={"cells": {"Course Name": "y" * MAX_CELL_CHARS}}, headers=H)
        assert r.status_code == 200, r.text  # a full cell is fine (no such course, simply)
        assert before < job_json.stat().st_size < before + 4 * MAX_CELL_CHARS


def test_a_chunked_json_body_is_cut_off_at_the_cap_while_it_arrives(tmp_path: Path) -> None:
    """No Content-Length to refuse up front: the server stops reading after 1 MB, so a client
    that would send 64 MB is answered long before (the 400 MB PATCH held 2.5 GB)."""
    with served(tmp_path) as (running, _):
        start = head(running.port, "PATCH", "/api/jobs/x/rows/2",
                     {"Content-Type": "application/json", "Transfer-Encoding": "chunked"})  # fmt: skip
        status, body, sent, _ = exchange(running.port, start, chunked([b" " * 65536] * 1024))
    assert status == 413 and "larger than 1 MB" in body["error"]
    assert sent < 8 << 20, sent  # of 64 MB offered


def test_a_trickled_json_body_is_answered_408(tmp_path: Path) -> None:
    with served(tmp_path, body_rules=QUICK) as (running, _):
        start = head(running.port, "POST", "/api/jobs/x/cancel",
                     {"Content-Type": "application/json", "Content-Length": "1000"})  # fmt: skip
        status, body, sent, seconds = exchange(running.port, start, [b" "] * 1000, pause=0.05)
    assert status == 408 and "arrived too slowly" in body["error"]
    assert sent < 100 and seconds < 3


def test_a_trickled_upload_is_cut_off_and_nothing_is_stored(tmp_path: Path) -> None:
    with served(tmp_path, body_rules=QUICK) as (running, uploads):
        start = head(running.port, "POST", "/api/uploads", {
            "Content-Type": f"multipart/form-data; boundary={BOUNDARY}",
            "Content-Length": "100000"})  # fmt: skip
        parts = [multipart_start("slow.csv")] + [b"a@b.example,X,2025-01-01\n"] * 4000
        status, body, sent, seconds = exchange(running.port, start, parts, pause=0.05)
        assert status == 408 and "arrived too slowly" in body["error"]
        assert sent < 2000 and seconds < 3
        assert list(uploads.iterdir()) == []
        # the same rules let an ordinary upload through
        data = b"Email,Course,Completion Date\n" + b"a@b.example,Fire Safety,2025-01-01\n" * 2000
        payload = multipart_start("fast.csv") + data + f"\r\n--{BOUNDARY}--\r\n".encode()
        start = head(running.port, "POST", "/api/uploads", {
            "Content-Type": f"multipart/form-data; boundary={BOUNDARY}",
            "Content-Length": str(len(payload))})  # fmt: skip
        status, body, _, _ = exchange(running.port, start, [payload])
        assert status == 201 and body["rows"] == 2000
        assert len(list(uploads.iterdir())) == 1


def test_an_upload_without_a_length_is_cut_off_at_the_cap(tmp_path: Path) -> None:
    with served(tmp_path, max_upload_mb=0.25) as (running, uploads):
        start = head(running.port, "POST", "/api/uploads", {
            "Content-Type": f"multipart/form-data; boundary={BOUNDARY}",
            "Transfer-Encoding": "chunked"})  # fmt: skip
        rows = [b"a@b.example,Fire Safety,2025-01-01\n" * 1000] * 1000  # 35 MB offered
        status, body, sent, _ = exchange(
            running.port, start, chunked([multipart_start("big.csv"), *rows])
        )
        assert status == 413 and "0.25 MB limit" in body["error"]
        # Refused at the cap, not after the 35 MB: what the client got into the loopback's
        # socket buffers before the answer came (a few MB on a loaded machine) is all it sent.
        assert sent < 12 << 20, sent
        assert list(uploads.iterdir()) == []
