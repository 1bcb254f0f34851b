"""The argocd-cm snippet that installs shakedown's Argo CD health checks and actions.

The Lua scripts live in ``integrations/argocd/<group>/<Kind>/`` in the layout
Argo CD uses for its built-in customizations (``health.lua``,
``actions/discovery.lua``, ``actions/<name>/action.lua``), where they are tested.
Users install them through argocd-cm, so the ConfigMap is rendered from those
files rather than kept by hand; a test fails when the rendered file is stale::

    python -m shakedown.presentation.argocd_cm integrations/argocd \
        > integrations/argocd/argocd-cm.yaml

The per-kind keys (``resource.customizations.health.<group>_<Kind>`` and
``resource.customizations.actions.<group>_<Kind>``) are used rather than the
single deprecated ``resource.customizations`` block, so the snippet merges
into an existing argocd-cm without replacing other customizations.
"""

from __future__ import annotations

import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from shakedown.presentation.errors import UserError

HEADER = (
    "# Generated from integrations/argocd/ by\n"
    "#   python -m shakedown.presentation.argocd_cm integrations/argocd\n"
    "# Do not edit: change the .lua files and regenerate (a test checks this file).\n"
    "# Merge into Argo CD's argocd-cm, e.g.\n"
    "#   kubectl -n argocd patch configmap argocd-cm --patch-file argocd-cm.yaml\n"
)


@dataclass(frozen=True)
class Customization:
    """The scripts of one kind: its health check, action discovery and actions by name."""

    group: str
    kind: str
    health: str | None
    discovery: str | None
    actions: dict[str, str]

    @property
    def key(self) -> str:
        return f"{self.group}_{self.kind}"


def read(root: Path) -> list[Customization]:
    """Every ``<group>/<Kind>`` directory under ``root`` that holds a script."""
    if not root.is_dir():
        raise UserError(f"{root}: not a directory of Argo CD resource customizations")
    found = []
    for kind_dir in sorted(p for p in root.glob("*/*") if p.is_dir()):
        actions_dir = kind_dir / "actions"
        actions = {
            p.parent.name: p.read_text()
            for p in sorted(actions_dir.glob("*/action.lua"))
            if p.parent.is_dir()
        }
        health = _text(kind_dir / "health.lua")
        discovery = _text(actions_dir / "discovery.lua")
        if actions and discovery is None:
            raise UserError(f"{actions_dir}: actions without discovery.lua")
        if health is None and not actions:
            continue
        found.append(
            Customization(
                group=kind_dir.parent.name,
                kind=kind_dir.name,
                health=health,
                discovery=discovery,
                actions=actions,
            )
        )
    if not found:
        raise UserError(f"{root}: no <group>/<Kind>/health.lua or actions found")
    return found


def render(customizations: list[Customization]) -> str:
    """The argocd-cm ConfigMap (data only) holding ``customizations``."""
    data: dict[str, str] = {}
    for c in customizations:
        if c.health is not None:
            data[f"resource.customizations.health.{c.key}"] = c.health
        if c.actions:
            actions: dict[str, Any] = {
                "discovery.lua": c.discovery,
                "definitions": [
                    {"name": name, "action.lua": script} for name, script in c.actions.items()
                ],
            }
            data[f"resource.customizations.actions.{c.key}"] = _dump(actions)
    config_map = {
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "metadata": {
            "name": "argocd-cm",
            "namespace": "argocd",
            "labels": {"app.kubernetes.io/part-of": "argocd"},
        },
        "data": data,
    }
    return HEADER + _dump(config_map)


def _text(path: Path) -> str | None:
    return path.read_text() if path.is_file() else None


class _Literal(yaml.SafeDumper):
    """Multi-line strings as ``|`` blocks, so the Lua reads as it does in its file."""


def _represent_str(dumper: yaml.SafeDumper, value: str) -> yaml.Node:
    style = "|" if "\n" in value else None
    return dumper.represent_scalar("tag:yaml.org,2002:str", value, style=style)


_Literal.add_representer(str, _represent_str)


def _dump(value: Any) -> str:
    return yaml.dump(value, Dumper=_Literal, sort_keys=False, width=1000, allow_unicode=True)


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    if len(args) != 1:
        print("usage: python -m shakedown.presentation.argocd_cm DIR", file=sys.stderr)
        return 2
    try:
        sys.stdout.write(render(read(Path(args[0]))))
    except UserError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
