"""Metrics and logging, built on collaborators passed in (a registry, a settings object)."""
