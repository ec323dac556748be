"""numproxy: SMS number masking over Vonage.

Installed as the ``numproxy`` package; the source lives in the repository's ``services/``.
"""

if __name__ != "numproxy":
    # From a checkout the folder is importable under its own name too; that would load a second
    # copy of every module (two classes for each error, two settings objects...).
    raise ImportError(f"import numproxy, not {__name__} (the package's only name is numproxy)")

__version__ = "0.1.0"
