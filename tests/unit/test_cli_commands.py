"""The command table: every entry is a command a user can reach, with its texts."""

from __future__ import annotations

import argparse

from shakedown.cli.commands import COMMANDS
from shakedown.cli.main import build_parser


def _subcommand(parser: argparse.ArgumentParser, words: list[str]) -> argparse.ArgumentParser:
    for word in words:
        (sub,) = (a for a in parser._actions if isinstance(a, argparse._SubParsersAction))
        parser = sub.choices[word]
    return parser


def test_every_command_in_the_table_opens_its_help_with_its_description() -> None:
    root = build_parser()
    for command, text in COMMANDS.items():
        parser = _subcommand(root, command.split())
        assert parser.description == text.description, command
        assert parser.epilog == text.epilog, command
