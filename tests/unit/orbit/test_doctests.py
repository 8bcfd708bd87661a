"""The examples in the orbit modules' docstrings run and print what they say."""

from __future__ import annotations

import doctest
from types import ModuleType

import pytest

from mpcs.orbit import frames, passes, sun, timeutil, tle


@pytest.mark.parametrize("module", [frames, passes, sun, timeutil, tle], ids=lambda m: m.__name__)
def test_doctests(module: ModuleType) -> None:
    result = doctest.testmod(module)
    assert result.attempted > 0
    assert result.failed == 0
