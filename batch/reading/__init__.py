"""Reading CSV and Excel input files (see ``batch.reader`` for the public API)."""
