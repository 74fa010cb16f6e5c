"""Goldens for --apply_postprocessing (sam2/inference/testdata/vos_postproc/).

usage: SAM2_REF=<sam2 checkout> /usr/bin/python3 tools/gen_postprocessing_goldens.py \
           --harness <dir with ref_harness.py, ref_shim.py, gen_vos_inference.py> \
           --fixtures <vos_inference fixtures dir: input/, parity_small_inference.yaml> \
           --checkpoint tests/testdata/parity/parity_small_model.pt OUT_DIR

A developer tool (Debian's torch 1.13 on CPU; the repository does not depend on the harness). It writes:

  OUT_DIR/cc.pt  connected-component areas (8-connectivity) of binary masks, and
                 fill_holes_in_mask_scores(scores, 8) as the reference computes it;
  OUT_DIR/input/Annotations_hole/<video>/00000.png
                 the first frame's DAVIS mask of the video with two square holes punched into
                 object 2: 3x3 pixels (small enough to be filled at the low resolution of the
                 model's masks) and 8x8 (too large);
  OUT_DIR/output/<variant>/<mode>/..., OUT_DIR/may_differ/..., OUT_DIR/vos_postproc_ref.pt
                 the reference's vos_inference with the predictor built as
                 build_sam2_video_predictor(apply_postprocessing=True) does (dynamic multimask via
                 stability, binarised memories of prompted frames, fill_hole_area=8), on the
                 fixtures' inputs.

The reference's get_connected_components needs its compiled CUDA extension; on CPU without it,
fill_holes_in_mask_scores catches the error, warns and returns the scores unchanged. The CUDA kernel
(sam2/csrc/connected_components.cu: block-based union-find over 2x2 blocks, merging the top-left, top,
top-right and left blocks) labels 8-connected components. So here get_connected_components is replaced
by an 8-connected flood fill in numpy, which makes the reference on CPU do what it does on CUDA.
"""
import argparse
import os
import shutil
import sys
from collections import deque

import numpy as np


def component_areas(mask):
    """mask: bool/uint8 numpy [H, W]. Returns (labels, areas) int32 [H, W]: 8-connected components of the
    set pixels, numbered from 1 in raster order of their first pixel; each set pixel gets its component's
    area, unset pixels 0."""
    h, w = mask.shape
    labels = np.zeros((h, w), np.int32)
    areas = np.zeros((h, w), np.int32)
    n = 0
    for y0 in range(h):
        for x0 in range(w):
            if not mask[y0, x0] or labels[y0, x0]:
                continue
            n += 1
            labels[y0, x0] = n
            members, todo = [], deque([(y0, x0)])
            while todo:
                y, x = todo.popleft()
                members.append((y, x))
                for dy in (-1, 0, 1):
                    for dx in (-1, 0, 1):
                        yy, xx = y + dy, x + dx
                        if 0 <= yy < h and 0 <= xx < w and mask[yy, xx] and not labels[yy, xx]:
                            labels[yy, xx] = n
                            todo.append((yy, xx))
            for y, x in members:
                areas[y, x] = len(members)
    return labels, areas


def get_connected_components_cpu(mask):
    """The contract of sam2.utils.misc.get_connected_components on [N, 1, H, W]."""
    import torch

    m = mask.to(torch.uint8).cpu().numpy()
    labels = np.zeros(m.shape, np.int32)
    areas = np.zeros(m.shape, np.int32)
    for i in range(m.shape[0]):
        labels[i, 0], areas[i, 0] = component_areas(m[i, 0] != 0)
    return torch.from_numpy(labels).to(mask.device), torch.from_numpy(areas).to(mask.device)


def cc_goldens(misc):
    import torch

    g = torch.Generator().manual_seed(0)
    out = {}
    cases = {
        # random binary masks of several densities (the kernel needs even sizes; ours does not)
        "random": (torch.rand(6, 1, 64, 64, generator=g) < torch.tensor([.3, .45, .55, .6, .7, .8])[:, None, None, None]),
        "small": torch.rand(3, 1, 6, 10, generator=g) < 0.5,
    }
    for name, m in cases.items():
        labels, areas = get_connected_components_cpu(m)
        out[f"cc.{name}.mask"] = m.to(torch.uint8)
        out[f"cc.{name}.areas"] = areas
    # Scores whose background (<= 0) has holes of every size around the limit: smoothed noise.
    s = torch.randn(8, 1, 64, 64, generator=g)
    s = torch.nn.functional.avg_pool2d(s, 3, 1, 1) + torch.linspace(-0.4, 0.4, 8)[:, None, None, None]
    s[0, 0, 10:20, 10:20] = 0.0  # exactly 0 is background
    filled = misc.fill_holes_in_mask_scores(s.clone(), 8)
    out["fill.scores"] = s
    out["fill.filled"] = filled
    changed = int((filled != s).sum())
    assert changed > 0
    print(f"fill goldens: {changed} of {s.numel()} scores filled with 0.1")
    return out


def punch_holes(src_png, dst_png, obj_id, sizes):
    """Copies a palettised mask with square background holes inside object obj_id, each where the hole
    and a 3-pixel margin around it lie inside the object."""
    from PIL import Image

    im = Image.open(src_png)
    a = np.array(im)
    inside = a == obj_id
    for k in sizes:
        m = k + 6
        spots = [(y, x) for y in range(a.shape[0] - m) for x in range(a.shape[1] - m)
                 if inside[y:y + m, x:x + m].all()]
        assert spots, f"object {obj_id} has no room for a {k}x{k} hole"
        y, x = spots[len(spots) // 2]
        a[y + 3:y + 3 + k, x + 3:x + 3 + k] = 0
        inside[y:y + m, x:x + m] = False  # the next hole goes elsewhere
    out = Image.fromarray(a)
    out.putpalette(im.getpalette())
    os.makedirs(os.path.dirname(dst_png), exist_ok=True)
    out.save(dst_png)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("out")
    ap.add_argument("--harness", default=os.environ.get("SAM2_HARNESS"),
                    help="folder with ref_harness.py, ref_shim.py, gen_vos_inference.py ($SAM2_HARNESS)")
    ap.add_argument("--fixtures", required=True, help="the vos_inference fixtures (input/, parity_small_inference.yaml)")
    ap.add_argument("--checkpoint", required=True, help="parity_small_model.pt")
    ap.add_argument("--davis_video", default="synth_0001")
    ap.add_argument("--late_video", default="synth_0002")
    args = ap.parse_args()
    if not args.harness:
        sys.exit("give --harness or set SAM2_HARNESS")
    sys.path.insert(0, os.path.abspath(args.harness))
    import gen_vos_inference as G  # sets up $SAM2_REF and the shims
    import torch
    import sam2.utils.misc as misc
    from sam2.build_sam import build_sam2_video_predictor

    torch.set_num_threads(2)
    misc.get_connected_components = get_connected_components_cpu

    def build_predictor(cfg_path, ckpt_path, per_obj_png_file, overrides=None):
        p = build_sam2_video_predictor(
            config_file=cfg_path, ckpt_path=ckpt_path, device="cpu", apply_postprocessing=True,
            hydra_overrides_extra=["++model.non_overlap_masks=" + ("false" if per_obj_png_file else "true")],
            vos_optimized=False)
        sd = p.state_dict()
        with torch.no_grad():
            for k, v in (overrides or {}).items():
                sd[k].copy_(v)
        d = p.sam_mask_decoder
        assert p.fill_hole_area == 8 and p.binarize_mask_from_pts_for_mem_enc
        assert d.dynamic_multimask_via_stability
        assert (d.dynamic_multimask_stability_delta, d.dynamic_multimask_stability_thresh) == (0.05, 0.98)
        return p

    G.build_predictor = build_predictor
    # Count the hole fills the predictor makes, so the goldens are known to exercise them.
    fills = {"calls": 0, "pixels": 0}
    orig_fill = misc.fill_holes_in_mask_scores

    def counting_fill(mask, max_area):
        r = orig_fill(mask, max_area)
        fills["calls"] += 1
        fills["pixels"] += int((r != mask).sum())
        return r

    import sam2.sam2_video_predictor as svp
    svp.fill_holes_in_mask_scores = counting_fill

    out = os.path.abspath(args.out)
    os.makedirs(out, exist_ok=True)
    torch.save(cc_goldens(misc), os.path.join(out, "cc.pt"))
    for d in ("output", "may_differ"):  # the reference writes into existing folders
        shutil.rmtree(os.path.join(out, d), ignore_errors=True)
    # The fixtures' inputs plus the mask with holes (written to OUT_DIR/input, run from a copy).
    import tempfile
    tmp = tempfile.mkdtemp()
    inp = os.path.join(tmp, "input")
    shutil.copytree(os.path.join(args.fixtures, "input"), inp)
    hole_png = os.path.join(out, "input", "Annotations_hole", args.davis_video, "00000.png")
    punch_holes(os.path.join(inp, "Annotations", args.davis_video, "00000.png"), hole_png, 2, (8, 3))
    shutil.copytree(os.path.join(out, "input", "Annotations_hole"), os.path.join(inp, "Annotations_hole"))
    G.MODES["davis_hole"] = (False, False, "Annotations_hole")
    cfg = os.path.abspath(os.path.join(args.fixtures, "parity_small_inference.yaml"))
    ckpt = os.path.abspath(args.checkpoint)
    videos = [args.davis_video, args.late_video]
    frame_names = {v: sorted(os.path.splitext(p)[0] for p in os.listdir(os.path.join(inp, "JPEGImages", v)))
                   for v in videos}
    modes = {"davis": [args.davis_video], "appearing_later": [args.late_video]}
    plan = {"parity_small": ({}, dict(modes, davis_hole=[args.davis_video])),
            "objscore_shift": (G.shift_overrides(ckpt, 0.5), modes)}
    io, stats = G.generate(out, plan, cfg, ckpt, inp, frame_names)
    # The tensors of the hole mode are not kept (its PNGs are what //jobs:vos_inference_test checks).
    io = {k: v for k, v in io.items() if not k.startswith(("input.", "parity_small.davis_hole."))}
    torch.save(io, os.path.join(out, "vos_postproc_ref.pt"))
    print(f"hole filling: {fills['calls']} calls, {fills['pixels']} low-res scores filled")
    for (variant, mode), st in stats.items():
        for video, (n, tot) in st.items():
            print(f"may_differ {variant}/{mode}/{video}: {n} of {tot} pixels")
    print("tensors:", len(io))
    shutil.rmtree(tmp)


if __name__ == "__main__":
    main()
