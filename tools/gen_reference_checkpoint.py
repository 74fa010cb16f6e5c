"""Developer tool (not used by the build): writes a checkpoint in exactly the
format of the reference trainer's save_checkpoint (facebookresearch/sam2,
training/trainer.py), for the tests of sam2/training/reference_checkpoint.

usage:
  SAM2_REF=<sam2 checkout> SAM2_HARNESS=<dir with ref_harness.py> \
    /usr/bin/python3 tools/gen_reference_checkpoint.py sam2/training/testdata

ref_harness.py is the project's harness that builds the reference model, loss
and optimizer on Debian's torch 1.13 (python3-torch, python3-omegaconf).

The run: the parity-small model (tests/testdata/parity) with
freeze_image_encoder, the MOSE optimizer (construct_optimizer with the layer
decay modifier), gradient clipping at 0.1 and two optimizer steps as the
reference trainer takes them (max_epochs 4, one batch per epoch, so `where`
is 0.0 and 0.25), with fixed random gradients. Then one more step at epoch 2
(where 0.5) from gradients every implementation can recompute exactly from
the checkpoint (0.5 * param - exp_avg), whose results are the expectations.

Writes into OUT_DIR:
  reference_trainer_checkpoint.pt       torch.save(checkpoint dict) as
                                        save_checkpoint(epoch=2) writes it
  reference_trainer_checkpoint_next.pt  {key: tensor}: "after_step.<name>"
                                        for the first and last parameter of
                                        every group with optimizer state and
                                        every such parameter of <= 4096
                                        elements,
                                        "grad_total_norm" of that step
  reference_trainer_checkpoint.json     the optimizer's parameter index ->
                                        name, and per group its indices and
                                        lr / weight_decay at where 0, 0.5, 0.9
"""
import argparse
import json
import os
import sys

sys.path.insert(0, os.environ.get("SAM2_HARNESS", ""))
import ref_harness as H  # noqa: E402  (sets up sys.path and shims)
import torch  # noqa: E402
from omegaconf import OmegaConf  # noqa: E402

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
PARITY = os.path.join(REPO, "tests/testdata/parity")
MAX_EPOCHS = 4
SAVED_EPOCH = 2  # save_checkpoint(self.epoch + 1) after epochs 0 and 1


def build():
    cfg = OmegaConf.create({"trainer": OmegaConf.load(os.path.join(PARITY, "parity_small.yaml"))})
    cfg.trainer.model.freeze_image_encoder = True
    model, loss, cont = H.build(cfg)
    state = torch.load(os.path.join(PARITY, "parity_small_model.pt"), map_location="cpu")["model"]
    model.load_state_dict(state)
    return model, loss, cont


def clip(model):
    from training.optimizer import GradientClipper

    norm = torch.nn.utils.clip_grad_norm_(
        [p for p in model.parameters()], max_norm=float("inf"))  # norm only
    GradientClipper(max_norm=0.1, norm_type=2)(model)
    return norm


def step(model, optim, epoch, grads):
    """One step of the reference trainer's train loop (batch 0 of `epoch`)."""
    optim.zero_grad(set_to_none=True)
    for name, p in model.named_parameters():
        if p.requires_grad:
            p.grad = grads(name, p)
    where = float(epoch) / MAX_EPOCHS
    optim.step_schedulers(where, step=epoch)
    norm = clip(model)
    optim.optimizer.step()
    return norm


def group_table(model, cont):
    """Index -> name and per group lr / weight_decay, from a fresh optimizer."""
    optim = H.build_optimizer(model, cont)
    names = {id(p): n for n, p in model.named_parameters()}
    index_names, groups, start = [], [], 0
    for g in optim.optimizer.param_groups:
        index_names += [names[id(p)] for p in g["params"]]
        groups.append({"params": list(range(start, start + len(g["params"])))})
        start += len(g["params"])
    for where in (0.0, 0.5, 0.9):
        optim.step_schedulers(where, step=0)
        for out, g in zip(groups, optim.optimizer.param_groups):
            out[f"lr@{where}"] = g["lr"]
            out[f"weight_decay@{where}"] = g["weight_decay"]
    return {"index_names": index_names, "groups": groups}


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("out_dir")
    ap.add_argument("--seed", type=int, default=3)
    args = ap.parse_args()
    torch.manual_seed(args.seed)

    model, loss, cont = build()
    table = group_table(model, cont)
    optim = H.build_optimizer(model, cont)
    gen = torch.Generator().manual_seed(args.seed)
    for epoch in range(SAVED_EPOCH):
        step(model, optim, epoch, lambda n, p: 1e-2 * torch.randn(p.shape, generator=gen))

    checkpoint = {
        "model": model.state_dict(),
        "optimizer": optim.optimizer.state_dict(),
        "epoch": SAVED_EPOCH,
        "loss": loss.state_dict(),
        "steps": {"train": SAVED_EPOCH, "val": 0},
        "time_elapsed": 12.5,
        "best_meter_values": {},
        # What an enabled torch.amp.GradScaler's state_dict() holds (CUDA
        # only, so written out here).
        "scaler": {"scale": 32768.0, "growth_factor": 2.0, "backoff_factor": 0.5,
                   "growth_interval": 2000, "_growth_tracker": 2},
    }
    os.makedirs(args.out_dir, exist_ok=True)
    torch.save(checkpoint, os.path.join(args.out_dir, "reference_trainer_checkpoint.pt"))

    state = optim.optimizer.state
    norm = step(model, optim, SAVED_EPOCH,
                lambda n, p: 0.5 * p.detach() - state[p]["exp_avg"])
    params = dict(model.named_parameters())
    with_state = {n for n in table["index_names"] if params[n] in state}
    keep = {}
    for g in table["groups"]:
        names = [table["index_names"][i] for i in g["params"]]
        names = [n for n in names if n in with_state]
        small = [n for n in names if params[n].numel() <= 4096]
        for n in sorted(set(names[:1] + names[-1:] + small)):
            keep["after_step." + n] = params[n].detach().clone()
    keep["grad_total_norm"] = norm.detach().clone()
    torch.save(keep, os.path.join(args.out_dir, "reference_trainer_checkpoint_next.pt"))
    with open(os.path.join(args.out_dir, "reference_trainer_checkpoint.json"), "w") as f:
        json.dump(table, f, indent=1)
    print(f"{len(table['index_names'])} parameters in {len(table['groups'])} groups, "
          f"{len(state)} with state, {len(keep) - 1} after-step tensors kept")


if __name__ == "__main__":
    main()
