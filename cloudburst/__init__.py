"""CloudBurst's user side: the ``cloudburst`` command, the demo and the embedded local stack.

Nothing here runs in Lambda; the Lambda code lives in ``app.py`` and ``chalicelib/``.
"""

__version__ = "0.1.0"
