"""Shared fixtures: a migrated database per backend and an in-process app with a real worker."""
