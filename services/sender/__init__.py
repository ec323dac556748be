"""numproxy sender service."""
