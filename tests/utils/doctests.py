"""Run a module's doctests so that a module with no example fails instead of passing.

`doctest.testmod(m).failed == 0` also holds when no example ran (a docstring reformatted out of
the `>>>` form, a module that lost its examples); the examples are tests, so count them.
"""

from __future__ import annotations

import doctest
from types import ModuleType


def run_doctests(module: ModuleType, *, optionflags: int = 0) -> int:
    """Run `module`'s doctests; fail unless at least one example ran and none failed.

    Returns how many examples ran.
    """
    result = doctest.testmod(module, optionflags=optionflags)
    assert result.attempted > 0, f"{module.__name__}: no doctest example ran"
    assert result.failed == 0, f"{module.__name__}: {result.failed} doctest example(s) failed"
    return result.attempted
