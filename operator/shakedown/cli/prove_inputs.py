"""What ``shakedown prove`` reads: manifests from files and directories, local build contexts.

Reading is I/O; what is made of it (names, rewritten copies, the ConfigMap of
a context) comes from the pure ``shakedown.presentation.prove_plan``. Every
problem is a ``UserError`` naming the file, flag or field, raised before
anything talks to the cluster.
"""

from __future__ import annotations

import sys
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from shakedown.cli.main import UserError
from shakedown.presentation import prove_plan as plan

_SUFFIXES = (".yaml", ".yml", ".json")


@dataclass(frozen=True)
class Planned:
    """One input and what proving it creates."""

    manifest: plan.Manifest
    copy: dict[str, Any]
    context: dict[str, Any] | None = None


def read_inputs(paths: Sequence[str]) -> list[plan.Manifest]:
    found: list[plan.Manifest] = []
    for given in paths:
        if given == "-":
            found += plan.parse_documents(sys.stdin.read(), "<stdin>")[0]
            continue
        path = Path(given)
        if path.is_dir():
            files = sorted(f for f in path.rglob("*") if f.suffix in _SUFFIXES and f.is_file())
        elif path.is_file():
            files = [path]
        else:
            raise UserError(f"-f {given}: no such file or directory")
        for file in files:
            try:
                text = file.read_text(encoding="utf-8")
            except (OSError, UnicodeDecodeError) as exc:
                raise UserError(f"-f {file}: cannot read: {exc}") from None
            found += plan.parse_documents(text, str(file))[0]
    if not found:
        raise UserError(f"no ContainerImageRefresh or InfraRollout in {', '.join(paths)}")
    return found


def read_context(directory: str) -> dict[str, bytes]:
    """The files of a flat build context, refusing it before reading past the size limit."""
    path = Path(directory)
    if not path.is_dir():
        raise UserError(f"--context {directory}: not a directory")
    files: dict[str, bytes] = {}
    size = 0
    for entry in sorted(path.iterdir()):
        if entry.is_dir():
            raise UserError(
                f"--context {directory}: {entry.name}/ is a directory; a local context must be "
                "flat (its files travel as the keys of one ConfigMap)"
            )
        size += entry.stat().st_size
        if size > plan.MAX_CONTEXT_BYTES:
            raise UserError(
                f"--context {directory}: more than {plan.MAX_CONTEXT_BYTES} bytes, the limit "
                "for a local build context (it travels in one ConfigMap, which Kubernetes "
                "limits to 1 MiB); build from Git with --revision instead"
            )
        files[entry.name] = entry.read_bytes()
    return files


def make_plan(
    manifests: Sequence[plan.Manifest],
    namespace_of: dict[str, str],
    prove_id: str,
    revision: str | None,
    contexts: Sequence[str],
) -> list[Planned]:
    refreshes = [m for m in manifests if m.kind == "ContainerImageRefresh"]
    by_name: dict[str, str] = {}
    for given in contexts:
        name, eq, directory = given.rpartition("=")
        if not eq:
            if len(refreshes) != 1:
                raise UserError(
                    f"--context {given}: {len(refreshes)} ContainerImageRefreshes in the input; "
                    "say which with --context NAME=DIR"
                )
            name = refreshes[0].name
        if name not in {m.name for m in refreshes}:
            raise UserError(f"--context {given}: no ContainerImageRefresh {name!r} in the input")
        by_name[name] = directory
    if revision is not None and not any(
        ((m.obj.get("spec") or {}).get("source") or {}).get("git") for m in refreshes
    ):
        raise UserError("--revision: no ContainerImageRefresh with source.git in the input")
    out = []
    for m in manifests:
        ns = namespace_of[m.source]
        context = None
        if m.name in by_name and m.kind == "ContainerImageRefresh":
            files = read_context(by_name[m.name])
            containerfile = plan.containerfile_of(m)
            if containerfile not in files:
                raise UserError(
                    f"--context {by_name[m.name]}: no {containerfile} in it "
                    f"(spec.source.containerfile of {m.ref})"
                )
            context = plan.pack_context(
                files,
                name=plan.context_name(m.name, prove_id),
                namespace=ns,
                prove_id=prove_id,
                where=by_name[m.name],
            )
        copy = plan.prove_copy(
            m,
            prove_id=prove_id,
            namespace=ns,
            revision=revision,
            context_config_map=context["metadata"]["name"] if context else None,
        )
        out.append(Planned(m, copy, context))
    return out
