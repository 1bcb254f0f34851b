"""shakedown: infrastructure changes that prove themselves before production sees them.

The package is laid out by depth: ``api`` holds the pydantic models that are the
single source of truth for the CRDs, ``planning`` the pure decisions, ``adapters``
the thin I/O to the API server, the registry and the builder, and ``handlers`` the
kopf wiring. ``localcluster`` brings up the real cluster the tests run against.
"""

__version__ = "0.1.0"
GROUP = "shakedown.dev"
VERSION = "v1alpha1"
