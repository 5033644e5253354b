"""Connectors pull documents from a source and report deletions (see ``connectors.base``)."""
