"""The error a person can fix, shown as one line by every front-end."""

from __future__ import annotations


class UserError(Exception):
    """A problem the user can fix; shown as a single line with exit code 2."""
