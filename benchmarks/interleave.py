#!/usr/bin/env python3
"""Runs rtcrm-embed-bench variants interleaved and summarises their latency.

This machine's noise moves the p99 3-10x between minutes, so variants are compared only
when their runs are interleaved: run 1 of each variant, then run 2 of each, and so on.

    benchmarks/interleave.py BENCH RUNS "COMMON ARGS" NAME="ARGS" [NAME="ARGS" ...]
    benchmarks/interleave.py build/benchmarks/rtcrm-embed-bench 6 "--seconds 5" \\
        inherit="--policy inherit" batch="--policy batch" fifo="--policy fifo"

Prints each run's JSON summary as it ends, then per variant: the median of the per-second
p99s (the typical second), how many seconds had a p99 of at most 1 ms, the median of the
runs' own p99s, and every second's p99, sorted (µs).
"""
import json
import shlex
import statistics
import subprocess
import sys


def main():
    if len(sys.argv) < 5:
        sys.exit(__doc__)
    bench, runs, common = sys.argv[1], int(sys.argv[2]), shlex.split(sys.argv[3])
    variants = [arg.split("=", 1) for arg in sys.argv[4:]]
    seconds = {name: [] for name, _ in variants}
    whole = {name: [] for name, _ in variants}
    for _ in range(runs):
        for name, args in variants:
            out = subprocess.run([bench, *common, *shlex.split(args)], capture_output=True, text=True, check=True).stdout
            d = json.loads(next(line for line in out.splitlines() if line.startswith("{")))
            seconds[name] += d["p99_by_second_us"]
            whole[name].append(d["latency_us"]["p99"])
            print(name, json.dumps(d), flush=True)
    for name, _ in variants:
        s = sorted(seconds[name])
        print(f"{name}: seconds' p99 median {statistics.median(s):.0f} us, {sum(x <= 1000 for x in s)}/{len(s)} <= 1 ms, "
              f"runs' p99 median {statistics.median(whole[name]):.0f} us :: {' '.join(str(round(x)) for x in s)}")


if __name__ == "__main__":
    main()
