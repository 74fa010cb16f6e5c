"""Times the reference's training step (facebookresearch/sam2, training/) on
the CPU, for a side-by-side comparison with `//jobs:train --benchmark_steps`.

usage: SAM2_REF=<sam2 checkout> SAM2_HARNESS=<folder with ref_harness.py> \
         python3 ref_train_step.py --model=small|b+ [--steps=N] [--threads=2]
         [--resolution=256] [--frames=4] [--device=cpu|cuda] [--bf16]

The step is the reference trainer's (trainer.py _run_step + the optimizer
part of train_epoch): SAM2Train forward in train mode with the MOSE recipe's
losses, backward, scheduler step, gradient clipping, AdamW step, zero_grad.
Inputs: a batch of 1 video, --frames frames, 2 objects, at --resolution, as
the data pipeline delivers it. On CUDA with --bf16 the forward pass and the
losses run under torch.autocast(bfloat16) and the loss is scaled by a
GradScaler, as the reference trainer does with amp; peak_gpu_mb is
torch.cuda.max_memory_allocated. Prompting is fixed so that both sides do the same
work every step: a click on one initial conditioning frame plus 7 correction
clicks on 2 frames (prob_to_use_pt_input_for_train 1, no boxes, no GT
sampling, no random frame counts). Prints median_step_s and peak_rss_mb.
"""
import argparse
import os
import resource
import sys
import time

HARNESS = os.environ.get("SAM2_HARNESS")
if not HARNESS or not os.path.isfile(os.path.join(HARNESS, "ref_harness.py")):
    sys.exit("set SAM2_HARNESS to the folder that holds ref_harness.py and ref_shim.py")
sys.path.insert(0, HARNESS)

import ref_harness as H  # noqa: E402
import torch  # noqa: E402

O = 2


def small_config(cfg):
    # The parity-small model (configs/parity_small.pbtxt): the MOSE recipe's
    # classes with small dimensions.
    m = cfg.trainer.model
    m.image_encoder.trunk = {
        "_target_": "sam2.modeling.backbones.hieradet.Hiera",
        "embed_dim": 16, "num_heads": 1, "stages": [1, 1, 3, 1],
        "global_att_blocks": [3], "window_spec": [8, 4, 14, 7],
        "window_pos_embed_bkg_spatial_size": [7, 7], "drop_path_rate": 0.1,
    }
    m.image_encoder.neck.d_model = 64
    m.image_encoder.neck.backbone_channel_list = [128, 64, 32, 16]
    m.image_encoder.neck.position_encoding.num_pos_feats = 64
    ma = m.memory_attention
    ma.d_model = 64
    ma.num_layers = 2
    ma.layer.d_model = 64
    ma.layer.dim_feedforward = 256
    ma.layer.self_attention.embedding_dim = 64
    ma.layer.cross_attention.embedding_dim = 64
    ma.layer.cross_attention.kv_in_dim = 32
    me = m.memory_encoder
    me.out_dim = 32
    me.in_dim = 64
    me.position_encoding.num_pos_feats = 32
    me.mask_downsampler.embed_dim = 64
    me.fuser.layer.dim = 64


def fixed_prompting(cfg):
    m = cfg.trainer.model
    m.prob_to_use_pt_input_for_train = 1.0
    m.prob_to_use_box_input_for_train = 0.0
    m.prob_to_sample_from_gt_for_train = 0.0
    m.num_frames_to_correct_for_train = 2
    m.rand_frames_to_correct_for_train = False
    m.num_init_cond_frames_for_train = 1
    m.rand_init_cond_frames_for_train = False
    m.num_correction_pt_per_frame = 7


def make_batch(res, seed, T, device):
    g = torch.Generator().manual_seed(seed)
    img = torch.randn(T, 1, 3, res, res, generator=g)
    yy, xx = torch.meshgrid(torch.arange(res), torch.arange(res), indexing="ij")
    masks = torch.zeros(T, O, res, res, dtype=torch.bool)
    for o in range(O):
        for t in range(T):
            cy, cx = res * (0.3 + 0.3 * o) + 2 * t, res * (0.35 + 0.2 * o) + 3 * t
            masks[t, o] = ((yy - cy) / (0.12 * res)) ** 2 + ((xx - cx) / (0.17 * res)) ** 2 <= 1
    idx = torch.stack(
        [torch.arange(T)[:, None].expand(T, O), torch.zeros(T, O, dtype=torch.long)], -1
    ).int()
    return H.BatchedVideoDatapoint(img.to(device), idx.to(device), masks.to(device))


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--model", choices=["small", "b+"], default="small")
    ap.add_argument("--resolution", type=int, default=256)
    ap.add_argument("--steps", type=int, default=8)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--frames", type=int, default=4)
    ap.add_argument("--device", choices=["cpu", "cuda"], default="cpu")
    ap.add_argument("--bf16", action="store_true", help="CUDA: bf16 autocast")
    ap.add_argument("--profile", type=int, default=0, metavar="TOP",
                    help="profile the steps after the first and print the TOP "
                         "operators by self CPU time per step (stderr)")
    args = ap.parse_args()
    cuda = args.device == "cuda"
    torch.set_num_threads(args.threads)

    cfg = H.load_cfg()
    H.set_resolution(cfg, args.resolution)
    if args.model == "small":
        small_config(cfg)
    fixed_prompting(cfg)
    torch.manual_seed(0)
    model, loss_fn, cont = H.build(cfg)
    model.to(args.device)
    model.train()
    optim = H.build_optimizer(model, cont)
    clip = cont["trainer"]["optim"].get("gradient_clip", {}).get("max_norm", 0.1)

    amp = cuda and args.bf16
    scaler = torch.cuda.amp.GradScaler(enabled=amp)
    times = []
    prof = None
    for step in range(args.steps):
        if args.profile and step == 1:
            prof = torch.profiler.profile(activities=[torch.profiler.ProfilerActivity.CPU],
                                          record_shapes=True)
            prof.__enter__()
        batch = make_batch(args.resolution, step, args.frames, args.device)
        if cuda:
            torch.cuda.synchronize()
            if step == 1:
                torch.cuda.reset_peak_memory_stats()
        start = time.perf_counter()
        optim.zero_grad(set_to_none=True)
        with torch.autocast("cuda", dtype=torch.bfloat16, enabled=amp):
            outs = model(batch)
            losses = loss_fn(outs, batch.masks)
        scaler.scale(losses["core_loss"]).backward()
        optim.step_schedulers(step / max(1, args.steps), step=step)
        scaler.unscale_(optim.optimizer)
        torch.nn.utils.clip_grad_norm_(model.parameters(), max_norm=clip)
        scaler.step(optim.optimizer)
        scaler.update()
        if cuda:
            torch.cuda.synchronize()
        times.append(time.perf_counter() - start)
        print(f"step {step + 1}/{args.steps}: {times[-1]:.3f}s", file=sys.stderr)
    if prof is not None:
        prof.__exit__(None, None, None)
        steps = args.steps - 1
        events = prof.key_averages()
        total = sum(e.self_cpu_time_total for e in events)
        print(f"profile: {steps} steps, self CPU {total / 1e6 / steps:.3f} s a step",
              file=sys.stderr)
        print(f"{'self ms':>9} {'%':>5} {'total ms':>9} {'calls':>7}  name", file=sys.stderr)
        for e in sorted(events, key=lambda e: -e.self_cpu_time_total)[:args.profile]:
            print(f"{e.self_cpu_time_total / 1e3 / steps:9.1f} "
                  f"{100 * e.self_cpu_time_total / total:5.1f} "
                  f"{e.cpu_time_total / 1e3 / steps:9.1f} {e.count // steps:7d}  {e.key}",
                  file=sys.stderr)
        by_shape = prof.key_averages(group_by_input_shape=True)
        print("by input shapes:", file=sys.stderr)
        for e in sorted(by_shape, key=lambda e: -e.self_cpu_time_total)[:args.profile]:
            print(f"{e.self_cpu_time_total / 1e3 / steps:9.1f} {e.count // steps:7d}  "
                  f"{e.key} {e.input_shapes}", file=sys.stderr)
    steady = sorted(times[1:] if len(times) > 1 else times)
    n = len(steady)
    median = steady[n // 2] if n % 2 else 0.5 * (steady[n // 2 - 1] + steady[n // 2])
    if cuda:
        print(f"peak_gpu_mb {torch.cuda.max_memory_allocated() / 2**20:.1f}")
    print(f"peak_rss_mb {resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024:.1f}")
    print(f"median_step_s {median:.4f}")


if __name__ == "__main__":
    main()
