"""Rebuilding a gRPC method handler around its behaviour: the one way numproxy's server
interceptors (authentication, error mapping, authorization) act inside a call."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import grpc

# The four kinds of method handler, by the attribute holding the behaviour: request then
# response, each unary or a stream.
_KINDS = (
    ("unary_unary", grpc.unary_unary_rpc_method_handler),
    ("unary_stream", grpc.unary_stream_rpc_method_handler),
    ("stream_unary", grpc.stream_unary_rpc_method_handler),
    ("stream_stream", grpc.stream_stream_rpc_method_handler),
)

# (kind, behaviour) -> the behaviour to serve instead.
Wrap = Callable[[str, Any], Any]


def rebuild(
    handler: grpc.RpcMethodHandler[Any, Any], wrap: Wrap
) -> grpc.RpcMethodHandler[Any, Any]:
    """``handler`` serving ``wrap(kind, behaviour)`` in place of its behaviour, with the same
    (de)serializers; ``kind`` is "unary_unary", "unary_stream", "stream_unary" or
    "stream_stream"."""
    for kind, make in _KINDS:
        behaviour = getattr(handler, kind)
        if behaviour is not None:
            rebuilt: grpc.RpcMethodHandler[Any, Any] = make(
                wrap(kind, behaviour),
                request_deserializer=handler.request_deserializer,
                response_serializer=handler.response_serializer,
            )
            return rebuilt
    return handler
