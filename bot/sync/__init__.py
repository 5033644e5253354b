"""Sync: run connectors into the index, remember checkpoints and run history."""
