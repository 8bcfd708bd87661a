"""Whether optional APIs (grafana-operator's CRDs) are served, asked again every `ttl_s`.

Installing or removing grafana-operator is noticed without restarting the operator: the operator
sets `ttl_s` to its resync period, so the Missions' resync after the answer expires (within two
periods) sees it, and a Mission changed in between asks at most one stale answer.
"""

from __future__ import annotations

import time

from mpcs.operator.kube import Kube


class Discovery:
    def __init__(self, kube: Kube, *, ttl_s: float = 30.0) -> None:
        self._kube = kube
        self._ttl_s = ttl_s
        self._answers: dict[str, tuple[float, set[str]]] = {}

    async def serves(self, group_version: str, *plurals: str) -> bool:
        """True when every one of `plurals` is served under `group_version`."""
        now = time.monotonic()
        cached = self._answers.get(group_version)
        if cached is None or now - cached[0] > self._ttl_s:
            cached = (now, await self._kube.served_resources(group_version))
            self._answers[group_version] = cached
        return set(plurals) <= cached[1]
