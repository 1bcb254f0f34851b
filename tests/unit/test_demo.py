"""The demo's scene registry: scenes register themselves, unknown ones are refused."""

from __future__ import annotations

import pytest

from shakedown import demo


def test_basics_is_registered_first() -> None:
    scenes = demo.load_scenes()
    assert next(iter(scenes)) == "basics"
    assert all(s.title for s in scenes.values())


def test_a_new_scene_registers_with_the_decorator() -> None:
    try:

        @demo.scene("probe", "A scene registered by a test")
        def probe(ctx: demo.Context) -> None:  # pragma: no cover - never played
            raise AssertionError

        assert demo.SCENES["probe"].play is probe
    finally:
        demo.SCENES.pop("probe", None)


def test_list_and_unknown_scene(capsys: pytest.CaptureFixture[str]) -> None:
    assert demo.main(["--list"]) == 0
    assert "basics" in capsys.readouterr().out
    assert demo.main(["--scene", "nope"]) == 2
    assert "unknown scene(s) nope" in capsys.readouterr().out
