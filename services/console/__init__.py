"""The operator console: a web app on numproxy's public gRPC API (pools, sessions, events)."""
