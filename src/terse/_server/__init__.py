"""What terse knows about each server: dialects, model families, probes."""
