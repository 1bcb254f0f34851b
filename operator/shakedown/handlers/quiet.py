"""Keep routine wake-ups out of the operator's INFO log.

kopf logs ``Handler '<id>' succeeded.`` at INFO after every handler run. The
``wake-*`` handlers run on every change of a pod, workload, Job or Lease in the
watched namespaces, so with nothing in flight the INFO log still gains a line
every few seconds (kube-controller-manager renews Leases), and the lines that
say what the operator decided and did for an object scroll away among them.

kopf has no per-handler log level, so a filter on kopf's object logger turns
exactly those success lines into DEBUG: ``shakedown run --verbose`` still shows
them, the default level does not. Failures of the same handlers (logged at
WARNING and ERROR by kopf) and every other handler's lines are left as they are.
"""

from __future__ import annotations

import logging
import re

#: The logger kopf writes per-object handler outcomes to.
KOPF_OBJECTS = "kopf.objects"
#: Handlers whose success is routine: they only wake a runner up.
ROUTINE_SUCCESS = re.compile(r"^Handler '(wake-[^']*)' succeeded\.$")


class RoutineWakeUps(logging.Filter):
    """Demotes a wake handler's success line to DEBUG; drops it unless DEBUG is on."""

    def filter(self, record: logging.LogRecord) -> bool:
        if record.levelno != logging.INFO or not ROUTINE_SUCCESS.match(record.getMessage()):
            return True
        record.levelno, record.levelname = logging.DEBUG, logging.getLevelName(logging.DEBUG)
        return logging.getLogger(record.name).isEnabledFor(logging.DEBUG)


def install(logger_name: str = KOPF_OBJECTS) -> None:
    """Add the filter to kopf's object logger (once, however often it is called)."""
    logger = logging.getLogger(logger_name)
    if not any(isinstance(f, RoutineWakeUps) for f in logger.filters):
        logger.addFilter(RoutineWakeUps())
