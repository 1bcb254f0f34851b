"""The one error type the local cluster raises for things a user can fix.

Every failure of ``shakedown cluster`` (a port in use, a package apt cannot
install, a component that exits early) is reported as one line that says what
to do; the CLI turns ``ClusterError`` into that line and exit code 2.
"""

from __future__ import annotations


class ClusterError(Exception):
    """A local-cluster problem with a one-line explanation and a next step."""
