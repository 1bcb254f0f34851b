"""The annotations people steer objects with: part of the public API, like the fields.

People never edit status; they set one of these (the CLI and the dashboard do it
for them) and the operator acts once per new value. One definition here, so the
operator that reads them and the front-ends that write them cannot drift apart.
"""

from __future__ import annotations

from shakedown import GROUP

#: ContainerImageRefresh: any new value starts one run.
RUN_REQUESTED = f"{GROUP}/run-requested"
#: ContainerImageRefresh: a digest from status.history the tag moves back to.
ROLLBACK_TO = f"{GROUP}/rollback-to"
#: InfraRollout: skip the current canary pause.
PROMOTE = f"{GROUP}/promote"
#: InfraRollout: roll production back now.
ABORT = f"{GROUP}/abort"
#: InfraRollout: run a failed, rolled back or aborted change again as a new revision.
RETRY = f"{GROUP}/retry"
#: InfraRollout: restore the snapshot of an earlier revision.
UNDO = f"{GROUP}/undo"
#: InfraRollout: "true" holds the shift at its current step.
PAUSED = f"{GROUP}/paused"
