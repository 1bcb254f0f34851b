"""The demo's stage: what a scene gets (``Context``) and how scenes register.

Scenes are pluggable: a module ``shakedown.demo.<name>`` listed in
``SCENE_MODULES`` calls ``scene(...)`` at import time to register one or more
``Scene`` values; a missing module is skipped, so adding a scene touches
nothing else.
"""

from __future__ import annotations

import importlib
import os
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from shakedown import GROUP, VERSION
from shakedown.adapters import kubeclient

REPO = Path(__file__).resolve().parents[3]
STATE = REPO / ".shakedown" / "demo"
NAMESPACE = "shakedown-demo"

#: Modules under ``shakedown.demo`` that register scenes, in play order.
SCENE_MODULES: tuple[str, ...] = ("basics", "imagerefresh", "infrarollout")

Say = Callable[[str], None]


def say(message: str) -> None:
    print(message, flush=True)


@dataclass
class Timeline:
    """What happened, with times, for the summary at the end."""

    started: float = field(default_factory=time.monotonic)
    entries: list[tuple[float, str]] = field(default_factory=list)

    def note(self, text: str) -> None:
        self.entries.append((time.monotonic() - self.started, text))
        say(f"  [{self.entries[-1][0]:6.1f}s] {text}")


@dataclass
class Context:
    """What a scene gets: the cluster, its namespace, and where to report."""

    api: Any
    """A ``kubeclient.ApiClient`` for the demo cluster."""
    namespace: str
    kubeconfig: Path
    registry: str | None
    """host:port of a registry the cluster pulls from (the local cluster's), if known."""
    operator_log: Path
    timeline: Timeline

    def custom(self) -> Any:
        return kubeclient.custom(self.api)

    def wait_for(
        self,
        probe: Callable[[], Any],
        *,
        timeout: float = 60,
        interval: float = 0.5,
        what: str = "condition",
    ) -> Any:
        """Poll ``probe`` until it returns something truthy; raise TimeoutError otherwise."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            value = probe()
            if value:
                return value
            time.sleep(interval)
        raise TimeoutError(f"{what} not reached within {timeout:.0f}s")

    def conditions(self, plural: str, name: str) -> dict[str, dict[str, Any]]:
        obj = self.custom().get_namespaced_custom_object(
            GROUP, VERSION, self.namespace, plural, name
        )
        return {c["type"]: c for c in (obj.get("status") or {}).get("conditions", [])}

    def shakedown(self, *args: str, timeout: float = 60) -> None:
        """Run ``shakedown ARGS`` as a user would and print the command and its output.

        The demo goes through the CLI's public entry point, in a process of its
        own, instead of importing its modules: the layer contract keeps ``demo``
        and ``cli`` independent, and the reader sees the command's real output.
        """
        say(f"\n$ shakedown {' '.join(args)}")
        proc = subprocess.run(
            [sys.executable, "-m", "shakedown", *args],
            capture_output=True,
            text=True,
            env={**os.environ, "KUBECONFIG": str(self.kubeconfig)},
            timeout=timeout,
            check=False,
        )
        for line in (proc.stdout + proc.stderr).splitlines():
            say(line)


@dataclass(frozen=True)
class Scene:
    name: str
    title: str
    play: Callable[[Context], None]


SCENES: dict[str, Scene] = {}


def scene(
    name: str, title: str
) -> Callable[[Callable[[Context], None]], Callable[[Context], None]]:
    """Decorator registering a scene function under ``name``."""

    def register(play: Callable[[Context], None]) -> Callable[[Context], None]:
        SCENES[name] = Scene(name=name, title=title, play=play)
        return play

    return register


def load_scenes() -> dict[str, Scene]:
    """Every registered scene, in ``SCENE_MODULES`` order (registration order within one)."""
    for module in SCENE_MODULES:
        try:
            importlib.import_module(f"shakedown.demo.{module}")
        except ModuleNotFoundError as exc:
            if exc.name != f"shakedown.demo.{module}":
                raise

    def play_order(item: Scene) -> int:
        # Modules may have been imported in any order (a test imports one directly).
        module = item.play.__module__.rsplit(".", 1)[-1]
        return SCENE_MODULES.index(module) if module in SCENE_MODULES else len(SCENE_MODULES)

    return {item.name: item for item in sorted(SCENES.values(), key=play_order)}
