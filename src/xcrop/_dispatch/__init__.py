"""Which implementation serves a validated call: the registry of fast paths, then the
generic reference implementation (``run``); the built-in fast paths are registered on
the first call (``builtin``)."""
