"""JSON webhook notifications about ContainerImageRefresh runs.

One POST per finished run whose outcome is listed in ``spec.notify.events``.
The body is a plain JSON summary (resource, run, result, digests, failed
scenarios with their log tails) plus a ``text`` line, so chat webhooks that
only read ``text`` show something useful too. Delivery is best effort: a
failed POST is logged and reported as an Event, never retried in a loop, and
never fails the run.
"""

from __future__ import annotations

import json
import urllib.error
import urllib.request
from collections.abc import Mapping
from typing import Any

from shakedown.adapters import httpcalls
from shakedown.api.imagerefresh import RunSummary


class NotifyError(Exception):
    """The webhook could not be reached or refused the POST."""


def payload(
    *, namespace: str, name: str, image: str, tag: str, result: str, summary: RunSummary
) -> dict[str, Any]:
    """The JSON document posted for a finished run."""
    run = summary.to_api()
    failed = [f.name for f in summary.failed_tests]
    text = f"ContainerImageRefresh {namespace}/{name} run {summary.id}: {result}"
    if failed:
        text += f" (failed: {', '.join(failed)})"
    return {
        "kind": "ContainerImageRefresh",
        "namespace": namespace,
        "name": name,
        "image": image,
        "tag": tag,
        "result": result,
        "run": run,
        "text": text,
    }


def post(
    url: str, document: Mapping[str, Any], *, token: str | None = None, timeout: float = 10.0
) -> int:
    """POST ``document`` as JSON; returns the HTTP status."""
    headers = {"Content-Type": "application/json", "User-Agent": "shakedown"}
    if token:
        headers["Authorization"] = f"Bearer {token}"
    request = urllib.request.Request(
        url, data=json.dumps(document).encode(), method="POST", headers=headers
    )
    try:
        with httpcalls.opener(timeout=timeout)(request) as response:
            return int(response.status)
    except urllib.error.HTTPError as exc:
        raise NotifyError(f"webhook {url} answered HTTP {exc.code}") from None
    except (urllib.error.URLError, OSError) as exc:
        raise NotifyError(f"webhook {url}: {getattr(exc, 'reason', exc)}") from None
