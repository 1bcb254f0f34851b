"""Install the CRDs into a cluster and wait until they are served.

Used by the demo and the test fixtures; ``kubectl apply -f crds/`` does the same
for people.
"""

from __future__ import annotations

import time
from collections.abc import Iterable, Mapping
from typing import Any

import yaml

from shakedown.adapters import kubeclient
from shakedown.adapters.kubeclient import ApiClient, ApiException
from shakedown.api.crdgen import render_all


def install(
    api: ApiClient,
    documents: Iterable[Mapping[str, Any]] | None = None,
    *,
    timeout: float = 60,
) -> list[str]:
    """Create or replace each CRD (default: freshly generated), wait until Established."""
    if documents is None:
        documents = [yaml.safe_load(text) for text in render_all().values()]
    ext = kubeclient.apiextensions(api)
    names = []
    for doc in documents:
        body = dict(doc)
        name = body["metadata"]["name"]
        try:
            ext.create_custom_resource_definition(body)
        except ApiException as exc:
            if exc.status != 409:
                raise
            current = ext.read_custom_resource_definition(name)
            body["metadata"] = {
                **body["metadata"],
                "resourceVersion": current.metadata.resource_version,
            }
            ext.replace_custom_resource_definition(name, body)
        names.append(name)
    deadline = time.monotonic() + timeout
    for name in names:
        while True:
            crd = ext.read_custom_resource_definition(name)
            conditions = {c.type: c.status for c in (crd.status.conditions or [])}
            if conditions.get("Established") == "True":
                break
            if time.monotonic() > deadline:
                raise TimeoutError(f"CRD {name} not Established: {conditions}")
            time.sleep(0.2)
    return names
