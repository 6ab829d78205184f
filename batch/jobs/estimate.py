"""How long a live run takes at the allowance ALM grants: the estimate a person sees.

The allowance comes, in this order, from ALM's own ``x-rate-limit`` headers seen in this run,
from what earlier runs saw on the same ALM host (kept in the state directory), or, for writes
that a dry run never makes, from the reads' header scaled by the documented admin ratio of the
configured limits (GET 100 : POST 30 per minute); the settings are the last resort.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Protocol

from batch.alm.hostfile import HostFile
from batch.alm.ratelimit import HEADER_RATE_MARGIN
from batch.settings import Settings

ALLOWANCE_FILE = "allowance.json"


class SeesHeaders(Protocol):
    def announced_per_minute(self, method: str) -> float | None: ...

    def announced_burst(self, method: str) -> float | None: ...


class Paced(SeesHeaders, Protocol):
    def expect_allowance(self, method: str, per_minute: float, burst: float | None) -> None: ...


@dataclass(frozen=True, slots=True)
class Allowance:
    reads_per_minute: float
    writes_per_minute: float
    source: str  # where the write figure came from, for the summary

    def seconds(self, reads: int, writes: int, *, overlapped: bool, tail: float = 0.0) -> float:
        """Time for ``reads`` learner-state reads and ``writes`` writes: one after the other
        (a person confirms between them), or side by side (writing starts while reading),
        plus ``tail``: the last learner's writes go one after another, each a round trip."""
        if not writes:
            tail = 0.0
        read_s = reads * 60.0 / self.reads_per_minute if self.reads_per_minute > 0 else 0.0
        write_s = writes * 60.0 / self.writes_per_minute if self.writes_per_minute > 0 else 0.0
        return (max(read_s, write_s) if overlapped else read_s + write_s) + tail


def allowance(client: SeesHeaders, settings: Settings, state_dir: Path | None) -> Allowance:
    host = settings.host
    remembered = _file(state_dir).entry(host)
    reads = client.announced_per_minute("GET")
    writes = client.announced_per_minute("POST")
    if state_dir is not None and (reads is not None or writes is not None):
        _remember(state_dir, host, client)
    # The client paces a little under what a header grants (HEADER_RATE_MARGIN): so does this.
    margin = HEADER_RATE_MARGIN
    seen_reads = reads if reads is not None else _number(remembered.get("GET"))
    reads = seen_reads * margin if seen_reads else settings.get_per_minute
    if writes is not None:
        return Allowance(reads, writes * margin, "ALM's x-rate-limit header for writes")
    remembered_writes = _number(remembered.get("POST"))
    if remembered_writes:
        seen = remembered.get("seen", "an earlier run")
        return Allowance(reads, remembered_writes * margin, f"ALM's header seen on {seen}")
    if seen_reads and settings.get_per_minute > 0:
        ratio = settings.post_per_minute / settings.get_per_minute
        return Allowance(reads, reads * ratio, "ALM's read header x the documented GET:POST ratio")
    return Allowance(
        reads, settings.post_per_minute, "the configured default (ALM_POST_PER_MINUTE)"
    )


def read_seconds(
    client: SeesHeaders, settings: Settings, state_dir: Path | None, reads: int
) -> float:
    """Time ``reads`` learner-state reads take at the read allowance, the burst ALM grants
    (its ``x-burst``, else the configured one) taken at once: what ``--state-source auto``
    weighs against ALM's learner transcript job."""
    rate = allowance(client, settings, state_dir).reads_per_minute
    burst = client.announced_burst("GET") or float(settings.get_burst)
    return max(0.0, reads - burst) * 60.0 / rate if rate > 0 else 0.0


def expect_remembered(client: Paced, settings: Settings, state_dir: Path | None) -> list[str]:
    """Pace the client, before ALM's first answer, at the allowance (rate and burst) earlier
    runs saw ALM grant on this host, so the pools start at full speed instead of probing one
    request at a time. Returns the verbs primed. ALM's headers take over from the first
    answer, and a 429 (an allowance that changed) is honoured as always."""
    remembered = _file(state_dir).entry(settings.host)
    primed = []
    for verb in ("GET", "POST"):
        per_minute = _number(remembered.get(verb))
        if per_minute:
            client.expect_allowance(verb, per_minute, _number(remembered.get(f"{verb} burst")))
            primed.append(verb)
    return primed


def _number(value: object) -> float | None:
    """A positive number from the remembered JSON (anything else: None)."""
    if isinstance(value, int | float) and not isinstance(value, bool) and value > 0:
        return float(value)
    return None


def _file(state_dir: Path | None) -> HostFile:
    """``<state_dir>/allowance.json``, keyed by ALM host and port (never a password)."""
    return HostFile(state_dir / ALLOWANCE_FILE if state_dir is not None else None)


def _remember(state_dir: Path, host: str, client: SeesHeaders) -> None:
    store = _file(state_dir)
    entry = store.entry(host)
    for verb in ("GET", "POST"):
        per_minute = client.announced_per_minute(verb)
        if per_minute is None:
            continue
        entry[verb] = per_minute
        burst = client.announced_burst(verb)
        if burst is not None:
            entry[f"{verb} burst"] = burst
        if verb == "POST":
            entry["seen"] = datetime.now(UTC).date().isoformat()
    store.update(host, entry)  # a lost estimate hint never stops a run: never raises
