"""kopf wiring for both kinds.

Importing this package registers every handler with kopf's default registry
(``shakedown run`` imports it). The handlers only wire: they start each
object's runner (``adapters.runner``: admit, observe, plan, record, act) as a
task on the object's own watch events, and wake it on watch events; the runner
judges the spec and reports one it cannot act on. One module per kind;
``runners`` holds the one registry of per-object runners (kept in kopf's
memo).

Operator-wide settings live here too: kopf's only change handler is the
InfraRollout finalizer, so it keeps no diff base at all (``nodiffbase``) and
only that handler's progress, while it retries, in ``shakedown.dev/``
annotations (the status has a strict schema, and kopf's own fields would be
pruned from it); the finalizer is ``shakedown.dev/finalizer``,
and kopf runs standalone: no kopf peering, since replicas elect a leader with a
Lease before kopf starts at all (``adapters.leadership``).
The routine wake-up handlers' success lines are DEBUG, not INFO (``quiet``), and
a namespace created while kopf starts is served at once (``listed_namespaces``).
"""

from __future__ import annotations

import logging
from typing import Any

import kopf

from shakedown import GROUP
from shakedown.adapters import credentials
from shakedown.api import instances
from shakedown.handlers import imagerefresh, infrarollout, listed_namespaces, quiet
from shakedown.handlers.nodiffbase import NoDiffBase

FINALIZER = f"{GROUP}/finalizer"
REPORTING_COMPONENT = "shakedown"
#: kopf workers per watch at once, and seconds one lingers after its last event.
WORKER_LIMIT = 64
WORKER_IDLE_TIMEOUT = 0.5

__all__ = ["FINALIZER", "configure", "imagerefresh", "infrarollout"]


@kopf.on.login()
def login(**_: Any) -> kopf.ConnectionInfo:
    """kopf connects with the credentials the rest of the operator uses (``adapters.credentials``),
    not through the ``kubernetes`` library it would otherwise import for the purpose."""
    try:
        return kopf.ConnectionInfo(**credentials.endpoint().kopf_login())
    except credentials.NoCluster as exc:
        raise kopf.LoginError(str(exc)) from None


@kopf.on.startup()
def configure(settings: kopf.OperatorSettings, memo: kopf.Memo, **_: Any) -> None:
    """Operator-wide kopf settings (an instance's finalizer is its own: ``instances``)."""
    settings.persistence.finalizer = instances.finalizer(FINALIZER, instances.of_memo(memo))
    settings.persistence.progress_storage = kopf.AnnotationsProgressStorage(prefix=GROUP)
    settings.persistence.diffbase_storage = NoDiffBase()
    settings.posting.level = logging.WARNING
    settings.posting.reporting_component = REPORTING_COMPONENT
    settings.posting.event_name_prefix = "shakedown-"
    settings.peering.standalone = True
    settings.watching.server_timeout = 300
    settings.watching.client_timeout = 330
    settings.networking.request_timeout = 60
    # At a start with thousands of objects kopf handles every one at once, each
    # worker with its own TLS connection for its PATCH (kopf's client has no
    # connection limit): hundreds of 256 KiB buffers whose freed heap stays in
    # the RSS. A bound on the workers per watch bounds the connections; a worker
    # leaves its slot soon after its events end, not kopf's 5 s later.
    settings.queueing.worker_limit = WORKER_LIMIT
    settings.queueing.idle_timeout = WORKER_IDLE_TIMEOUT
    quiet.install()
    # Before kopf's namespace observer starts (after every startup activity).
    listed_namespaces.install()
