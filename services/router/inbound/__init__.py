"""The inbound pipeline: every inbound SMS runs the same stages (a lone one as a batch)."""
