"""numproxy's benchmark suite: ``make bench`` / ``python -m bench`` (see bench/run.py)."""
