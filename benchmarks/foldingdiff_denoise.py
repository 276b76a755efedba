"""FoldingDiff diagnostic (issue #14, item 1): does the denoiser restore real chains?

    python benchmarks/foldingdiff_denoise.py --chains 16 --t0 5 25 60 125

For held-out (test split) chains: noise their angles to step t0 with the forward process, rebuild the
noisy backbone, run the shipped model's reverse chain from t0 to 0, rebuild, and compare with the
real chain: CA radius of gyration (real / noisy / denoised), the fraction of the real chain's
long-range CA contacts (|i − j| ≥ 6, < 8 Å) kept, and the mean absolute dihedral error. A model that
has learned the data restores Rg and contacts from light noise (denoised closer to real than noisy);
the angle → coordinate round trip is checked on the same chains. Writes
``benchmarks/results/foldingdiff_denoise.{json,md}``.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np
import torch

from designer.models.foldingdiff.angles import angle_mask, angles_to_backbone
from designer.models.foldingdiff.data import load_chains
from designer.models.foldingdiff.noise import wrap
from designer.models.foldingdiff.sample import load_default

RESULTS = Path(__file__).resolve().parent / "results"


def radius_of_gyration(backbone: np.ndarray) -> float:
    ca = backbone[:, 1]
    return float(np.sqrt(((ca - ca.mean(0)) ** 2).sum(1).mean()))


def contacts(backbone: np.ndarray) -> np.ndarray:
    ca = backbone[:, 1]
    n = len(ca)
    far = np.abs(np.arange(n)[:, None] - np.arange(n)[None]) >= 6
    return (np.linalg.norm(ca[:, None] - ca[None], axis=-1) < 8.0) & far


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--chains", type=int, default=16)
    parser.add_argument("--t0", type=int, nargs="+", default=[5, 25, 60, 125])
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)
    torch.set_num_threads(1)
    chains, gen = load_chains(), load_default()
    diffusion = gen.diffusion
    test = [i for i in range(len(chains.ids)) if chains.split[i] == "test"][: args.chains]
    generator = torch.Generator().manual_seed(args.seed)
    real = [angles_to_backbone(chains.angles[i]) for i in test]
    round_trip = float(np.mean([abs(radius_of_gyration(r) - radius_of_gyration(chains.coords[i]))
                                for r, i in zip(real, test, strict=True)]))
    rows = []
    for t0 in args.t0:
        noisy_rg, denoised_rg, kept_noisy, kept, errors = [], [], [], [], []
        for i, backbone in zip(test, real, strict=True):
            angles = torch.tensor(chains.angles[i], dtype=torch.float32)[None]
            length = angles.shape[1]
            defined = torch.as_tensor(angle_mask(length, length))[None]
            x0 = wrap(torch.where(defined, angles - gen.mean, torch.zeros_like(angles)))
            x = diffusion.q_sample(x0, torch.tensor([t0]), torch.randn(x0.shape, generator=generator))
            noisy = torch.where(defined, wrap(x + gen.mean), angles)[0].double().numpy()
            pad = torch.zeros(1, length, dtype=torch.bool)
            with torch.no_grad():
                for t in range(t0, 0, -1):
                    x = diffusion.p_step(x, t, gen.model(x * defined, torch.tensor([t]), pad), generator)
            denoised = torch.where(defined, wrap(x + gen.mean), angles)[0].double().numpy()
            noisy_bb, denoised_bb = angles_to_backbone(noisy), angles_to_backbone(denoised)
            real_contacts = contacts(backbone)
            noisy_rg.append(radius_of_gyration(noisy_bb))
            denoised_rg.append(radius_of_gyration(denoised_bb))
            kept_noisy.append((contacts(noisy_bb) & real_contacts).sum() / max(1, real_contacts.sum()))
            kept.append((contacts(denoised_bb) & real_contacts).sum() / max(1, real_contacts.sum()))
            error = wrap(torch.from_numpy(denoised - chains.angles[i])).abs().numpy()
            errors.append(float(error[:, :3].mean()))
        rows.append({"t0": t0, "alpha_bar": round(float(diffusion.alpha_bar[t0]), 4),
                     "rg_real": float(np.mean([radius_of_gyration(r) for r in real])),
                     "rg_noisy": float(np.mean(noisy_rg)), "rg_denoised": float(np.mean(denoised_rg)),
                     "contacts_kept_noisy": float(np.mean(kept_noisy)), "contacts_kept_denoised": float(np.mean(kept)),
                     "dihedral_error_rad": float(np.mean(errors))})
        print(json.dumps(rows[-1]), flush=True)
    report = {"chains": len(test), "steps": diffusion.steps, "round_trip_rg_error": round_trip, "rows": rows,
              "command": "python benchmarks/foldingdiff_denoise.py " + " ".join(argv or [])}
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / "foldingdiff_denoise.json").write_text(json.dumps(report, indent=1) + "\n")
    lines = ["# FoldingDiff: denoising lightly noised real chains (issue #14, item 1)", "",
             f"{len(test)} test-split chains, shipped checkpoint (T = {diffusion.steps}); angle → backbone round trip "
             f"mean |ΔRg| {round_trip:.3f} Å. Contacts: CA pairs |i − j| ≥ 6 closer than 8 Å in the real chain.", "",
             "| t0 | ᾱ | Rg real | Rg noisy | Rg denoised | contacts kept, noisy | contacts kept, denoised | "
             "mean dihedral error (rad) |", "|---|---|---|---|---|---|---|---|"]
    for r in rows:
        lines.append(f"| {r['t0']} | {r['alpha_bar']:.3f} | {r['rg_real']:.1f} | {r['rg_noisy']:.1f} | "
                     f"{r['rg_denoised']:.1f} | {r['contacts_kept_noisy']:.2f} | {r['contacts_kept_denoised']:.2f} | "
                     f"{r['dihedral_error_rad']:.3f} |")
    (RESULTS / "foldingdiff_denoise.md").write_text("\n".join(lines) + "\n")
    return report


if __name__ == "__main__":
    main()
