"""The ``numproxy`` command line."""
