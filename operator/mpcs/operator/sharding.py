"""Which simulator pod of a pooled Mission flies which Satellite (`spec.simulation.pods`).

Pure: the pool reconcile (`reconcile/pool.py`) calls `assign` with the mission's simulated
Satellites, the number of pods and the assignment it applied last (read back from the pods'
ConfigMaps when the operator starts), and writes the result. The rules, in this order:

1. a Satellite stays on the pod it is on, while that pod exists and holds no more than its share
   (`ceil(satellites / pods)`): adding or removing a Satellite moves nothing else, except the one
   Satellite an overfull pod must give up when the share shrinks;
2. the Satellites left (new ones, those of a removed pod, an overfull pod's excess) go, in name
   order, to the least loaded pod; ties go to the pod that ranks highest for that Satellite
   (rendezvous hashing), so the result is a function of the inputs only.

>>> first = assign(["a", "b", "c", "d", "e"], pods=2)
>>> first
{'a': 0, 'b': 1, 'c': 1, 'd': 0, 'e': 1}
>>> assign(["a", "b", "c", "d", "e", "f"], pods=2, previous=first)
{'a': 0, 'b': 1, 'c': 1, 'd': 0, 'e': 1, 'f': 0}
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Mapping


def rank(satellite: str, pod: int) -> int:
    """Rendezvous score of `pod` for `satellite` (higher wins a tie); stable across processes."""
    digest = hashlib.blake2b(f"{satellite}/{pod}".encode(), digest_size=8).digest()
    return int.from_bytes(digest, "big")


def share(satellites: int, pods: int) -> int:
    """The most Satellites one pod holds: `ceil(satellites / pods)`."""
    return -(-satellites // pods)


def assign(
    satellites: Iterable[str], *, pods: int, previous: Mapping[str, int] | None = None
) -> dict[str, int]:
    """Satellite name → pod index in `range(pods)`, keeping `previous` where it can (see above)."""
    if pods < 1:
        raise ValueError(f"pods must be at least 1, not {pods}")
    names = sorted(set(satellites))
    cap = share(len(names), pods)
    load = [0] * pods
    result: dict[str, int] = {}
    left: list[str] = []
    for name in names:
        pod = (previous or {}).get(name)
        if pod is not None and 0 <= pod < pods and load[pod] < cap:
            result[name] = pod
            load[pod] += 1
        else:
            left.append(name)
    for name in left:
        pod = min(range(pods), key=lambda p: (load[p], -rank(name, p)))
        result[name] = pod
        load[pod] += 1
    return dict(sorted(result.items()))


def shards(assignment: Mapping[str, int], *, pods: int) -> list[list[str]]:
    """The Satellite names of each pod, sorted.

    >>> shards({"a": 1, "b": 0, "c": 1}, pods=3)
    [['b'], ['a', 'c'], []]
    """
    result: list[list[str]] = [[] for _ in range(pods)]
    for name, pod in sorted(assignment.items()):
        result[pod].append(name)
    return result


def moves(before: Mapping[str, int], after: Mapping[str, int]) -> int:
    """How many Satellites present in both assignments changed pod."""
    return sum(1 for name, pod in after.items() if name in before and before[name] != pod)
