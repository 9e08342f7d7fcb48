"""Report JSON schemas (data files)."""
