"""Gumbel-Softmax flow matching benchmarks (issues #5, #18).

python benchmarks/gumbel_flow.py toy        # toy simplex benchmark, K in {20..512}
python benchmarks/gumbel_flow.py guidance   # shipped models: guided vs unguided, distribution, speed
Each part merges its numbers into benchmarks/results/gumbel_flow.json and rewrites gumbel_flow.md.

Toy, the Dirichlet-FM toy harness (Stark et al. 2024, as re-used by Fisher-Flow's
``toy_dfm_datamodule.py``; the Gumbel-Softmax FM paper quotes it in its Table 7 caption): per position
(4 positions) a random categorical target p = softmax(U[0, 1]^K) (``--target softmax-uniform``, the
main case; ``dirichlet`` draws p ~ Dirichlet(1), a harder, peakier extra); a fixed training set of
``--toy-train`` sequences drawn from p (100,000 in the harness); the same MLP denoiser trained with
the same steps and batch for Gumbel-Softmax FM (cross-entropy on the Gumbel-Softmax interpolant) and
for a linear simplex FM baseline (x_t = (1 - t) x_0 + t e_k, x_0 ~ Dirichlet(1), velocity
(x_hat - x) / (1 - t)); 100 sampling steps. Gumbel FM is sampled by the paper's Euler ODE and by
predict-and-renoise (``models/gumbel_flow/flow.py``), each decoded two ways (a draw from the last x̂,
argmax of x). Metric: KL(empirical ‖ target) per position, averaged, over ``--toy-n`` samples
(51,200 in the harness), beside two floors at the same n: exact draws from p (the finite-sample
floor) and uniform letters (a sampler that ignores the data) — a method is only useful below the
uniform floor.
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from designer.models.gumbel_flow.flow import SAMPLERS, GumbelSchedule, interpolate
from designer.models.gumbel_flow.model import time_embedding

RESULTS = Path(__file__).resolve().parent / "results"
TOY_LENGTH = 4


class ToyDenoiser(nn.Module):
    """MLP over the flattened simplex points of all positions + time -> logits per position."""

    def __init__(self, k: int, hidden: int = 128) -> None:
        super().__init__()
        self.k, self.hidden = k, hidden
        self.net = nn.Sequential(nn.Linear(TOY_LENGTH * k + hidden, hidden), nn.SiLU(), nn.Linear(hidden, hidden),
                                 nn.SiLU(), nn.Linear(hidden, TOY_LENGTH * k))

    def forward(self, x: torch.Tensor, t: torch.Tensor, pad: torch.Tensor | None = None) -> torch.Tensor:
        h = torch.cat([torch.log(x.clamp_min(1e-8)).flatten(1) / 10, time_embedding(t, self.hidden)], -1)
        return self.net(h).view(-1, TOY_LENGTH, self.k)


def linear_interpolate(onehot: torch.Tensor, t: torch.Tensor, generator: torch.Generator) -> torch.Tensor:
    """Linear simplex FM path: x_t = (1 - t) x_0 + t e_k with x_0 ~ Dirichlet(1) (uniform on the simplex)."""
    x0 = -torch.log(torch.rand(onehot.shape, generator=generator).clamp_min(1e-12))
    x0 = x0 / x0.sum(-1, keepdim=True)
    tt = t[:, None, None]
    return (1 - tt) * x0 + tt * onehot


@torch.no_grad()
def linear_sample(model: nn.Module, n: int, k: int, steps: int, generator: torch.Generator,
                  final: str = "argmax") -> torch.Tensor:
    """Euler on dx/dt = (x_hat - x) / (1 - t) from x_0 ~ Dirichlet(1); letters = argmax x at t = 1 - dt,
    or (``final="sample"``) a draw from the last x_hat, the same decoding as the Gumbel sampler's default."""
    x = -torch.log(torch.rand((n, TOY_LENGTH, k), generator=generator).clamp_min(1e-12))
    x = x / x.sum(-1, keepdim=True)
    dt = 1.0 / steps
    for i in range(steps):
        t = torch.full((n,), i * dt)
        x_hat = torch.softmax(model(x, t), -1)
        x = x + dt * (x_hat - x) / (1 - t[:, None, None])
    if final == "argmax":
        return x.argmax(-1)
    return torch.multinomial(x_hat.reshape(-1, k), 1, generator=generator).reshape(n, TOY_LENGTH)


def kl_empirical(letters: np.ndarray, target: np.ndarray) -> float:
    """Mean over positions of KL(empirical ‖ target)."""
    k = target.shape[1]
    out = []
    for pos in range(target.shape[0]):
        q = np.bincount(letters[:, pos], minlength=k) / len(letters)
        nz = q > 0
        out.append(float(np.sum(q[nz] * np.log(q[nz] / target[pos, nz]))))
    return float(np.mean(out))


def toy_target(kind: str, k: int, seed: int) -> np.ndarray:
    """(4, K) per-position categorical targets: softmax(U[0, 1]) (the harness) or Dirichlet(1)."""
    rng = np.random.default_rng(seed)
    if kind == "softmax-uniform":
        logits = rng.random((TOY_LENGTH, k))
        return np.exp(logits) / np.exp(logits).sum(1, keepdims=True)
    if kind == "dirichlet":
        return rng.dirichlet(np.ones(k), size=TOY_LENGTH)
    raise ValueError(f"toy target {kind!r}: expected softmax-uniform or dirichlet")


def train_toy(method: str, train_set: torch.Tensor, k: int, steps: int, batch: int) -> tuple[nn.Module, dict]:
    """The toy MLP trained on batches of the fixed training set; returns it and its timing/loss."""
    torch.manual_seed(0)
    generator = torch.Generator().manual_seed(0)
    model = ToyDenoiser(k)
    opt = torch.optim.AdamW(model.parameters(), lr=1e-3)
    schedule = GumbelSchedule()
    started = time.time()
    for _ in range(steps):
        letters = train_set[torch.randint(0, len(train_set), (batch,), generator=generator)]
        onehot = F.one_hot(letters, k).float()
        t = torch.rand(batch, generator=generator)
        if method == "gumbel":
            x_t = interpolate(onehot, t, schedule, generator)
        else:
            t = t * 0.99  # the linear velocity diverges at t = 1
            x_t = linear_interpolate(onehot, t, generator)
        loss = F.cross_entropy(model(x_t, t).transpose(1, 2), letters)
        opt.zero_grad()
        loss.backward()
        opt.step()
    return model.eval(), {"train_s": round(time.time() - started, 1), "final_ce": round(loss.item(), 4)}


def toy(args: argparse.Namespace) -> dict[str, Any]:
    rows = []
    start_all = time.time()
    chunk = 12800  # samples per sampling batch (memory: 4 × K floats per sample and step)
    for k in args.ks:
        target = toy_target(args.target, k, seed=k)
        rng = np.random.default_rng(10_000 + k)
        train_set = torch.from_numpy(np.stack([rng.choice(k, size=args.toy_train, p=target[p])
                                               for p in range(TOY_LENGTH)], 1))
        row: dict[str, Any] = {"K": k}
        exact = np.stack([rng.choice(k, size=args.toy_n, p=target[p]) for p in range(TOY_LENGTH)], 1)
        row["floor_exact_kl"] = kl_empirical(exact, target)
        row["floor_uniform_kl"] = kl_empirical(rng.integers(0, k, size=(args.toy_n, TOY_LENGTH)), target)
        model, info = train_toy("gumbel", train_set, k, args.toy_steps, args.toy_batch)
        row.update({f"gumbel_{key}": value for key, value in info.items()})
        for sampler in ("euler", "renoise"):
            generator = torch.Generator().manual_seed(1)
            started = time.time()
            parts = [SAMPLERS[sampler](model, (min(chunk, args.toy_n - i), TOY_LENGTH, k), GumbelSchedule(),
                                       steps=100, generator=generator, final="both")
                     for i in range(0, args.toy_n, chunk)]
            both = torch.cat(parts, 1).numpy()
            row[f"gumbel_{sampler}_kl_draw"] = kl_empirical(both[0], target)
            row[f"gumbel_{sampler}_kl_argmax_x"] = kl_empirical(both[1], target)
            row[f"gumbel_{sampler}_sample_s"] = round(time.time() - started, 1)
        if not args.no_linear:
            model, info = train_toy("linear", train_set, k, args.toy_steps, args.toy_batch)
            row.update({f"linear_{key}": value for key, value in info.items()})
            row["linear_kl_argmax_x"] = kl_empirical(linear_sample(model, args.toy_n, k, 100,
                                                                   torch.Generator().manual_seed(1)).numpy(), target)
            row["linear_kl_draw"] = kl_empirical(linear_sample(model, args.toy_n, k, 100,
                                                               torch.Generator().manual_seed(1), final="sample"
                                                               ).numpy(), target)
        print(json.dumps(row), flush=True)
        rows.append(row)
    return {"rows": rows, "target": args.target, "steps": args.toy_steps, "batch": args.toy_batch,
            "train_set": args.toy_train, "n_samples": args.toy_n, "positions": TOY_LENGTH, "sampling_steps": 100,
            "seconds": round(time.time() - start_all), "paper": {"gumbel_kl_K20": 0.029, "gumbel_kl_K512": 0.048}}


def kmer_spectrum(sequences: list[str], k: int = 3) -> dict[str, float]:
    """Normalised k-mer counts over all sequences."""
    counts: dict[str, int] = {}
    for s in sequences:
        for i in range(len(s) - k + 1):
            counts[s[i:i + k]] = counts.get(s[i:i + k], 0) + 1
    total = max(1, sum(counts.values()))
    return {key: v / total for key, v in counts.items()}


def spectrum_l1(a: list[str], b: list[str]) -> float:
    """L1 distance between 3-mer spectra (0 = identical, 2 = disjoint)."""
    sa, sb = kmer_spectrum(a), kmer_spectrum(b)
    return float(sum(abs(sa.get(key, 0) - sb.get(key, 0)) for key in set(sa) | set(sb)))


def composition_kl(a: list[str], b: list[str], letters: str) -> float:
    """KL(composition of a ‖ composition of b), pseudocount 1."""
    ca = np.array([sum(s.count(c) for s in a) for c in letters], float) + 1
    cb = np.array([sum(s.count(c) for s in b) for c in letters], float) + 1
    p, q = ca / ca.sum(), cb / cb.sum()
    return float(np.sum(p * np.log(p / q)))


def mean_pairwise_identity(sequences: list[str], pairs: int = 2000, seed: int = 0) -> float:
    """Mean fraction of identical letters over the shorter length, for random pairs."""
    rng = np.random.default_rng(seed)
    values = []
    for _ in range(pairs):
        i, j = rng.choice(len(sequences), 2, replace=False)
        a, b = sequences[i], sequences[j]
        n = min(len(a), len(b))
        values.append(sum(x == y for x, y in zip(a[:n], b[:n], strict=True)) / n)
    return float(np.mean(values))


def mean_std(values: list[int]) -> list[float]:
    return [float(np.mean(values)), float(np.std(values))]


def independent_oracle(which: str, data: Any) -> tuple[str, Any]:
    """An oracle the guide was not trained on: name and ``f(list[str]) -> array``."""
    from Bio.SeqUtils.ProtParam import ProteinAnalysis
    from sklearn.linear_model import LogisticRegression, Ridge

    from designer.models.gumbel_flow.data import encode, load_set

    def onehot_features(sequences: list[str], alphabet: str, width: int) -> np.ndarray:
        tokens, pad = encode(sequences, alphabet, width)
        k = 20 if alphabet == "protein" else 4
        x = F.one_hot(tokens, k).float() * (~pad)[..., None]
        return x.flatten(1).numpy()

    if which == "peptide":
        # a different data set (AMP vs transmembrane peptides) and a different model class: logistic
        # regression on amino-acid composition + dipeptide-free length features
        tm = load_set("amp_tm", 60)
        letters = "ACDEFGHIKLMNPQRSTVWY"

        def features(sequences: list[str]) -> np.ndarray:
            return np.array([[s.count(c) / len(s) for c in letters] + [len(s) / 50] for s in sequences])

        model = LogisticRegression(max_iter=2000).fit(features(tm.sequences), tm.values)
        return "amp_tm_logreg", lambda seqs: model.predict_proba(features(seqs))[:, 1]
    if which == "dna":
        # ridge regression on one-hot (additive model) fitted on the guide's held-out test split only
        rows = data.split == 2
        seqs = [s for s, r in zip(data.sequences, rows, strict=True) if r]
        model = Ridge(alpha=10.0).fit(onehot_features(seqs, "dna", 75), data.values[rows])
        return "activity_ridge_on_test_split", lambda s: model.predict(onehot_features(list(s), "dna", 75))
    return "protparam_gravy", lambda seqs: np.array([ProteinAnalysis(s).gravy() for s in seqs])


def guidance(args: argparse.Namespace) -> dict[str, Any]:
    from designer.candidates import ALPHABETS
    from designer.models.gumbel_flow.data import load_set
    from designer.models.gumbel_flow.sample import load_shipped

    table: dict[str, Any] = {}
    distribution: dict[str, Any] = {}
    for which in args.models:
        gen = load_shipped(which)
        guide = gen.guide
        # the data set, length limit, split seed and flow subset the checkpoint was trained with (its card)
        trained = gen.card["config"]
        data = load_set(trained["data"]["set"], int(trained["data"]["max_len"]), seed=int(trained.get("seed", 0)))
        flow_rows = (data.values == 1) if trained["data"].get("flow_on", "all") != "all" \
            else np.ones(len(data.sequences), bool)
        train = {s for s, r, sp in zip(data.sequences, flow_rows, data.split, strict=True) if r and sp != 2}
        held = [s for s, r, sp in zip(data.sequences, flow_rows, data.split, strict=True) if r and sp == 2]
        train_list = [s for s, r, sp in zip(data.sequences, flow_rows, data.split, strict=True) if r and sp == 0]
        oracle_name, oracle = independent_oracle(which, data)
        target = gen.conditions[guide.name].default
        threshold = 0.5 if guide.task == "classifier" else float(np.median(guide.score(train_list)))
        rows = {}
        for gamma in args.gammas:
            t0 = time.time()
            seqs = gen.sample(args.n, {guide.name: target} if gamma > 0 else {}, guidance=gamma, seed=0)
            seconds = time.time() - t0
            scores = guide.score(seqs)
            rows[f"gamma={gamma:g}"] = {
                "mean_guide": float(scores.mean()), "frac_above_threshold": float((scores > threshold).mean()),
                "threshold": threshold, f"mean_{oracle_name}": float(np.mean(oracle(seqs))),
                "mean_pairwise_identity": mean_pairwise_identity(seqs),
                "novel": float(np.mean([s not in train for s in seqs])),
                "unique": len(set(seqs)) / len(seqs), "seconds": round(seconds, 1)}
            if gamma == 0:
                distribution[which] = {
                    "kmer3_l1_generated_vs_heldout": spectrum_l1(seqs, held),
                    "kmer3_l1_train_sample_vs_heldout": spectrum_l1(train_list[:len(seqs)], held),
                    "composition_kl_generated_vs_heldout": composition_kl(seqs, held, ALPHABETS[gen.alphabet]),
                    "composition_kl_train_sample_vs_heldout": composition_kl(train_list[:len(seqs)], held,
                                                                             ALPHABETS[gen.alphabet]),
                    "length_mean_std_generated": mean_std([len(s) for s in seqs]),
                    "length_mean_std_heldout": mean_std([len(s) for s in held]),
                    "n_generated": len(seqs), "n_heldout": len(held)}
            print(which, gamma, json.dumps(rows[f"gamma={gamma:g}"]), flush=True)
        reference = guide.score(held)
        rows["heldout_data"] = {"mean_guide": float(reference.mean()),
                                "frac_above_threshold": float((reference > threshold).mean()),
                                f"mean_{oracle_name}": float(np.mean(oracle(held)))}
        table[which] = {"guide": guide.name, "target": target, "n": args.n, "seed": 0,
                        "independent_oracle": oracle_name, "rows": rows}
    speed = {}
    if "protein" in args.models:
        gen = load_shipped("protein")
        for length in (50, 128):
            t0 = time.time()
            gen.sample(args.speed_n, {}, seed=0, lengths=length, batch_size=args.speed_n)
            speed[f"length_{length}"] = round(args.speed_n / (time.time() - t0), 2)
        speed["note"] = (f"sequences/s, unguided, 100 Euler steps, batch {args.speed_n}, protein model (3 layers, "
                         "width 128), 1 torch thread on a CPU shared with other jobs")
    return {"guidance": table, "distribution": distribution, "speed": speed}


def write(results: dict[str, Any]) -> None:
    RESULTS.mkdir(exist_ok=True)
    path = RESULTS / "gumbel_flow.json"
    merged = json.loads(path.read_text()) if path.exists() else {}
    for key, value in results.items():  # sections merge, so models and toy settings can be run separately
        if isinstance(value, dict) and isinstance(merged.get(key), dict):
            merged[key].update(value)
        else:
            merged[key] = value
    path.write_text(json.dumps(merged, indent=1) + "\n")
    lines = ["# Gumbel-Softmax flow matching benchmarks", "", "Produced by `python benchmarks/gumbel_flow.py toy` "
             "and `... guidance` (see the script's docstring for the protocol).", ""]
    for label, toy_ in merged.get("toy", {}).items():
        lines += [f"## Toy simplex benchmark: {label}", "",
                  f"{toy_['positions']} positions, target {toy_['target']}; training set {toy_['train_set']:,} "
                  f"sequences; same MLP, {toy_['steps']:,} steps × batch {toy_['batch']} per method; "
                  f"{toy_['sampling_steps']} sampling steps; KL(empirical ‖ target) over {toy_['n_samples']:,} "
                  "samples. Floors at the same n: exact draws from the target, and uniform letters (ignores the "
                  "data). Paper (Gumbel FM, Euler): 0.029 (K = 20), 0.048 (K = 512).", "",
                  "| K | Euler, draw x̂ | Euler, argmax x | renoise, draw x̂ | renoise, argmax x | linear FM, draw x̂ "
                  "| linear FM, argmax x | uniform floor | exact floor | train s |",
                  "|---|---|---|---|---|---|---|---|---|---|"]
        for r in toy_["rows"]:
            linear = (f"{r['linear_kl_draw']:.4f} | {r['linear_kl_argmax_x']:.4f}" if "linear_kl_draw" in r
                      else "— | —")
            lines.append(f"| {r['K']} | {r['gumbel_euler_kl_draw']:.4f} | {r['gumbel_euler_kl_argmax_x']:.4f} | "
                         f"{r['gumbel_renoise_kl_draw']:.4f} | {r['gumbel_renoise_kl_argmax_x']:.4f} | {linear} | "
                         f"{r['floor_uniform_kl']:.4f} | {r['floor_exact_kl']:.4f} | {r['gumbel_train_s']:.0f} |")
        lines.append("")
    for section in ("guidance", "distribution", "speed"):
        if section in merged:
            lines += [f"## {section}", "", "```", json.dumps(merged[section], indent=1), "```", ""]
    (RESULTS / "gumbel_flow.md").write_text("\n".join(lines))
    cards(merged)


def cards(merged: dict[str, Any]) -> None:
    """Copy the numbers into the shipped models' JSON cards (``benchmark`` key)."""
    from designer.models.gumbel_flow.sample import CHECKPOINT_DIR, SHIPPED

    toy_summary = {label: {f"K={r['K']}": {"euler_draw": round(r["gumbel_euler_kl_draw"], 4),
                                            "renoise_draw": round(r["gumbel_renoise_kl_draw"], 4),
                                            "uniform_floor": round(r["floor_uniform_kl"], 4)}
                           for r in toy_["rows"]} for label, toy_ in merged.get("toy", {}).items()}
    for which, stem in SHIPPED.items():
        path = CHECKPOINT_DIR / f"{stem}.json"
        if not path.exists():
            continue
        card = json.loads(path.read_text())
        card["benchmark"] = {"command": "python benchmarks/gumbel_flow.py toy; "
                                        "python benchmarks/gumbel_flow.py guidance",
                             "toy_kl": toy_summary, "guidance": merged.get("guidance", {}).get(which),
                             "distribution": merged.get("distribution", {}).get(which),
                             "speed_seq_per_s": merged.get("speed") or None}
        path.write_text(json.dumps(card, indent=1, default=str) + "\n")


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("part", choices=["toy", "guidance"])
    parser.add_argument("--ks", type=int, nargs="+", default=[20, 40, 80, 160, 512])
    parser.add_argument("--target", choices=["softmax-uniform", "dirichlet"], default="softmax-uniform")
    parser.add_argument("--toy-steps", type=int, default=20000)
    parser.add_argument("--toy-batch", type=int, default=256)
    parser.add_argument("--toy-train", type=int, default=100000)
    parser.add_argument("--toy-n", type=int, default=51200)
    parser.add_argument("--no-linear", action="store_true", help="skip the linear simplex FM baseline")
    parser.add_argument("--n", type=int, default=200)
    parser.add_argument("--models", nargs="+", default=["peptide", "dna", "protein"])
    parser.add_argument("--gammas", type=float, nargs="+", default=[0.0, 2.0, 5.0])
    parser.add_argument("--speed-n", type=int, default=100)
    args = parser.parse_args(argv)
    torch.set_num_threads(1)
    if args.part == "toy":
        result = toy(args)
        write({"toy": {f"{args.target}, {args.toy_steps:,} steps": result}})
    else:
        write(guidance(args))


if __name__ == "__main__":
    main()
