#!/usr/bin/env bash
# Run a command with its memory capped, as a container or a small VM would cap it, and report the
# peak the kernel charged to it (anonymous memory plus the page cache and mapped files it touched;
# under the cap the kernel reclaims file pages, and kills the command if anonymous memory alone
# would pass it).
#
#   benchmarks/memory_cap.sh 4G .venv/bin/python benchmarks/answer_latency.py --chunks 1000000 ...
#
# Needs root and a memory cgroup (v2 at /sys/fs/cgroup, or v1 at /sys/fs/cgroup/memory).
set -euo pipefail
[ $# -ge 2 ] || { echo "usage: $0 SIZE(e.g. 4G) COMMAND..." >&2; exit 2; }
size=$1; shift
bytes=$(numfmt --from=iec "$size")
name="helpdesk-cap-$$"
if [ -f /sys/fs/cgroup/cgroup.controllers ]; then
  dir=/sys/fs/cgroup/$name; mkdir "$dir"; echo "$bytes" > "$dir/memory.max"; peak_file=memory.peak
else
  dir=/sys/fs/cgroup/memory/$name; mkdir "$dir"; echo "$bytes" > "$dir/memory.limit_in_bytes"; peak_file=memory.max_usage_in_bytes
fi
cleanup() { rmdir "$dir" 2>/dev/null || true; }
trap cleanup EXIT
rc=0
bash -c 'echo $$ > "$1/cgroup.procs"; shift; exec "$@"' _ "$dir" "$@" || rc=$?
peak=$(cat "$dir/$peak_file" 2>/dev/null || echo "?")
echo "memory_cap: limit $size, peak charged $(numfmt --to=iec "$peak" 2>/dev/null || echo "$peak"), exit $rc" >&2
exit $rc
