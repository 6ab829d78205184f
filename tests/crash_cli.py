"""The CLI, SIGKILLed at an exact write: ``python -m tests.crash_cli POINT:N ARGS...`` (test-only).

``POINT`` is ``before-send`` (the Nth HTTP write of the run is journaled ``pending`` but not
sent) or ``after-send`` (ALM accepted it, the journal does not know yet). The hook goes into
``batch.execute.write_hook``, the seam production never sets; then ``batch.cli.main`` runs
``ARGS`` exactly as ``python -m batch ARGS`` would.
"""

from __future__ import annotations

import os
import signal
import sys

from batch import cli, execute


def kill_at(spec: str) -> execute.WriteHook:
    point, _, nth = spec.partition(":")
    if point not in ("before-send", "after-send") or not nth.isdigit():
        raise SystemExit(f"crash_cli: expected before-send:N or after-send:N, got {spec!r}")
    target = (point, int(nth))

    def hook(at: str, n: int) -> None:
        if (at, n) == target:
            os.kill(os.getpid(), signal.SIGKILL)

    return hook


def main(argv: list[str]) -> int:
    spec, *args = argv
    execute.write_hook = kill_at(spec)
    return cli.main(args)


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
