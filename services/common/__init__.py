"""Pieces every numproxy service shares: settings, logging, numbers, errors, gRPC plumbing."""
