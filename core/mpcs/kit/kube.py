"""The Kubernetes API client every MPCS process that talks to the apiserver starts from.

In a pod, the pod's ServiceAccount (in-cluster config); elsewhere `$KUBECONFIG` read when called
(the client library reads it once, at import, and the dev runner gives each replica its own).
"""

from __future__ import annotations

import os

from kubernetes import client as k8s
from kubernetes import config as k8s_config
from kubernetes.client import ApiClient


def load_client(*, pool_size: int | None = None) -> ApiClient:
    """An API client with the process's own credentials.

    `pool_size` sizes the connection pool in the configuration *before* the client exists: the
    client builds its pool once, and a pool smaller than the threads using it discards a
    connection after nearly every request, paying a TLS handshake for the next one.
    """
    configuration = k8s.Configuration()
    try:
        k8s_config.load_incluster_config(client_configuration=configuration)  # type: ignore[no-untyped-call]
    except k8s_config.ConfigException:
        k8s_config.load_kube_config(  # type: ignore[no-untyped-call]
            config_file=os.environ.get("KUBECONFIG"), client_configuration=configuration
        )
    if pool_size is not None:
        configuration.connection_pool_maxsize = pool_size
    return ApiClient(configuration)
