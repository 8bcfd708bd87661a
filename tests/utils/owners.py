"""The ownerReference the unit tests' Mission children point at (what `builders.owner_reference`
makes of the example Mission `wildfire`)."""

from __future__ import annotations

from typing import Any


def mission_owner() -> dict[str, Any]:
    """A fresh copy each time: builders put it into the children they return."""
    return {
        "apiVersion": "mpcs.io/v1alpha1",
        "kind": "Mission",
        "name": "wildfire",
        "uid": "u-1",
        "controller": True,
        "blockOwnerDeletion": True,
    }
