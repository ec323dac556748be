"""numproxy router service."""
