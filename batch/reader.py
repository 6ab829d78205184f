"""CSV/XLSX -> ``InputRow``s with spreadsheet row numbers (the public face of ``batch.reading``).

    table = open_table("march.xlsx", mapping=parse_map_options(["Work Mail=email"]))
    for row in table.iter_rows():   # streams; may be called again
        ...

Every value stays text until validation; see ``batch.reading`` modules for the details of
encodings, delimiters, header finding and Excel cell conversion.
"""

from __future__ import annotations

from batch.reading.aliases import ALIASES, field_for_header, header_key, parse_map_options
from batch.reading.cells import cell_text
from batch.reading.table import Table, open_table

__all__ = [
    "ALIASES",
    "Table",
    "cell_text",
    "field_for_header",
    "header_key",
    "open_table",
    "parse_map_options",
]
