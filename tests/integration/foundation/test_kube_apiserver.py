"""The test apiserver is a real kube-apiserver: structural schemas, CEL, watches and RBAC work."""

from __future__ import annotations

import threading
import time
from typing import Any

import pytest
from kubernetes import client as k8s
from kubernetes import watch
from kubernetes.client import ApiClient
from kubernetes.client.exceptions import ApiException

pytestmark = pytest.mark.integration

GROUP = "smoke.mpcs.io"


def _crd(plural: str) -> dict[str, Any]:
    return {
        "apiVersion": "apiextensions.k8s.io/v1",
        "kind": "CustomResourceDefinition",
        "metadata": {"name": f"{plural}.{GROUP}"},
        "spec": {
            "group": GROUP,
            "scope": "Namespaced",
            "names": {"plural": plural, "singular": plural[:-1], "kind": plural[:-1].title()},
            "versions": [
                {
                    "name": "v1",
                    "served": True,
                    "storage": True,
                    "schema": {
                        "openAPIV3Schema": {
                            "type": "object",
                            "properties": {
                                "spec": {
                                    "type": "object",
                                    "required": ["minElevationDeg", "maxElevationDeg"],
                                    "properties": {
                                        "minElevationDeg": {
                                            "type": "number",
                                            "minimum": 0,
                                            "maximum": 90,
                                        },
                                        "maxElevationDeg": {
                                            "type": "number",
                                            "minimum": 0,
                                            "maximum": 90,
                                        },
                                    },
                                    "x-kubernetes-validations": [
                                        {
                                            "rule": "self.minElevationDeg <= self.maxElevationDeg",
                                            "message": "must not exceed maxElevationDeg",
                                            "fieldPath": ".minElevationDeg",
                                        }
                                    ],
                                }
                            },
                        }
                    },
                }
            ],
        },
    }


@pytest.fixture
def crd_plural(kube_client: ApiClient, unique: str) -> Any:
    plural = f"masks{unique}"
    ext = k8s.ApiextensionsV1Api(kube_client)
    ext.create_custom_resource_definition(_crd(plural))
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        status = ext.read_custom_resource_definition(f"{plural}.{GROUP}").status
        conditions = {c.type: c.status for c in (status.conditions or [])}
        if conditions.get("Established") == "True":
            break
        time.sleep(0.2)
    yield plural
    ext.delete_custom_resource_definition(f"{plural}.{GROUP}")


def _obj(plural: str, name: str, lo: float, hi: float) -> dict[str, Any]:
    return {
        "apiVersion": f"{GROUP}/v1",
        "kind": plural[:-1].title(),
        "metadata": {"name": name},
        "spec": {"minElevationDeg": lo, "maxElevationDeg": hi},
    }


def test_cel_rule_rejects_with_field_named(
    kube_client: ApiClient, namespace: str, crd_plural: str
) -> None:
    api = k8s.CustomObjectsApi(kube_client)
    with pytest.raises(ApiException) as exc:
        api.create_namespaced_custom_object(
            GROUP, "v1", namespace, crd_plural, _obj(crd_plural, "bad", 30, 10)
        )
    assert exc.value.status == 422
    assert "spec.minElevationDeg" in exc.value.body
    assert "must not exceed maxElevationDeg" in exc.value.body


def test_schema_bound_rejects_with_field_named(
    kube_client: ApiClient, namespace: str, crd_plural: str
) -> None:
    api = k8s.CustomObjectsApi(kube_client)
    with pytest.raises(ApiException) as exc:
        api.create_namespaced_custom_object(
            GROUP, "v1", namespace, crd_plural, _obj(crd_plural, "bad", 5, 95)
        )
    assert exc.value.status == 422
    assert "spec.maxElevationDeg" in exc.value.body


def test_valid_object_round_trips_and_watch_sees_update(
    kube_client: ApiClient, namespace: str, crd_plural: str
) -> None:
    api = k8s.CustomObjectsApi(kube_client)
    created = api.create_namespaced_custom_object(
        GROUP, "v1", namespace, crd_plural, _obj(crd_plural, "ok", 5, 60)
    )
    read = api.get_namespaced_custom_object(GROUP, "v1", namespace, crd_plural, "ok")
    assert read["spec"] == {"minElevationDeg": 5, "maxElevationDeg": 60}

    seen: list[float] = []
    w = watch.Watch()

    def follow() -> None:
        for event in w.stream(
            api.list_namespaced_custom_object,
            GROUP,
            "v1",
            namespace,
            crd_plural,
            resource_version=created["metadata"]["resourceVersion"],
            timeout_seconds=20,
        ):
            if event["type"] == "MODIFIED":
                seen.append(event["object"]["spec"]["minElevationDeg"])
                w.stop()

    thread = threading.Thread(target=follow)
    thread.start()
    api.patch_namespaced_custom_object(
        GROUP, "v1", namespace, crd_plural, "ok", {"spec": {"minElevationDeg": 10}}
    )
    thread.join(timeout=25)
    assert seen == [10]


def test_unprivileged_service_account_is_denied_by_rbac(
    kube_client: ApiClient, kubeconfig: Any, namespace: str
) -> None:
    core = k8s.CoreV1Api(kube_client)
    core.create_namespaced_service_account(
        namespace, k8s.V1ServiceAccount(metadata=k8s.V1ObjectMeta(name="nobody"))
    )
    token = core.create_namespaced_service_account_token(
        "nobody",
        namespace,
        k8s.AuthenticationV1TokenRequest(
            spec=k8s.V1TokenRequestSpec(
                audiences=["https://kubernetes.default.svc.cluster.local"], expiration_seconds=600
            )
        ),
    ).status.token

    cfg = k8s.Configuration()
    cfg.host = kube_client.configuration.host
    cfg.ssl_ca_cert = kube_client.configuration.ssl_ca_cert
    cfg.api_key = {"authorization": f"Bearer {token}"}
    with ApiClient(cfg) as sa_client:
        sa_core = k8s.CoreV1Api(sa_client)
        with pytest.raises(ApiException) as exc:
            sa_core.list_namespaced_secret(namespace)
        assert exc.value.status == 403
        assert f"system:serviceaccount:{namespace}:nobody" in exc.value.body

        # Granting exactly one verb makes exactly that call pass: RBAC is really evaluated.
        rbac = k8s.RbacAuthorizationV1Api(kube_client)
        rbac.create_namespaced_role(
            namespace,
            {
                "metadata": {"name": "read-configmaps"},
                "rules": [{"apiGroups": [""], "resources": ["configmaps"], "verbs": ["list"]}],
            },
        )
        rbac.create_namespaced_role_binding(
            namespace,
            {
                "metadata": {"name": "nobody-reads-configmaps"},
                "roleRef": {
                    "apiGroup": "rbac.authorization.k8s.io",
                    "kind": "Role",
                    "name": "read-configmaps",
                },
                "subjects": [{"kind": "ServiceAccount", "name": "nobody", "namespace": namespace}],
            },
        )
        deadline = time.monotonic() + 10
        while True:
            try:
                sa_core.list_namespaced_config_map(namespace)
                break
            except ApiException as err:
                if err.status != 403 or time.monotonic() > deadline:
                    raise
                time.sleep(0.2)
        with pytest.raises(ApiException) as exc:
            sa_core.list_namespaced_secret(namespace)
        assert exc.value.status == 403
