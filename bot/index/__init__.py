"""Indexing: chunking, embeddings, sparse encoding, the Qdrant store and the indexer."""
