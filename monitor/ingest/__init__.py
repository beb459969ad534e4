"""Ingestion: sources, connectors and the normalisation of what they bring into :class:`Document` records."""
