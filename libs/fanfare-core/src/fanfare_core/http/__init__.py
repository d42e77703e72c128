"""What both REST services share: the error format, request ids, health probes, encoding."""
