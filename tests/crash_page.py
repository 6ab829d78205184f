"""The upload page, SIGKILLed at an exact write of a live run (test-only):
``python -m tests.crash_page STATE_DIR N``.

The page serves on 127.0.0.1 (an ephemeral port, printed on stdout) against the ALM that the
``ALM_*`` environment names; the Nth HTTP write of a live run is sent, ALM accepts it, and the
process dies before the journal says so (``batch.execute.write_hook``, the seam production
never sets), as a crash, kill -9 or the out-of-memory killer would end it.
"""

from __future__ import annotations

import os
import signal
import sys
import threading
from pathlib import Path

from batch import execute
from batch.settings import Settings
from batch.web.app import WebConfig, create_app
from batch.web.server import start_in_thread


def main(argv: list[str]) -> int:
    state_dir, nth = Path(argv[0]), int(argv[1])

    def hook(at: str, n: int) -> None:
        if (at, n) == ("after-send", nth):
            os.kill(os.getpid(), signal.SIGKILL)

    execute.write_hook = hook
    settings = Settings()
    app = create_app(WebConfig(state_dir=state_dir, settings_factory=lambda: settings))
    running = start_in_thread(app, "127.0.0.1", 0)
    print(running.url, flush=True)
    threading.Event().wait()
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
