"""Summarises a Chrome trace of LibTorch's profiler (`//jobs:train
--benchmark_steps=N --profile_trace=FILE`): self and total time per operator,
summed over all threads, largest self time first.

usage: python3 profile_summary.py TRACE.json [--top=30] [--steps=N] [--shapes]
(--steps divides the times by N to give per-step numbers: the trace covers
the benchmark's steps after the first; --shapes lists operators by their
input shapes too, as the reference's ref_train_step.py --profile does)
"""
import argparse
import collections
import json


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("trace")
    ap.add_argument("--top", type=int, default=30)
    ap.add_argument("--steps", type=int, default=1)
    ap.add_argument("--shapes", action="store_true")
    args = ap.parse_args()
    with open(args.trace) as f:
        events = [e for e in json.load(f) if e.get("ph") == "X"]
    for e in events:
        shapes = e.get("args", {}).get("shapes")
        e["key"] = (e["name"], json.dumps(shapes)) if args.shapes else e["name"]
    by_thread = collections.defaultdict(list)
    for e in events:
        by_thread[e["tid"]].append(e)
    self_us = collections.Counter()
    total_us = collections.Counter()
    calls = collections.Counter()
    for evs in by_thread.values():
        # Parents start first and last longer; children sit inside them.
        evs.sort(key=lambda e: (e["ts"], -e["dur"]))
        stack = []  # open events: [end, child time, event]
        for e in evs:
            start = e["ts"]
            while stack and stack[-1][0] <= start + 1e-3:
                end, child, done = stack.pop()
                self_us[done["key"]] += done["dur"] - child
            if stack:
                stack[-1][1] += e["dur"]
            stack.append([start + e["dur"], 0.0, e])
            total_us[e["key"]] += e["dur"]
            calls[e["key"]] += 1
        for end, child, done in stack:
            self_us[done["key"]] += done["dur"] - child
    grand = sum(self_us.values())
    print(f"total self time {grand / 1e6 / args.steps:.3f} s per step")
    print(f"{'self ms':>9} {'%':>5} {'total ms':>9} {'calls':>7}  name")
    for key, us in self_us.most_common(args.top):
        name = " ".join(key) if args.shapes else key
        print(f"{us / 1e3 / args.steps:9.1f} {100 * us / grand:5.1f} "
              f"{total_us[key] / 1e3 / args.steps:9.1f} {calls[key] // args.steps:7d}  {name}")


if __name__ == "__main__":
    main()
