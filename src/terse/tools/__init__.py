"""Tool calls (placeholder docstring, replaced below)."""
