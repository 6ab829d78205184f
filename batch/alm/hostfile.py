"""A small JSON file in the state directory that remembers something per ALM host.

``allowance.json`` (the rates ALM's headers granted) and ``grade_shapes.json`` (the grade body
ALM accepted) are such files: ``{host: {...}}``, keyed by ``Settings.host`` (host and port,
never the user name or password an ``ALM_BASE_URL`` may carry). Files written before that were
keyed by the URL's raw ``user:password@host``: reading one re-keys its entries by host and
writes it again at once, so the password leaves the disk the first time a run reads it.

A missing or unreadable file is empty (what it remembered is learned again); writing never
raises (a run never stops for a hint it could not save). Files are written atomically (temp
file + replace) and readable by their owner only: they name the account's host.
"""

from __future__ import annotations

import json
import logging
from pathlib import Path
from typing import Any

from batch.settings import host_of, private_dir, write_private_text

log = logging.getLogger("batch.alm")

Entries = dict[str, Any]


class HostFile:
    def __init__(self, path: Path | None) -> None:
        self.path = path

    def read(self) -> Entries:
        """Everything in the file, host entries keyed by ``host_of`` (migrated when needed)."""
        data = self._load()
        clean = _rekeyed(data)
        if clean != data:
            self.write(clean)  # the old keys carried a user name or password: gone now
        return clean

    def entry(self, host: str) -> dict[str, Any]:
        found = self.read().get(host)
        return dict(found) if isinstance(found, dict) else {}

    def update(self, host: str, entry: dict[str, Any], **top: Any) -> None:
        """Set ``host``'s entry (and top-level fields such as a format tag), then save."""
        data = self.read()
        data.update(top)
        data[host] = entry
        self.write(data)

    def write(self, data: Entries) -> None:
        if self.path is None:
            return
        try:
            private_dir(self.path.parent)
            write_private_text(self.path, json.dumps(data, indent=1, sort_keys=True))
        except OSError as exc:
            log.warning("could not save %s: %s", self.path, exc.strerror or exc)

    def _load(self) -> Entries:
        if self.path is None:
            return {}
        try:
            data = json.loads(self.path.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            return {}
        return data if isinstance(data, dict) else {}


def _rekeyed(data: Entries) -> Entries:
    """Host entries (dicts) keyed by ``host_of`` of their key; other fields as they are. Two
    old keys for one host (with and without a password): the one already clean wins."""
    out: Entries = {key: value for key, value in data.items() if not isinstance(value, dict)}
    clean_first = sorted(
        ((key, value) for key, value in data.items() if isinstance(value, dict)),
        key=lambda item: host_of(item[0]) != item[0],
    )
    for key, value in clean_first:
        out.setdefault(host_of(key), value)
    return out
