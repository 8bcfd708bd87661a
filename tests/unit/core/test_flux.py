"""Flux annotated CSV: every table's rows, keyed by that table's own header."""

from __future__ import annotations

import doctest

from mpcs.core import flux


def test_doctests() -> None:
    assert doctest.testmod(flux).failed == 0


def test_tables_with_different_headers_and_quoted_cells() -> None:
    text = (
        ",result,table,_value\r\n,_result,0,1.5\r\n\r\n"
        ',result,table,fdir_reason\r\n,_result,1,"low battery, safe"\r\n\r\n'
    )
    rows = flux.parse_annotated_csv(text)
    assert rows[0]["_value"] == "1.5"
    assert rows[1]["fdir_reason"] == "low battery, safe"
