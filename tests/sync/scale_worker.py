"""One scheduler-like worker process for the scale-out test: syncs every source, in a shuffled order.

    python -m tests.sync.scale_worker OUT.jsonl ROUNDS SEED

Settings come from the environment (shared state database, sources file, embeddings server).
Each attempt appends one JSON line to OUT: ``{"pid", "source", "start", "end", "ran"}``.
"""

from __future__ import annotations

import json
import os
import random
import sys
import time

from bot.runtime import Runtime
from bot.settings import Settings


def main() -> None:
    out, rounds, seed = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
    rng = random.Random(seed)
    with Runtime(Settings()) as rt, open(out, "a", buffering=1) as log:
        service = rt.syncs
        names = list(service.sources)
        print("ready", flush=True)
        for _ in range(rounds):
            rng.shuffle(names)
            for name in names:
                start = time.time()
                report = service.run(name, full=True, prune=False)
                log.write(json.dumps({"pid": os.getpid(), "source": name, "start": start, "end": time.time(),
                                      "ran": report is not None}) + "\n")


if __name__ == "__main__":
    main()
