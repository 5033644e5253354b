"""The growth curve of the embedded store: answer_latency runs at several sizes, and 10M extrapolated.

Reads the JSON lines ``benchmarks/answer_latency.py`` printed (files, or stdin), keeps one run per
size (the last) for the chosen ``--tuning``, and prints a Markdown table of what a growing store
costs: fill + build time (wall and CPU), peak memory while building (total, and anonymous memory
the process cannot give back), disk, reopen time, answer p50 / p95 quiet and while a sync writes.

The last row extrapolates to ``--to`` points from the two largest measured sizes, as a power law
through them (``value(n) = value(n1) * (n / n1) ** b`` with ``b`` fitted on ``n0 -> n1``): linear
growth stays linear, ``n log n`` shows as an exponent a little above 1, and latencies that grow
with the logarithm of the size keep a small exponent. It is an estimate from measured growth, not
a measurement; the table says so.

Usage::

    python benchmarks/scale_curve.py results.jsonl [--tuning tuned] [--to 10000000]

Prints Markdown, then one JSON line with the same rows.
"""

from __future__ import annotations

import argparse
import json
import math
import sys
from pathlib import Path
from typing import Any

COLUMNS: list[tuple[str, str]] = [
    ("fill_build_s", "fill + build s"),
    ("fill_build_cpu_s", "CPU s"),
    ("peak_rss_mb", "peak RSS MB (build)"),
    ("peak_anon_mb", "peak anon MB (build)"),
    ("disk_mb", "disk MB"),
    ("reopen_s", "reopen s"),
    ("p50_ms", "p50 ms"),
    ("p95_ms", "p95 ms"),
    ("sync_p50_ms", "p50 ms (sync writing)"),
    ("sync_p95_ms", "p95 ms (sync writing)"),
]


def row(result: dict[str, Any]) -> dict[str, float | None]:
    peak = result.get("fill_peak") or {}
    during = result.get("during_sync") or {}
    return {
        "chunks": result["chunks_requested"],
        "fill_build_s": result.get("fill_build_s"),
        "fill_build_cpu_s": result.get("fill_build_cpu_s"),
        "peak_rss_mb": peak.get("vm_hwm_mb"),
        "peak_anon_mb": peak.get("anon_mb"),
        "disk_mb": result.get("disk_mb"),
        "reopen_s": result.get("reopen_s"),
        "p50_ms": result.get("p50_ms"),
        "p95_ms": result.get("p95_ms"),
        "sync_p50_ms": during.get("p50_ms"),
        "sync_p95_ms": during.get("p95_ms"),
    }


def extrapolate(small: dict[str, Any], large: dict[str, Any], to: int) -> dict[str, float | None]:
    out: dict[str, float | None] = {"chunks": to}
    ratio = large["chunks"] / small["chunks"]
    for key, _ in COLUMNS:
        a, b = small.get(key), large.get(key)
        if not a or not b or a <= 0 or b <= 0:
            out[key] = None
            continue
        exponent = math.log(b / a) / math.log(ratio)
        out[key] = b * (to / large["chunks"]) ** exponent
    return out


def fmt(value: float | None) -> str:
    if value is None:
        return "-"
    if value >= 100:
        return f"{value:,.0f}"
    return f"{value:.1f}" if value >= 10 else f"{value:.2f}"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("files", nargs="*", type=Path, help="JSON lines of answer_latency.py (default: stdin)")
    parser.add_argument("--tuning", default="tuned")
    parser.add_argument("--to", type=int, default=10_000_000)
    args = parser.parse_args(argv)
    lines = [line for f in args.files for line in f.read_text().splitlines()] if args.files else sys.stdin.read().splitlines()
    runs: dict[int, dict[str, Any]] = {}
    for line in lines:
        line = line.strip()
        if not line.startswith("{"):
            continue
        result = json.loads(line)
        if result.get("benchmark") == "answer_latency" and result.get("tuning") == args.tuning and not result.get("reused"):
            runs[result["chunks_requested"]] = result
    rows = [row(runs[n]) for n in sorted(runs)]
    if len(rows) >= 2:
        estimate = extrapolate(rows[-2], rows[-1], args.to)
    else:
        estimate = None
    header = "| chunks | " + " | ".join(title for _, title in COLUMNS) + " |"
    print(header)
    print("|" + "---|" * (len(COLUMNS) + 1))
    for r in rows:
        print(f"| {r['chunks']:,} | " + " | ".join(fmt(r[k]) for k, _ in COLUMNS) + " |")
    if estimate is not None:
        print(f"| {args.to:,} (extrapolated) | " + " | ".join(fmt(estimate[k]) for k, _ in COLUMNS) + " |")
    print(json.dumps({"tuning": args.tuning, "rows": rows, "extrapolated": estimate}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
