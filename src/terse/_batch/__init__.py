"""Batch jobs: many records through one client, journaled and resumable."""
