"""The router's gRPC face: servicers (proto <-> domain) and the error mapping they share."""
