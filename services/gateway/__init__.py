"""numproxy gateway service."""
