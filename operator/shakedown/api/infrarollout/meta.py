"""The names of the InfraRollout kind and the bounds its lists share.

Upper bounds on list sizes keep the API server's CEL cost estimates within budget.
"""

from __future__ import annotations

from shakedown.api.names import KindNames

NAMES = KindNames(kind="InfraRollout", plural="infrarollouts", short_name="iro")

MAX_TARGETS = 32
MAX_STEPS = 32
MAX_CHECKS = 32
MAX_READY_TIMEOUT = "1h"
