"""Generated from protos/numproxy/v1: do not edit."""
