"""Offline evaluation on BEIR-layout sets: retrieval (:mod:`.retrieval`) and answer text (:mod:`.answers`)."""
