"""What the CLI and the dashboard both show and do for a person: read views of objects,
the annotations that steer them, and the one error type a person is shown.

It sits below both front-ends, so neither has to import the other.
"""
