"""numproxy simulator service."""
