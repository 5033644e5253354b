"""Answering: retrieve, gate on confidence, compose with citations, check the citations."""
