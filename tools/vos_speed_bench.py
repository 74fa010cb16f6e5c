"""VOS inference speed: //jobs:vos_inference next to the reference's tools/vos_inference.py, same CPU,
model, weights, videos and thread count. A developer tool: the reference runs on Debian's torch 1.13
through the steering harness (ref_harness.py / ref_shim.py / gen_vos_inference.py), which the
repository does not contain.

usage (from the repository root, after bazel build //jobs:vos_inference):

  SAM2_REF=<sam2 checkout> /usr/bin/python3 tools/vos_speed_bench.py --harness <harness dir> \\
      [--model parity_small|sam2.1_hiera_t] [--threads 2] [--repeats 2] [--num_videos N] [--num_frames N]

  --model parity_small   the parity-small model (tests/testdata/parity) at 256 px, its trained weights
                         (the reference's config derived from tests/testdata/parity/parity_small.yaml
                         as the VOS fixtures derive it);
  --model sam2.1_hiera_t the official SAM 2.1 tiny config at 1024 px with random weights (drawn once by
                         the reference, saved as a checkpoint both sides load).

Videos: the first --num_videos of configs/assets/demo_vos (128x128, 10 frames, 3 objects each), the
first --num_frames frames of each. Each side runs in its own process with OMP_NUM_THREADS=--threads
(and torch.set_num_threads on the reference side); the sides alternate (reference, ours, reference,
ours, ...) --repeats times, so a busy machine slows both alike. Timed per video on both sides: frame
loading, adding the first frame's masks, propagation and writing the PNGs (not the model's
construction). Prints, per side, the median over repeats of the object-frames/s (one object tracked
on one frame; frames x objects / seconds) and frames/s, and the ratio ours / reference.
"""
import argparse
import json
import os
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def ref_worker(args):
    """Runs the reference on the prepared videos; prints one JSON line {frames, object_frames, seconds}."""
    sys.path.insert(0, os.path.abspath(args.harness))
    import gen_vos_inference as G  # sets up $SAM2_REF and the shims
    import torch

    torch.set_num_threads(args.threads)
    VI = G.VI
    predictor = G.build_predictor(args.ref_config, args.checkpoint, per_obj_png_file=False)
    videos = sorted(os.listdir(os.path.join(args.work, "JPEGImages")))
    frames = object_frames = 0
    seconds = 0.0
    for v in videos:
        out = os.path.join(args.work, "ref_out")
        shutil.rmtree(out, ignore_errors=True)
        t0 = time.perf_counter()
        VI.vos_inference(predictor=predictor, base_video_dir=os.path.join(args.work, "JPEGImages"),
                         input_mask_dir=os.path.join(args.work, "Annotations"), output_mask_dir=out,
                         video_name=v, score_thresh=0.0, use_all_masks=False, per_obj_png_file=False)
        seconds += time.perf_counter() - t0
        n = len(os.listdir(os.path.join(args.work, "JPEGImages", v)))
        frames += n
        object_frames += n * args.objects[v]
    print(json.dumps({"frames": frames, "object_frames": object_frames, "seconds": seconds}))


def run_ref(args, env):
    cmd = [sys.executable, os.path.abspath(__file__), "--ref_worker", "--harness", args.harness,
           "--work", args.work, "--ref_config", args.ref_config, "--checkpoint", args.checkpoint,
           "--threads", str(args.threads), "--objects_json", json.dumps(args.objects)]
    out = subprocess.run(cmd, env=env, check=True, capture_output=True, text=True).stdout
    return json.loads(out.strip().splitlines()[-1])


def run_ours(args, env):
    out = os.path.join(args.work, "our_out")
    shutil.rmtree(out, ignore_errors=True)
    cmd = [args.binary, f"--config={args.our_config}", f"--checkpoint={args.checkpoint}",
           f"--base_video_dir={os.path.join(args.work, 'JPEGImages')}",
           f"--input_mask_dir={os.path.join(args.work, 'Annotations')}", f"--output_mask_dir={out}"]
    text = subprocess.run(cmd, env=env, check=True, capture_output=True, text=True).stdout
    m = re.search(r"^speed: (\d+) frames, (\d+) object-frames in ([0-9.]+) s", text, re.M)
    if not m:
        sys.exit("no speed line from vos_inference:\n" + text)
    return {"frames": int(m[1]), "object_frames": int(m[2]), "seconds": float(m[3])}


def prepare(args):
    """Copies the videos; writes the configs and (for the tiny model) the random checkpoint."""
    src = os.path.join(ROOT, "configs/assets/demo_vos")
    videos = sorted(os.listdir(os.path.join(src, "JPEGImages")))[:args.num_videos]
    args.objects = {}
    from PIL import Image
    import numpy as np
    for v in videos:
        names = sorted(os.listdir(os.path.join(src, "JPEGImages", v)))[:args.num_frames]
        for sub, ext in (("JPEGImages", ".jpg"), ("Annotations", ".png")):
            os.makedirs(os.path.join(args.work, sub, v))
            for n in names:
                base = os.path.splitext(n)[0] + ext
                if os.path.exists(os.path.join(src, sub, v, base)):
                    shutil.copyfile(os.path.join(src, sub, v, base), os.path.join(args.work, sub, v, base))
        first = np.array(Image.open(os.path.join(args.work, "Annotations", v, os.path.splitext(names[0])[0] + ".png")))
        args.objects[v] = len(set(np.unique(first).tolist()) - {0})
    if args.model == "parity_small":
        sys.path.insert(0, os.path.abspath(args.harness))
        import gen_vos_inference as G
        args.ref_config, _ = G.derive_inference_config(
            os.path.join(ROOT, "tests/testdata/parity/parity_small.yaml"),
            os.path.join(args.work, "parity_small_inference.yaml"))
        args.checkpoint = os.path.join(ROOT, "tests/testdata/parity/parity_small_model.pt")
        args.our_config = "parity_small"
    else:
        args.ref_config = os.path.join(os.environ["SAM2_REF"], "sam2/configs/sam2.1/sam2.1_hiera_t.yaml")
        args.checkpoint = os.path.join(args.work, "random_tiny.pt")
        code = (f"import sys; sys.path.insert(0, {os.path.abspath(args.harness)!r}); import gen_vos_inference as G; "
                f"import torch; torch.manual_seed(0); "
                f"from sam2.build_sam import build_sam2_video_predictor as b; "
                f"m = b({args.ref_config!r}, None, device='cpu', apply_postprocessing=False); "
                f"torch.save({{'model': m.state_dict()}}, {args.checkpoint!r})")
        subprocess.run([sys.executable, "-c", code], check=True, capture_output=True)
        args.our_config = os.path.join(args.work, "tiny.pbtxt")
        with open(args.our_config, "w") as f:
            f.write('model_preset: "sam2.1_hiera_t"\n')


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--harness", default=os.environ.get("SAM2_HARNESS"),
                    help="folder with ref_harness.py, ref_shim.py, gen_vos_inference.py ($SAM2_HARNESS)")
    ap.add_argument("--model", choices=("parity_small", "sam2.1_hiera_t"), default="parity_small")
    ap.add_argument("--binary", default=os.path.join(ROOT, "bazel-bin/jobs/vos_inference"))
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--repeats", type=int, default=2)
    ap.add_argument("--num_videos", type=int, default=12)
    ap.add_argument("--num_frames", type=int, default=10)
    # internal: the reference side's process
    ap.add_argument("--ref_worker", action="store_true", help=argparse.SUPPRESS)
    ap.add_argument("--work", help=argparse.SUPPRESS)
    ap.add_argument("--ref_config", help=argparse.SUPPRESS)
    ap.add_argument("--checkpoint", help=argparse.SUPPRESS)
    ap.add_argument("--objects_json", help=argparse.SUPPRESS)
    args = ap.parse_args()
    if not args.harness:
        sys.exit("give --harness or set SAM2_HARNESS")
    if not os.environ.get("SAM2_REF"):
        sys.exit("set SAM2_REF to a facebookresearch/sam2 checkout")
    if args.ref_worker:
        args.objects = json.loads(args.objects_json)
        return ref_worker(args)
    if not os.access(args.binary, os.X_OK):
        sys.exit(f"{args.binary}: not built (bazel build //jobs:vos_inference)")
    args.work = tempfile.mkdtemp(prefix="vos_speed_bench_")
    try:
        prepare(args)
        env = dict(os.environ, OMP_NUM_THREADS=str(args.threads), MKL_NUM_THREADS=str(args.threads))
        runs = {"reference": [], "ours": []}
        for r in range(args.repeats):
            for side, fn in (("reference", run_ref), ("ours", run_ours)):
                res = fn(args, env)
                runs[side].append(res)
                print(f"run {r + 1} {side}: {res['frames']} frames, {res['object_frames']} object-frames, "
                      f"{res['seconds']:.2f} s, {res['object_frames'] / res['seconds']:.2f} object-frames/s",
                      flush=True)
        med = {}
        for side, rs in runs.items():
            ofs = statistics.median(x["object_frames"] / x["seconds"] for x in rs)
            fs = statistics.median(x["frames"] / x["seconds"] for x in rs)
            med[side] = ofs
            print(f"{side}: median {ofs:.2f} object-frames/s, {fs:.2f} frames/s "
                  f"({args.model}, {args.threads} threads, {args.repeats} runs)")
        print(f"ratio ours / reference: {med['ours'] / med['reference']:.2f}x")
    finally:
        shutil.rmtree(args.work, ignore_errors=True)


if __name__ == "__main__":
    main()
