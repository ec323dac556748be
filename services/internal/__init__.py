"""numproxy's internal gRPC API (numproxy.internal.v1): only numproxy's own services call it.

The generated code lives in ``v1/`` (from protos/numproxy/internal/v1); the public API is
``numproxy.v1``.
"""
