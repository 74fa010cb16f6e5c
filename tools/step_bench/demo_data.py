"""Prints the training data of configs/demo.pbtxt (`data { train { ... } }`,
without its validation) at another size and frame count, for `--set` in the
benchmark scripts (the step's cost does not depend on the pixels, so the
bundled demo videos serve any model).

usage: python3 tools/step_bench/demo_data.py [RESOLUTION] [FRAMES]
(defaults 256 and the demo's 4)
"""
import os
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def main():
    resolution = sys.argv[1] if len(sys.argv) > 1 else "256"
    frames = sys.argv[2] if len(sys.argv) > 2 else "4"
    with open(os.path.join(ROOT, "configs/demo.pbtxt")) as f:
        text = f.read()
    train = block(text, text.index("data {"), "train {")
    print("data {\n  " + train.replace("sizes: 128", "sizes: " + resolution)
          .replace("num_frames: 4", "num_frames: " + frames) + "\n}")


def block(text, after, opening):
    """The balanced `opening ... }` block that starts first after `after`."""
    start = text.index(opening, after)
    depth = 0
    for end in range(start, len(text)):
        depth += {"{": 1, "}": -1}.get(text[end], 0)
        if text[end] == "}" and depth == 0:
            return text[start:end + 1]
    raise ValueError("unbalanced braces in configs/demo.pbtxt")

if __name__ == "__main__":
    main()
