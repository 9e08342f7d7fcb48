"""Report templates (data files)."""
