"""Summarises a Chrome trace of LibTorch's profiler (`//jobs:train
--benchmark_steps=N --profile_trace=FILE`): self and total time per operator,
summed over all threads, largest self time first.

usage: python3 profile_summary.py TRACE.json [--top=30] [--steps=N]
(--steps divides the times by N to give per-step numbers)
"""
import argparse
import collections
import json


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("trace")
    ap.add_argument("--top", type=int, default=30)
    ap.add_argument("--steps", type=int, default=1)
    args = ap.parse_args()
    with open(args.trace) as f:
        events = [e for e in json.load(f) if e.get("ph") == "X"]
    by_thread = collections.defaultdict(list)
    for e in events:
        by_thread[e["tid"]].append(e)
    self_us = collections.Counter()
    total_us = collections.Counter()
    calls = collections.Counter()
    for evs in by_thread.values():
        # Parents start first and last longer; children sit inside them.
        evs.sort(key=lambda e: (e["ts"], -e["dur"]))
        stack = []  # [end, name, child time]
        def close(until):
            while stack and stack[-1][0] <= until:
                end, name, child = stack.pop()
                dur = end - start_of[id_of[-1]] if False else None
        for e in evs:
            start, end = e["ts"], e["ts"] + e["dur"]
            while stack and stack[-1][0] <= start + 1e-3:
                stack.pop()
            if stack:
                stack[-1][2] += e["dur"]
            item = [end, e["name"], 0.0, e["dur"]]
            stack.append(item)
            total_us[e["name"]] += e["dur"]
            calls[e["name"]] += 1
            item_ref = item
            self_us[e["name"]] += 0  # filled when popped
            e["_item"] = item_ref
        for e in evs:
            it = e["_item"]
            self_us[e["name"]] += it[3] - it[2]
    grand = sum(self_us.values())
    print(f"total self time {grand / 1e6 / args.steps:.3f} s per step")
    print(f"{'self ms':>9} {'%':>5} {'total ms':>9} {'calls':>7}  name")
    for name, us in self_us.most_common(args.top):
        print(f"{us / 1e3 / args.steps:9.1f} {100 * us / grand:5.1f} "
              f"{total_us[name] / 1e3 / args.steps:9.1f} {calls[name] // args.steps:7d}  {name}")


if __name__ == "__main__":
    main()
