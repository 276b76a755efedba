"""FoldingDiff benchmark: generated backbones vs held-out test chains (issue #8).

python benchmarks/foldingdiff.py [--n 500] [--subset 50] [--tm-refs 100]
Writes benchmarks/results/foldingdiff.{json,md} and foldingdiff_ramachandran.png (matplotlib).
Expensive checks (TM-align, ProteinMPNN) run on ``--subset`` structures per side; everything else on all n.
"""

from __future__ import annotations

import argparse
import json
import os
import time
from pathlib import Path
from typing import Any

import numpy as np
from scipy.stats import wasserstein_distance

from designer.models.foldingdiff.angles import ANGLE_NAMES, angle_mask, backbone_to_angles
from designer.models.foldingdiff.data import load_chains
from designer.models.foldingdiff.sample import load, load_default
from designer.oracles import structure

RESULTS = Path(__file__).resolve().parent / "results"


def angle_values(backbones: list[np.ndarray]) -> np.ndarray:
    """(N_residues, 6) of defined angles (NaN where undefined)."""
    rows = []
    for coords in backbones:
        a = backbone_to_angles(coords)
        a[~angle_mask(len(a))] = np.nan
        rows.append(a)
    return np.concatenate(rows)


def kl_hist(p_samples: np.ndarray, q_samples: np.ndarray, bins: int = 72) -> float:
    """KL(natural || generated) of 5-degree histograms on [-pi, pi) with a 1e-6 floor."""
    edges = np.linspace(-np.pi, np.pi, bins + 1)
    p = np.histogram(p_samples, edges)[0] + 1e-6
    q = np.histogram(q_samples, edges)[0] + 1e-6
    p, q = p / p.sum(), q / q.sum()
    return float(np.sum(p * np.log(p / q)))


def ramachandran(gen: np.ndarray, nat: np.ndarray, path: Path, bins: int = 90) -> None:
    """Side-by-side log-density Ramachandran plots (phi, psi in degrees): natural test left, generated right."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    figure, axes = plt.subplots(1, 2, figsize=(9, 4.2), sharey=True)
    for ax, a, title in zip(axes, (nat, gen), ("natural test chains", "generated"), strict=True):
        ok = ~np.isnan(a[:, 0]) & ~np.isnan(a[:, 1])
        ax.hist2d(np.degrees(a[ok, 0]), np.degrees(a[ok, 1]), bins=bins, range=[[-180, 180], [-180, 180]],
                  cmap="viridis", cmin=1, norm=matplotlib.colors.LogNorm(vmin=1))
        ax.set(title=f"{title} ({int(ok.sum()):,} residues)", xlabel="phi (deg)", xlim=(-180, 180), ylim=(-180, 180))
        ax.set_xticks(range(-180, 181, 90))
        ax.set_yticks(range(-180, 181, 90))
    axes[0].set_ylabel("psi (deg)")
    figure.tight_layout()
    figure.savefig(path, dpi=110)
    plt.close(figure)


def summary(values: list[float]) -> dict[str, float]:
    a = np.asarray(values, dtype=float)
    return {"mean": round(float(np.nanmean(a)), 4), "sd": round(float(np.nanstd(a)), 4)}


def rg_fit(backbones: list[np.ndarray]) -> dict[str, float]:
    """Rg = a * L^b least squares in log space."""
    lengths = np.array([len(b) for b in backbones])
    rg = np.array([structure.radius_of_gyration(b) for b in backbones])
    b, log_a = np.polyfit(np.log(lengths), np.log(rg), 1)
    return {"a": round(float(np.exp(log_a)), 3), "b": round(float(b), 3), "mean_rg": round(float(rg.mean()), 3)}


def self_consistency(group: list[np.ndarray], natural: list[np.ndarray], others: int = 5) -> dict[str, float]:
    """The self-consistency proxy that needs no folding model (issue #14, item 3): ProteinMPNN designs a
    sequence on each backbone (temperature 0.1, seed 0); its log-likelihood on that backbone is set
    against its mean log-likelihood threaded onto ``others`` natural test backbones of the same length
    (the first L residues of longer chains; never the backbone itself). A backbone whose design fits
    it much better than other folds of its length carries sequence-specific structure; a natural
    chain's gap is the reference."""
    own, gaps = [], []
    for index, coords in enumerate(group):
        length = len(coords)
        pool = [c[:length] for c in natural if len(c) >= length and c is not coords]
        picks = [pool[i] for i in np.random.default_rng(index).permutation(len(pool))[:others]]
        sequence, ll = structure.mpnn_design(coords)
        away = np.mean([structure.mpnn_sequence_ll(other, sequence) for other in picks])
        own.append(ll)
        gaps.append(ll - away)
    return {"own": summary(own)["mean"], "gap": summary(gaps)["mean"], "gap_sd": summary(gaps)["sd"],
            "fraction_gap_above_0.5": round(float(np.mean(np.asarray(gaps) > 0.5)), 4)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--n", type=int, default=500)
    parser.add_argument("--subset", type=int, default=50)
    parser.add_argument("--tm-refs", type=int, default=100)
    parser.add_argument("--batch-size", type=int, default=100)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--checkpoint", type=Path, help="a FoldingDiff checkpoint (default: the shipped one)")
    parser.add_argument("--precision", choices=["card", "float32", "bf16"], default="card",
                        help="the denoiser's arithmetic while sampling (default: as the checkpoint's card says)")
    args = parser.parse_args()
    import torch

    torch.set_num_threads(1)
    gen_model = load(args.checkpoint) if args.checkpoint else load_default()
    if args.precision != "card":
        gen_model.bfloat16 = args.precision == "bf16"
    chains = load_chains()
    test = [c for c, s in zip(chains.coords, chains.split, strict=True) if s == "test"]
    rng = np.random.default_rng(args.seed)
    lengths = [len(test[i]) for i in rng.integers(0, len(test), args.n)]  # match test lengths
    start = time.time()
    generated = gen_model.sample(args.n, {}, seed=args.seed, batch_size=args.batch_size, lengths=lengths)
    gen_seconds = time.time() - start
    speed: dict[str, float] = {"load_average_before": round(os.getloadavg()[0], 2)}
    for length in (64, 128):
        t0 = time.time()
        gen_model.sample(32, {}, seed=1, batch_size=32, lengths=[length] * 32)
        speed[f"backbones_per_s_L{length}"] = round(32 / (time.time() - t0), 3)
    torch.set_num_threads(2)  # the speed goal is on both cores (wall clock; depends on the load above)
    t0 = time.time()
    gen_model.sample(64, {}, seed=1, batch_size=64, lengths=[64] * 64)
    speed["backbones_per_s_L64_2_threads"] = round(64 / (time.time() - t0), 3)
    torch.set_num_threads(1)
    ga, na = angle_values(generated), angle_values(test)
    angles: dict[str, Any] = {}
    for j, name in enumerate(ANGLE_NAMES):
        g, t = ga[:, j][~np.isnan(ga[:, j])], na[:, j][~np.isnan(na[:, j])]
        angles[name] = {"kl_nat_gen": round(kl_hist(t, g), 4), "wasserstein_rad": round(wasserstein_distance(g, t), 4)}
    RESULTS.mkdir(exist_ok=True)
    ramachandran(ga, na, RESULTS / "foldingdiff_ramachandran.png")
    ss: dict[str, Any] = {}
    for label, group in (("generated", generated), ("natural_test", test)):
        states = [structure.dssp(b) for b in group]
        ss[label] = {"helix": summary([np.mean(s == "H") for s in states]),
                     "strand": summary([np.mean(s == "E") for s in states]),
                     "coil": summary([np.mean(s == "-") for s in states]),
                     "any_strand_fraction": round(float(np.mean([np.any(s == "E") for s in states])), 4)}
    geometry = {label: {"clash_rate": round(float(np.mean([structure.ca_clashes(b) > 0 for b in group])), 4),
                        "mean_clashes": round(float(np.mean([structure.ca_clashes(b) for b in group])), 3),
                        "ca_ca_bad_rate": round(float(np.mean([structure.ca_ca_bad(b) > 0 for b in group])), 4),
                        "rg_fit": rg_fit(group)}
                for label, group in (("generated", generated), ("natural_test", test))}
    sub_gen = generated[:args.subset]
    sub_nat = [test[i] for i in np.linspace(0, len(test) - 1, args.subset).astype(int)]
    t0 = time.time()
    tm_train = {label: summary([structure.max_tm_to_train(b, args.tm_refs) for b in group])
                for label, group in (("generated", sub_gen), ("natural_test", sub_nat))}
    pairwise = {}
    for label, group in (("generated", sub_gen), ("natural_test", sub_nat)):
        scores = [structure.tm_score(group[i], group[j]) for i in range(len(group)) for j in range(len(group)) if i < j]
        pairwise[label] = summary(scores)
    tm_seconds = time.time() - t0
    t0 = time.time()
    mpnn = {label: summary([structure.mpnn_ll(b) for b in group])
            for label, group in (("generated", sub_gen), ("natural_test", sub_nat))}
    consistency = {label: self_consistency(group, test)
                   for label, group in (("generated", sub_gen), ("natural_test", sub_nat))}
    mpnn_seconds = time.time() - t0
    result = {"checkpoint": str(args.checkpoint or "shipped"),
              "sampling_precision": "bf16" if gen_model.bfloat16 else "float32", "n_generated": args.n,
              "n_test_chains": len(test), "subset_for_tm_and_mpnn": args.subset,
              "tm_train_references": args.tm_refs, "diffusion_steps": gen_model.diffusion.steps,
              "generation_seconds": round(gen_seconds, 1), "speed": speed,
              "angles": angles, "secondary_structure": ss, "geometry": geometry,
              "max_tm_to_train": tm_train, "pairwise_tm": pairwise, "mpnn_mean_log_likelihood": mpnn,
              "mpnn_self_consistency": consistency,
              "tm_seconds": round(tm_seconds, 1), "mpnn_seconds": round(mpnn_seconds, 1),
              "checkpoint_card": {k: gen_model.card.get(k) for k in ("steps_trained", "train_seconds", "metrics")},
              "not_measured": "designability (scTM >= 0.5): needs a folding model (OmegaFold/ESMFold), "
                              "not available offline"}
    (RESULTS / "foldingdiff.json").write_text(json.dumps(result, indent=1) + "\n")
    steps = gen_model.diffusion.steps
    lines = [f"# FoldingDiff benchmark (n = {args.n} generated, {len(test)} test chains, T = {steps})",
             "", f"Checkpoint: {result['checkpoint']}; denoiser sampled in {result['sampling_precision']}.", "",
             "| angle | KL(natural‖generated) | Wasserstein (rad) |", "|---|---|---|"]
    lines += [f"| {k} | {v['kl_nat_gen']} | {v['wasserstein_rad']} |" for k, v in angles.items()]
    lines += ["", "| metric | generated | natural test |", "|---|---|---|"]
    for key in ("helix", "strand", "coil"):
        g, t = ss["generated"][key], ss["natural_test"][key]
        lines.append(f"| {key} fraction | {g['mean']} ± {g['sd']} | {t['mean']} ± {t['sd']} |")
    g_any, t_any = ss["generated"]["any_strand_fraction"], ss["natural_test"]["any_strand_fraction"]
    lines.append(f"| any β-strand | {g_any} | {t_any} |")
    for key in ("clash_rate", "mean_clashes", "ca_ca_bad_rate"):
        lines.append(f"| {key} | {geometry['generated'][key]} | {geometry['natural_test'][key]} |")
    lines.append(f"| Rg fit a·L^b | {geometry['generated']['rg_fit']} | {geometry['natural_test']['rg_fit']} |")
    lines.append(f"| max TM to train (subset {args.subset}, {args.tm_refs} refs) | {tm_train['generated']} | "
                 f"{tm_train['natural_test']} |")
    lines.append(f"| pairwise TM (subset {args.subset}) | {pairwise['generated']} | {pairwise['natural_test']} |")
    lines.append(f"| ProteinMPNN mean log-lik (subset {args.subset}) | {mpnn['generated']} | {mpnn['natural_test']} |")
    g, t = consistency["generated"], consistency["natural_test"]
    lines.append(f"| ProteinMPNN self-consistency: own − other same-length natural backbones (nats/res; subset "
                 f"{args.subset}) | {g['gap']} ± {g['gap_sd']} | {t['gap']} ± {t['gap_sd']} |")
    lines.append(f"| backbones whose design prefers them by > 0.5 nats/res | {g['fraction_gap_above_0.5']} | "
                 f"{t['fraction_gap_above_0.5']} |")
    lines += ["", f"Speed (1 CPU thread unless named, T = {steps}, batch 32; 2 threads: batch 64): {speed}",
              "", "Ramachandran plots (natural left, generated right): foldingdiff_ramachandran.png",
              "", f"Not measured: {result['not_measured']}."]
    (RESULTS / "foldingdiff.md").write_text("\n".join(lines) + "\n")
    print("\n".join(lines))


if __name__ == "__main__":
    main()
