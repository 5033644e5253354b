"""Container self-checks, with nothing but the standard library and the installed package.

``python -m bot.web.selfcheck model``
    Load the embedding model from the installed PyPI packages, embed three sentences and chunk a
    document, with the network off (the image build runs it under ``RUN --network=none``): proves
    the model and the chunker's data are baked into the image and load offline. Prints one JSON line; exits 1 on failure.

``python -m bot.web.selfcheck http [URL]``
    GET ``URL`` (default ``http://127.0.0.1:$HELPDESK_HTTP_PORT/healthz``) and exit 0 on HTTP 200:
    the image's HEALTHCHECK (the slim image has no curl).
"""

from __future__ import annotations

import json
import os
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Sequence


def check_model() -> dict[str, object]:
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    from bot.index.embeddings import Embedder

    started = time.perf_counter()
    embedder = Embedder(threads=1)
    vectors = embedder.embed(["How do I reset my password?", "I forgot my password, how can I change it?",
                              "Which carriers do you support for international shipping?"])
    similar, unrelated = float(vectors[0] @ vectors[1]), float(vectors[0] @ vectors[2])
    if vectors.shape != (3, embedder.dim) or not similar > unrelated:
        raise RuntimeError(f"the embedding model gave unexpected vectors (similar {similar:.3f}, unrelated {unrelated:.3f})")
    # The chunker (llama-index node parsers with the model's own tokenizer) must not download either.
    from bot.index.chunking import Chunker
    from bot.models import Document, DocumentKind, Visibility

    doc = Document(id="selfcheck:1", source="selfcheck", kind=DocumentKind.ARTICLE, audience=Visibility.PUBLIC,
                   title="Reset your password", text="# Reset\n\nClick **Forgot password?** on the sign-in page.\n\n"
                   "## Expiry\n\nThe link is valid for 60 minutes. " * 20)
    chunks = Chunker(chunk_tokens=200, overlap_tokens=40).chunk(doc)
    if not chunks:
        raise RuntimeError("the chunker produced no chunks")
    return {"model": embedder.name, "dim": int(embedder.dim), "similar": round(similar, 3),
            "unrelated": round(unrelated, 3), "chunks": len(chunks),
            "seconds": round(time.perf_counter() - started, 2)}


def check_http(url: str, timeout_s: float = 3.0) -> int:
    with urllib.request.urlopen(url, timeout=timeout_s) as resp:  # noqa: S310 - a fixed local URL
        return int(resp.status)


def main(argv: Sequence[str] | None = None) -> int:
    args = list(sys.argv[1:] if argv is None else argv)
    what = args[0] if args else "model"
    try:
        if what == "model":
            print(json.dumps({"ok": True, **check_model()}))
            return 0
        if what == "http":
            url = args[1] if len(args) > 1 else f"http://127.0.0.1:{os.environ.get('HELPDESK_HTTP_PORT', '3000')}/healthz"
            status = check_http(url)
            return 0 if status == 200 else 1
    except (OSError, urllib.error.URLError, RuntimeError, ImportError) as exc:
        print(f"error: selfcheck {what} failed: {type(exc).__name__}: {exc}", file=sys.stderr)
        return 1
    except Exception as exc:  # noqa: BLE001 - e.g. bot.errors.ModelError: one line, never a traceback
        print(f"error: selfcheck {what} failed: {type(exc).__name__}: {exc}", file=sys.stderr)
        return 1
    print("usage: python -m bot.web.selfcheck [model | http [URL]]", file=sys.stderr)
    return 2


if __name__ == "__main__":
    raise SystemExit(main())
