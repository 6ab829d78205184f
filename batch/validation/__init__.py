"""Row validation internals (see ``batch.validate`` for the public API)."""
