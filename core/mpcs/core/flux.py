"""Rows of a Flux query result in InfluxDB's annotated CSV (`Accept: application/csv`).

Shared by everything that queries InfluxDB over plain HTTP (the operator, the dev demo), so the
format is parsed in one place. Tables are separated by blank lines, each with its own header.

>>> parse_annotated_csv(",result,table,satellite\\r\\n,_result,0,sat-1\\r\\n\\r\\n")
[{'': '', 'result': '_result', 'table': '0', 'satellite': 'sat-1'}]
"""

from __future__ import annotations

import csv


def parse_annotated_csv(text: str) -> list[dict[str, str]]:
    """Every data row of every table, keyed by its table's header."""
    rows: list[dict[str, str]] = []
    header: list[str] | None = None
    for cells in csv.reader(text.splitlines()):
        if not cells or not any(cells):
            header = None
            continue
        if header is None:
            header = cells
            continue
        rows.append(dict(zip(header, cells, strict=False)))
    return rows
