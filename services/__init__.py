"""numproxy: SMS number masking over Vonage.

Installed as the ``numproxy`` package; the source lives in the repository's ``services/``.
"""

__version__ = "0.1.0"
