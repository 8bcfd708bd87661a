"""The generated CRDs in a real kube-apiserver: invalid objects are rejected naming the field.

Every entry of the catalogue (`crd_cases.py`) is sent to the API server, which must answer 422
naming the field, and to the pydantic model the operator parses with, which must refuse it on the
same field: the CRD schemas are generated from those models, and this keeps the two in step.
"""

from __future__ import annotations

import json
from typing import Any

import pytest
from crd_cases import CATALOGUE, Invalid, invalid_object
from kubernetes.client import ApiClient
from kubernetes.client.exceptions import ApiException
from pydantic import ValidationError
from utils.kube import Custom

from mpcs.core.resources import KINDS, KINDS_BY_NAME

pytestmark = pytest.mark.integration


def test_catalogue_is_large_and_distinct() -> None:
    assert len(CATALOGUE) >= 25
    assert len({c.id for c in CATALOGUE}) == len(CATALOGUE)
    assert {c.kind for c in CATALOGUE} == {k.kind for k in KINDS}


@pytest.mark.parametrize("case", CATALOGUE, ids=lambda c: c.id)
def test_invalid_manifest_is_rejected_naming_the_field(
    kube_client: ApiClient, crds: None, namespace: str, case: Invalid
) -> None:
    with pytest.raises(ApiException) as exc:
        Custom(kube_client, namespace).create(invalid_object(case))
    assert exc.value.status == 422, exc.value.body
    body = json.loads(exc.value.body)
    causes = body.get("details", {}).get("causes", [])
    matching = [
        c for c in causes if c.get("field") == case.field and case.fragment in c.get("message", "")
    ]
    assert matching, f"expected {case.field}: …{case.fragment}…, got " + json.dumps(
        [{"field": c.get("field"), "message": c.get("message")} for c in causes]
    )
    # The summary a `kubectl apply` user reads names the field too.
    assert case.field in body["message"]


def _loc(error: Any) -> str:
    return ".".join(str(part) for part in error["loc"])


@pytest.mark.parametrize("case", CATALOGUE, ids=lambda c: c.id)
def test_invalid_manifest_is_rejected_by_the_model(case: Invalid) -> None:
    """What the API server refuses, the operator's model refuses too, on the same field."""
    obj = invalid_object(case)
    with pytest.raises(ValidationError) as exc:
        KINDS_BY_NAME[case.kind].spec_model.model_validate(obj["spec"])
    expected = case.field.removeprefix("spec.").replace("[", ".").replace("]", "")
    errors = exc.value.errors()
    assert any(expected.startswith(_loc(e)) for e in errors), (expected, errors)
    if case.cel:
        assert case.fragment in str(exc.value)
