"""Generated from protos/numproxy/internal/v1: do not edit."""
