"""What each command is for, in one table, and the one way a command's parser is made.

The help line ``shakedown --help`` lists and the description a command's own
``--help`` opens with are what a user reads first; kept side by side they can be
read, and kept consistent, in one place. A command module registers its parser
with ``add_command(subparsers, "name")`` and adds only its arguments.
"""

from __future__ import annotations

import argparse
from dataclasses import dataclass


@dataclass(frozen=True)
class CommandText:
    help: str
    """The one line in the parent's command list."""
    description: str
    """The paragraph the command's own --help opens with."""
    epilog: str | None = None
    """Exit codes, for commands whose exit code is the answer."""


#: Keyed by the command's words after ``shakedown``.
COMMANDS: dict[str, CommandText] = {
    "run": CommandText(
        help="run the operator against the cluster KUBECONFIG names",
        description="Run the shakedown operator (kopf) against the current cluster.",
    ),
    "crds": CommandText(
        help="print the CustomResourceDefinitions (or write/check them in a directory)",
        description="Print the CRDs generated from the pydantic models.",
    ),
    "cluster": CommandText(
        help="start, stop or inspect the local Kubernetes cluster",
        description="A real single-node cluster from pinned Go modules; state in .shakedown/.",
    ),
    "cluster restart": CommandText(
        help="stop one component and start it again (to rehearse an outage)",
        description="Stop one component of the running cluster by its PID and start it again "
        "with the same arguments and data; the rest keeps running.",
    ),
    "get": CommandText(
        help="list ContainerImageRefreshes (cir) or InfraRollouts (iro), or show one",
        description="Show shakedown objects as a table (like kubectl get); with a NAME, also the "
        "detail view of that object (runs for cir; revision, steps, checks, targets "
        "and shadow for iro).",
    ),
    "wait": CommandText(
        help="wait for a cir or iro to reach a condition or phase; the exit code says how it ended",
        description="Wait for a ContainerImageRefresh or InfraRollout (watch-based).",
        epilog="exit codes: 0 reached; 1 ended otherwise (iro Failed/RolledBack/Aborted, "
        "cir last run Failed/Cancelled, Stalled, or another final state); 2 bad input, "
        "not found, cluster unreachable, or timeout",
    ),
    "prove": CommandText(
        help="prove a pull request's cir/iro manifests with prove-only copies; exit code = verdict",
        description="Create prove-only copies (promote: false, named for --id) of the "
        "ContainerImageRefresh and InfraRollout manifests in FILEs, follow them to their "
        "verdict, report, and delete them again (also on Ctrl-C or SIGTERM).",
        epilog="exit codes: 0 all proven; 1 a change failed; 2 invalid input (nothing created), "
        "cluster or registry unreachable, or timeout; 130/143 interrupted",
    ),
    "logs": CommandText(
        help="build and test logs of a run (cir), or a Job check's log (iro --check)",
        description="Print the logs of the pods the operator created: the build and test pods of a "
        "ContainerImageRefresh run, or the pod of an InfraRollout's smoke Job check. When "
        "the pods are gone, the log tail kept in status is printed instead.",
    ),
    "selftest": CommandText(
        help="prove that this build reconciles: run it in-process on a probe object",
        description=(
            "Start the operator in-process with a fresh instance id, watching one namespace; "
            "create a probe ContainerImageRefresh (suspended) labelled with that id; wait "
            "until the operator has reconciled it; delete it. Exit 0 when it was reconciled, "
            "1 when not."
        ),
    ),
    "version": CommandText(
        help="print the client version, and the operator's when it runs in the cluster",
        description="Print the client version and, unless --client, the operator's version "
        "from its Deployment (app.kubernetes.io/version).",
    ),
    "completion": CommandText(
        help="print a shell completion script (bash or zsh)",
        description="Print a completion script: `source <(shakedown completion bash)`, or in "
        "zsh `source <(shakedown completion zsh)`.",
    ),
    "dashboard": CommandText(
        help="a local web page showing and steering cir and iro objects",
        description="Serve a web dashboard of ContainerImageRefreshes and InfraRollouts. It uses "
        "your kubeconfig: what you may not do is refused by the API server, as with the CLI.",
    ),
}


def add_command(
    subparsers: argparse._SubParsersAction[argparse.ArgumentParser], command: str
) -> argparse.ArgumentParser:
    """The parser of ``command`` (a key of COMMANDS), with its texts, under ``subparsers``."""
    text = COMMANDS[command]
    return subparsers.add_parser(
        command.split()[-1], help=text.help, description=text.description, epilog=text.epilog
    )
