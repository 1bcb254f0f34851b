"""Command-line interface: ``shakedown`` (also usable as ``kubectl shakedown``)."""
