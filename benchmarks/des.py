"""Benchmarks of the property ↔ SMILES transformers (issue #13).

    python benchmarks/des.py forward     # QM9 forward model on the test split, + correlation with xTB
    python benchmarks/des.py gin         # its GIN baseline at equal CPU time (two CPU-hours; commit state/des_gin.pt)
    python benchmarks/des.py inverse     # QM9 inverse models (autoregressive, diffusion): validity, control
    python benchmarks/des.py moses       # MOSES inverse model: MOSES metrics at n = 10,000, sampling speed
    python benchmarks/des.py guidance    # an inverse model's guidance scale on validation targets (the default)
    python benchmarks/des.py steps       # the QM9 diffusion model's solver and steps on validation targets
    python benchmarks/des.py multitask   # the joint prompt model vs the forward and inverse models it replaces

Each part merges its section into ``benchmarks/results/des.json`` and rewrites ``des.md``. Every
number is on the test split (QM9: the seeded 10 % the models never trained on or were chosen on;
MOSES: the MOSES test split); settings are never tuned here.

- Forward: MAE and R² per property on the QM9 test split. Baseline: a GIN (Xu et al. 2019; the
  torch_geometric ``GIN`` stack) on the 2-D molecular graph, trained on the same split with the same
  MSE on the same scaled targets for the same process CPU minutes the forward model's card records.
  For gap, HOMO, LUMO and μ also Pearson r of the forward model and of the DFT label against
  GFN2-xTB on ``--n-xtb`` test molecules (xTB geometry from ETKDG + MMFF, so r < 1 even for DFT).
- Inverse (QM9): ``--n`` samples unconditioned and conditioned on the properties of ``--n`` test
  molecules (all 12, and gap alone); validity, uniqueness, novelty vs the training SMILES; MAE
  |requested − achieved| conditioned vs unconditioned (ratio) scored by the forward model, which
  never saw the test molecules.

- MOSES: ``--n`` unconditional samples of the MOSES inverse model scored by the moses-package metrics
  (the same block and FCD floor as ``benchmarks/graph_dit.py``), and molecules per second for
  unconditional and guided (all four targets, the card's guidance scale) sampling on one thread. Its
  target control is measured by the shared protocol: ``python benchmarks/targets.py --models
  des-inverse-moses char-rnn``.

With ``--n-xtb`` the QM9 gap control is also checked by GFN2-xTB (:func:`xtb_gap_control`).
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path
from typing import Any

import numpy as np
import torch

from designer.models.des_transformer.data import QM9_PROPERTIES, MinMax, qm9_set
from designer.models.des_transformer.sample import CHECKPOINT_DIR, load_forward, load_inverse

RESULTS = Path(__file__).resolve().parent / "results"
# The GIN baseline's resumable state (~1 MB), committed so that its two CPU-hours survive a new machine.
GIN_STATE = Path(__file__).resolve().parent / "state" / "des_gin.pt"
XTB_PAIRS = {"gap": "xtb_gap", "homo": "xtb_homo", "lumo": "xtb_lumo", "mu": "xtb_dipole"}


def errors(true: np.ndarray, predicted: np.ndarray, names: tuple[str, ...]) -> dict[str, dict[str, float]]:
    """MAE and R² per property (rows with a NaN prediction left out and counted)."""
    out = {}
    for k, name in enumerate(names):
        ok = ~np.isnan(predicted[:, k])
        residual = true[ok, k] - predicted[ok, k]
        out[name] = {"mae": float(np.abs(residual).mean()),
                     "r2": float(1 - (residual ** 2).sum() / ((true[ok, k] - true[ok, k].mean()) ** 2).sum()),
                     "n": int(ok.sum())}
    return out


# -- GIN baseline --------------------------------------------------------------------------------
ELEMENTS = ("C", "N", "O", "F")


def graph(smiles: str, target: np.ndarray) -> Any:
    """A torch_geometric ``Data``: atom features (element, degree, charge, aromatic, H count,
    hybridisation one-hots), undirected bond edges, and the scaled targets."""
    from rdkit import Chem
    from torch_geometric.data import Data

    mol = Chem.MolFromSmiles(smiles)
    hybrid = (Chem.HybridizationType.SP, Chem.HybridizationType.SP2, Chem.HybridizationType.SP3)
    rows = []
    for atom in mol.GetAtoms():
        rows.append([atom.GetSymbol() == e for e in ELEMENTS] + [atom.GetDegree() == d for d in range(5)]
                    + [atom.GetFormalCharge() == c for c in (-1, 0, 1)] + [atom.GetIsAromatic()]
                    + [atom.GetTotalNumHs() == h for h in range(5)] + [atom.GetHybridization() == h for h in hybrid])
    edges = [(b.GetBeginAtomIdx(), b.GetEndAtomIdx()) for b in mol.GetBonds()]
    index = torch.tensor(edges + [(j, i) for i, j in edges], dtype=torch.long).reshape(-1, 2).T
    return Data(x=torch.tensor(rows, dtype=torch.float32), edge_index=index,
                y=torch.as_tensor(target, dtype=torch.float32)[None])


def gin_baseline(train: tuple[list[str], np.ndarray], test: tuple[list[str], np.ndarray], scaler: MinMax,
                 cpu_minutes: float, seed: int = 0,
                 state_path: Path | None = None) -> tuple[np.ndarray, dict[str, Any]]:
    """Train a 4-layer GIN (hidden 128, sum pooling, MLP head) for ``cpu_minutes`` of process CPU
    time; returns test predictions in reported units and the run's facts.

    With ``state_path`` the weights, optimizer, step count and CPU seconds spent are saved there every
    five CPU-minutes and picked up by the next call with the same budget and seed, so an interrupted
    two-hour baseline loses at most five minutes (the resumed run reshuffles its batches). Graph
    building is not counted: the transformer's budget does not count tokenising either.
    """
    from torch_geometric.loader import DataLoader
    from torch_geometric.nn import GIN, global_add_pool

    torch.manual_seed(seed)
    train_graphs = [graph(s, y) for s, y in zip(train[0], scaler.scale(train[1]), strict=True)]
    test_graphs = [graph(s, y) for s, y in zip(test[0], scaler.scale(test[1]), strict=True)]
    encoder = GIN(train_graphs[0].x.shape[1], 128, num_layers=4)
    head = torch.nn.Sequential(torch.nn.Linear(128, 128), torch.nn.ReLU(), torch.nn.Linear(128, train[1].shape[1]))
    params = [*encoder.parameters(), *head.parameters()]
    optimizer = torch.optim.Adam(params, lr=1e-3)
    spent, steps = 0.0, 0
    run_key = {"cpu_minutes": cpu_minutes, "seed": seed, "n_train": len(train_graphs)}
    if state_path is not None and state_path.exists():
        state = torch.load(state_path, weights_only=False)
        if state["run_key"] == run_key:
            encoder.load_state_dict(state["encoder"])
            head.load_state_dict(state["head"])
            optimizer.load_state_dict(state["optimizer"])
            spent, steps = state["cpu_seconds"], state["steps"]
            print(f"GIN resumed at step {steps:,}, {spent / 60:.1f} CPU-min", flush=True)

    def save() -> None:
        if state_path is not None:
            torch.save({"run_key": run_key, "encoder": encoder.state_dict(), "head": head.state_dict(),
                        "optimizer": optimizer.state_dict(), "cpu_seconds": spent, "steps": steps}, state_path)

    loader = DataLoader(train_graphs, batch_size=128, shuffle=True)
    start, last_save = time.process_time() - spent, spent
    while spent < cpu_minutes * 60:
        for batch in loader:
            loss = torch.nn.functional.mse_loss(head(global_add_pool(encoder(batch.x, batch.edge_index), batch.batch)),
                                                batch.y)
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
            steps += 1
            spent = time.process_time() - start
            if spent - last_save >= 300:
                save()
                last_save = spent
                print(f"GIN step {steps:,}, {spent / 60:.1f} CPU-min, loss {loss.item():.4f}", flush=True)
            if spent >= cpu_minutes * 60:
                break
    save()
    predictions = []
    with torch.no_grad():
        for batch in DataLoader(test_graphs, batch_size=512):
            predictions.append(head(global_add_pool(encoder(batch.x, batch.edge_index), batch.batch)).numpy())
    facts = {"steps": steps, "cpu_minutes": round(spent / 60, 1), "parameters": sum(p.numel() for p in params)}
    return scaler.unscale(np.concatenate(predictions)), facts


def xtb_values(smiles: list[str]) -> dict[str, np.ndarray]:
    import designer

    table = designer.score(smiles, list(XTB_PAIRS.values()), workers=1)
    return {prop: np.asarray(table.columns[oracle], dtype=float) for prop, oracle in XTB_PAIRS.items()}


def pearson(a: np.ndarray, b: np.ndarray) -> float:
    ok = ~(np.isnan(a) | np.isnan(b))
    return float(np.corrcoef(a[ok], b[ok])[0, 1])


def forward(args: argparse.Namespace) -> dict[str, Any]:
    """The forward model on the QM9 test split, and its Pearson r against GFN2-xTB (beside DFT's)."""
    torch.set_num_threads(1)
    test = qm9_set(seed=0).part(2)
    predictor = load_forward(CHECKPOINT_DIR / "qm9_forward.pt")
    if args.limit:
        test = (test[0][:args.limit], test[1][:args.limit])
    predicted, _ = predictor.predict(test[0])
    rng = np.random.default_rng(0)
    picked = rng.choice(len(test[0]), size=min(args.n_xtb, len(test[0])), replace=False)
    xtb = xtb_values([test[0][i] for i in picked])
    columns = {name: k for k, name in enumerate(QM9_PROPERTIES)}
    correlation = {prop: {"forward_vs_xtb": pearson(predicted[picked, columns[prop]], values),
                          "dft_vs_xtb": pearson(test[1][picked, columns[prop]], values)}
                   for prop, values in xtb.items()}
    training = predictor.meta["training"]
    return {"forward": {"n_test": len(test[0]), "transformer": errors(test[1], predicted, QM9_PROPERTIES),
                        "transformer_training": {"cpu_minutes": training["cpu_minutes"], "steps": training["steps"]},
                        "xtb_correlation": correlation, "n_xtb": len(picked)}}


def gin(args: argparse.Namespace) -> dict[str, Any]:
    """The GIN baseline for the forward model: same split, scaled targets and process CPU minutes as the
    forward model's card records; resumable across sessions from the committed ``GIN_STATE``."""
    torch.set_num_threads(1)
    data = qm9_set(seed=0)
    train, test = data.part(0), data.part(2)
    if args.limit:
        test = (test[0][:args.limit], test[1][:args.limit])
    predictor = load_forward(CHECKPOINT_DIR / "qm9_forward.pt")
    GIN_STATE.parent.mkdir(parents=True, exist_ok=True)
    minutes = args.gin_minutes or float(predictor.meta["training"]["cpu_minutes"])
    predicted, facts = gin_baseline(train, test, predictor.scaler, minutes, state_path=GIN_STATE)
    return {"forward_gin": {"n_test": len(test[0]), "gin": errors(test[1], predicted, QM9_PROPERTIES),
                            "gin_training": facts}}


def control(generate: Any, requested: np.ndarray, settings: dict[str, list[str]], scorer: Any,
            training: set[str], n: int, samples: dict[str, list[str | None]] | None = None) -> dict[str, Any]:
    """Validity/uniqueness/novelty and MAE ratios per setting; ``generate(n, targets, seed)``. The
    samples of each setting go into ``samples`` when it is given."""
    from designer import metrics

    started = time.time()
    base = generate(n, {}, 0)
    base_seconds = time.time() - started
    base_values, _ = scorer(base)
    rows: dict[str, Any] = {}
    for setting, names in settings.items():
        started = time.time()
        targets = {name: requested[:n, QM9_PROPERTIES.index(name)] for name in names}
        smiles = generate(n, targets, 1) if names else base
        seconds = time.time() - started if names else base_seconds
        valid = metrics.valid_smiles(smiles)
        row: dict[str, Any] = {"valid": metrics.validity(smiles), "unique": metrics.uniqueness(valid),
                               "novel": metrics.novelty(valid, training), "mol_per_s": round(n / seconds, 2)}
        values, _ = scorer(smiles)
        for name in names:
            k = QM9_PROPERTIES.index(name)
            mae = float(np.nanmean(np.abs(values[:, k] - requested[:n, k])))
            base_mae = float(np.nanmean(np.abs(base_values[:, k] - requested[:n, k])))
            row[name] = {"mae": mae, "mae_unconditional": base_mae, "ratio": mae / base_mae}
        rows[setting or "unconditional"] = row
        if samples is not None:
            samples[setting or "unconditional"] = smiles
        print(setting, json.dumps(row)[:300], flush=True)
    return rows


def inverse(args: argparse.Namespace) -> dict[str, Any]:
    torch.set_num_threads(1)
    data = qm9_set(seed=0)
    training = set(data.part(0)[0])
    requested = data.part(2)[1][np.random.default_rng(1).permutation(len(data.part(2)[0]))]
    scorer = load_forward(CHECKPOINT_DIR / "qm9_forward.pt").predict
    settings = {"": [], "all 12": list(QM9_PROPERTIES), "gap alone": ["gap"]}
    out: dict[str, Any] = {}
    calibration = None
    for stem in args.models:
        path = CHECKPOINT_DIR / f"{stem}.pt"
        if not path.exists():
            continue
        gen = load_inverse(path, name=stem)
        samples: dict[str, list[str | None]] = {}
        out[stem] = control(lambda n, t, seed, g=gen: g.sample(n, t, guidance=args.guidance, seed=seed),
                            requested, settings, scorer, training, args.n, samples)
        if args.n_xtb:
            calibration = calibration or xtb_gap_calibration(data.part(0), args.n_xtb)
            out[stem]["gap alone"]["xtb"] = xtb_gap_control(samples, requested[:args.n, QM9_PROPERTIES.index("gap")],
                                                            calibration, args.n_xtb)
    return {"inverse": out}


def xtb_gap_calibration(train: tuple[list[str], np.ndarray], n: int) -> tuple[float, float]:
    """GFN2-xTB gaps are smaller than QM9's DFT gaps: the line xTB = a·DFT + b fitted on ``n`` training
    molecules maps a requested DFT gap onto the xTB scale."""
    picked = np.random.default_rng(3).choice(len(train[0]), size=n, replace=False)
    xtb = xtb_values([train[0][i] for i in picked])["gap"]
    dft = train[1][picked, QM9_PROPERTIES.index("gap")]
    ok = np.isfinite(xtb)
    slope, intercept = np.polyfit(dft[ok], xtb[ok], 1)
    return float(slope), float(intercept)


def xtb_gap_control(samples: dict[str, list[str | None]], requested_gap: np.ndarray, calibration: tuple[float, float],
                    n: int) -> dict[str, Any]:
    """Gap control checked by physics instead of the forward model: GFN2-xTB gap of the first ``n``
    samples asked for the gap alone vs of unconditional samples, against the requested gap mapped to
    the xTB scale (MAE ratio) and as Pearson r (requested DFT gap vs xTB gap)."""
    slope, intercept = calibration
    wanted = slope * requested_gap[:n] + intercept
    result: dict[str, Any] = {"n": n, "calibration": {"slope": round(slope, 4), "intercept": round(intercept, 4)}}
    errors_by = {}
    for label, key in (("conditional", "gap alone"), ("unconditional", "unconditional")):
        gap = xtb_values([s or "" for s in samples[key][:n]])["gap"]
        errors_by[label] = float(np.nanmean(np.abs(gap - wanted)))
        result[f"pearson_{label}"] = round(pearson(requested_gap[:n], gap), 3)
        result[f"mae_{label}"] = round(errors_by[label], 4)
    result["ratio"] = round(errors_by["conditional"] / errors_by["unconditional"], 3)
    return result


def moses(args: argparse.Namespace) -> dict[str, Any]:
    from graph_dit import fcd_floor, moses_block  # the MOSES metrics block Graph DiT is measured with

    from designer import metrics
    from designer.data import moses_smiles, moses_test_stats

    torch.set_num_threads(1)
    test, test_stats = moses_smiles("test"), moses_test_stats("test")
    data = {"test_stats": test_stats, "train": set(moses_smiles("train")),
            "floor": lambda n_valid: fcd_floor(n_valid, test, test_stats)}
    cache = RESULTS / ".cache" / "des"
    cache.mkdir(parents=True, exist_ok=True)
    out: dict[str, Any] = {}
    for stem in args.models:
        path = CHECKPOINT_DIR / f"{stem}.pt"
        if not path.exists():
            continue
        gen = load_inverse(path, name=stem)
        started = time.time()
        smiles = gen.sample(args.n, {}, seed=0, progress=True)
        seconds = time.time() - started
        block = moses_block(smiles, seconds, data, cache / f"{stem}_uncond.metrics.json")
        targets = {name: condition.default for name, condition in gen.conditions.items()}
        started = time.time()
        guided = gen.sample(args.n_speed, targets, seed=1)
        block["guided_mol_per_s"] = round(args.n_speed / (time.time() - started), 2)
        block["guided_valid"] = metrics.validity(guided)
        block["guidance"] = gen.default_guidance
        out[stem] = block
        print(stem, json.dumps(block), flush=True)
    return {"moses": out}


def guidance(args: argparse.Namespace) -> dict[str, Any]:
    """Guidance-scale sweep of an inverse model on *validation* targets; picks the card's default.

    MOSES models: the QED, SA, logP and MW of ``--n`` MOSES train molecules outside the 120k training
    subset (the draw ``graph_dit_training.py`` uses), all four given; the default is the scale with the
    lowest mean QED and logP ratio (the issue's goals). QM9 models (stems ``qm9_*``): ``--n`` molecules
    of the QM9 validation split, asked for the gap alone and for all 12 properties, scored by the forward
    model; the default is the scale with the lowest gap ratio (the issue's goal) averaged over the two.
    Either way only scales keeping at least 90 % of the validity at scale 1 (the conditional model
    without guidance) are eligible. Ratio = MAE conditioned / unconditioned.
    """
    torch.set_num_threads(1)
    out: dict[str, Any] = {}
    for stem in args.models:
        gen = load_inverse(CHECKPOINT_DIR / f"{stem}.pt", name=stem)
        sweep = qm9_scale_rows if stem.startswith("qm9") else moses_scale_rows
        targets, rows = sweep(gen, args.n, args.scales)
        floor = 0.9 * next(r["valid"] for r in rows if r["scale"] == 1)
        eligible = [r for r in rows if r["valid"] >= floor] or rows
        chosen = min(eligible, key=lambda r: r["criterion"])["scale"]
        out[stem] = {"n": args.n, "targets": targets, "rows": rows, "chosen": chosen}
    return {"guidance": out}


def diffusion_steps(args: argparse.Namespace) -> dict[str, Any]:
    """Solver and steps of the token-diffusion model on *validation* targets; picks the card's default.

    ``--n`` molecules of the QM9 validation split, gap alone, scale 1 (conditional, one network pass
    per evaluation, so the sweep is affordable before the guidance sweep, which then runs at the chosen
    setting). Per solver (``--solvers``: the reference's ancestral ADPM2, Heun's ODE) and step count:
    validity, gap MAE ratio (forward model) and molecules per second. The default is the cheapest row
    (fewest steps, then the solvers' order) whose validity and gap ratio are within 0.02 of the most valid
    row's.
    """
    from designer import metrics

    torch.set_num_threads(1)
    requested = qm9_validation_targets(args.n)
    scorer = load_forward(CHECKPOINT_DIR / "qm9_forward.pt").predict
    k = QM9_PROPERTIES.index("gap")
    out: dict[str, Any] = {}
    for stem in args.models:
        gen = load_inverse(CHECKPOINT_DIR / f"{stem}.pt", name=stem)
        rows = []
        for solver in args.solvers:
            for steps in sorted(args.steps_swept):
                gen.solver, gen.steps = solver, steps
                base_gap = scorer(gen.sample(args.n, {}, seed=0))[0][:, k]
                started = time.perf_counter()
                smiles = gen.sample(args.n, {"gap": requested[:, k]}, guidance=1.0, seed=1)
                seconds = time.perf_counter() - started
                gap = scorer(smiles)[0][:, k]
                row = {"solver": solver, "steps": steps, "valid": round(metrics.validity(smiles), 4),
                       "mol_per_s": round(args.n / seconds, 2),
                       "gap_ratio": round(mae_ratio(gap, base_gap, requested[:, k]), 3)}
                print(stem, json.dumps(row), flush=True)
                rows.append(row)
        best = max(rows, key=lambda r: (r["valid"], -r["gap_ratio"]))
        cheapest = sorted(rows, key=lambda r: (r["steps"], args.solvers.index(r["solver"])))
        chosen = next(r for r in cheapest if r["valid"] >= best["valid"] - 0.02
                      and r["gap_ratio"] <= best["gap_ratio"] + 0.02)
        out[stem] = {"n": args.n, "rows": rows, "chosen": chosen["steps"], "chosen_solver": chosen["solver"]}
    return {"diffusion_steps": out}


def qm9_validation_targets(n: int) -> np.ndarray:
    """(n, 12) properties of ``n`` molecules of the QM9 validation split (seeded draw): the targets the
    sampling defaults are chosen on."""
    validation = qm9_set(seed=0).part(1)[1]
    return validation[np.random.default_rng(1).choice(len(validation), size=n, replace=False)]


def mae_ratio(achieved: np.ndarray, unconditioned: np.ndarray, requested: np.ndarray) -> float:
    """MAE |requested − achieved| conditioned over unconditioned (NaN for invalid samples skipped)."""
    return float(np.nanmean(np.abs(achieved - requested)) / np.nanmean(np.abs(unconditioned - requested)))


def moses_scale_rows(gen: Any, n: int, scales: list[float]) -> tuple[str, list[dict[str, Any]]]:
    from graph_dit import PROPS, achieved
    from graph_dit_guidance import scale_row  # the row Graph DiT's sweep reports
    from graph_dit_training import validation_targets

    requested = validation_targets(n, 120_000, 0)
    targets = {p: requested[:, k] for k, p in enumerate(PROPS)}
    base = achieved(gen.sample(n, {}, seed=0))
    rows = []
    for scale in scales:
        started = time.perf_counter()
        smiles = gen.sample(n, targets, guidance=scale, seed=1)
        row = scale_row(scale, smiles, time.perf_counter() - started, requested, base)
        row["criterion"] = (row["qed"]["ratio"] + row["logp"]["ratio"]) / 2
        print(json.dumps(row), flush=True)
        rows.append(row)
    return (f"MOSES train molecules outside the 120k subset (validation), all four given; unconditional "
            f"validity {float(np.isfinite(base).all(axis=1).mean()):.3f}"), rows


def qm9_scale_rows(gen: Any, n: int, scales: list[float]) -> tuple[str, list[dict[str, Any]]]:
    from designer import metrics

    requested = qm9_validation_targets(n)
    scorer = load_forward(CHECKPOINT_DIR / "qm9_forward.pt").predict
    k = QM9_PROPERTIES.index("gap")
    base_gap = scorer(gen.sample(n, {}, seed=0))[0][:, k]
    rows = []
    for scale in scales:
        row: dict[str, Any] = {"scale": scale}
        seconds, valid = 0.0, []
        for setting, names in (("gap alone", ["gap"]), ("all 12", list(QM9_PROPERTIES))):
            started = time.perf_counter()
            smiles = gen.sample(n, {p: requested[:, QM9_PROPERTIES.index(p)] for p in names}, guidance=scale,
                                seed=1)
            seconds += time.perf_counter() - started
            gap = scorer(smiles)[0][:, k]
            ok = np.isfinite(gap)
            valid.append(metrics.validity(smiles))
            row[setting] = {"valid": round(valid[-1], 4),
                            "gap_ratio": round(mae_ratio(gap, base_gap, requested[:, k]), 3),
                            "gap_corr": round(float(np.corrcoef(requested[ok, k], gap[ok])[0, 1]), 3)}
        row["valid"] = round(float(np.mean(valid)), 4)
        row["mol_per_s"] = round(2 * n / seconds, 2)
        row["criterion"] = (row["gap alone"]["gap_ratio"] + row["all 12"]["gap_ratio"]) / 2
        print(json.dumps(row), flush=True)
        rows.append(row)
    return "QM9 validation split (seeded 10 %), scored by the forward model", rows


def multitask(args: argparse.Namespace) -> dict[str, Any]:
    """The joint prompt model against the two single-task models it replaces (the paper's claim: as good
    or better). Forward: MAE and R² on the first ``--n`` QM9 test molecules, multi-task vs the forward
    model. Inverse: ``--n-targets`` test molecules' properties (gap alone, and all 12), ``--per-target``
    samples each from the multi-task model and from the autoregressive inverse model, scored by the
    forward model; MAE ratio against each model's own unconditional samples."""
    from designer import metrics
    from designer.models.des_transformer.sample import load_multitask

    torch.set_num_threads(1)
    data = qm9_set(seed=0)
    training = set(data.part(0)[0])
    test_smiles, test_values = data.part(2)
    joint = load_multitask(CHECKPOINT_DIR / "qm9_multitask.pt")
    forward_model = load_forward(CHECKPOINT_DIR / "qm9_forward.pt")
    single = load_inverse(CHECKPOINT_DIR / "qm9_inverse.pt", name="qm9_inverse")
    smiles, values = test_smiles[:args.n], test_values[:args.n]
    out: dict[str, Any] = {"n_forward": len(smiles), "forward": {
        "multitask": errors(values, joint.predict(smiles)[0], QM9_PROPERTIES),
        "single_task": errors(values, forward_model.predict(smiles)[0], QM9_PROPERTIES)}}
    picked = np.random.default_rng(2).choice(len(test_smiles), size=args.n_targets, replace=False)
    samplers = {"multitask": lambda n, t, seed: joint.sample(n, t, seed=seed),
                "single_task": lambda n, t, seed: single.sample(n, t, seed=seed)}
    inverse_rows: dict[str, Any] = {}
    for label, sample in samplers.items():
        base, _ = forward_model.predict(sample(args.n_targets * args.per_target, {}, 0))
        for setting, names in {"gap alone": ["gap"], "all 12": list(QM9_PROPERTIES)}.items():
            started, made, requested = time.time(), [], []
            for k, row in enumerate(picked):
                target = {name: float(test_values[row, QM9_PROPERTIES.index(name)]) for name in names}
                made += sample(args.per_target, target, k + 1)
                requested += [test_values[row]] * args.per_target
            seconds = time.time() - started
            got, want = forward_model.predict(made)[0], np.asarray(requested)
            entry: dict[str, Any] = {"valid": metrics.validity(made), "novel": metrics.novelty(
                metrics.valid_smiles(made), training), "mol_per_s": round(len(made) / seconds, 2)}
            for name in ("gap", "mu", "homo"):
                j = QM9_PROPERTIES.index(name)
                entry[name] = {"ratio": round(float(np.nanmean(np.abs(got[:, j] - want[:, j]))
                                                    / np.nanmean(np.abs(base[:, j] - want[:, j]))), 3)}
            inverse_rows.setdefault(setting, {})[label] = entry
            print(label, setting, json.dumps(entry), flush=True)
    out["inverse"] = inverse_rows
    out["n_targets"], out["per_target"] = args.n_targets, args.per_target
    return {"multitask": out}


PER_MODEL_PARTS = ("inverse", "moses", "guidance", "diffusion_steps")  # results keyed by checkpoint stem


def write(results: dict[str, Any]) -> None:
    path = RESULTS / "des.json"
    merged = json.loads(path.read_text()) if path.exists() else {}
    for part, block in results.items():  # per-model parts keep the other models' earlier runs
        merged[part] = {**merged.get(part, {}), **block} if part in PER_MODEL_PARTS else block
    path.write_text(json.dumps(merged, indent=1) + "\n")
    lines = ["# Property ↔ SMILES transformers (issue #13)", "", "Produced by `python benchmarks/des.py PART` "
             "(see the script's docstring for the protocol).", ""]
    if "forward" in merged:
        f, g = merged["forward"], merged.get("forward_gin")
        if g and g["n_test"] != f["n_test"]:
            g = None  # measured on another slice of the test split: not comparable
        lines += [f"## Forward, QM9 test split (n = {f['n_test']:,})", "",
                  f"Transformer {f['transformer_training']['cpu_minutes']:.0f} CPU-min ("
                  f"{f['transformer_training']['steps']:,} steps) vs " + (
                      f"GIN {g['gin_training']['cpu_minutes']:.0f} CPU-min ({g['gin_training']['steps']:,} steps)."
                      if g else "GIN: not run yet (`python benchmarks/des.py gin`)."), "",
                  "| property | transformer MAE | R² | GIN MAE | R² |", "|---|---|---|---|---|"]
        for name in QM9_PROPERTIES:
            t = f["transformer"][name]
            baseline = f"{g['gin'][name]['mae']:.4g} | {g['gin'][name]['r2']:.3f}" if g else "– | –"
            lines.append(f"| {name} | {t['mae']:.4g} | {t['r2']:.3f} | {baseline} |")
        lines += ["", f"Pearson r against GFN2-xTB on {f['n_xtb']} test molecules:", "",
                  "| property | forward model vs xTB | DFT label vs xTB |", "|---|---|---|"]
        for prop, c in f["xtb_correlation"].items():
            lines.append(f"| {prop} | {c['forward_vs_xtb']:.3f} | {c['dft_vs_xtb']:.3f} |")
        lines.append("")
    for stem, rows in merged.get("inverse", {}).items():
        lines += [f"## Inverse, QM9: {stem}", "", "| setting | valid | unique | novel | mol/s | MAE ratio (forward "
                  "model) |", "|---|---|---|---|---|---|"]
        for setting, row in rows.items():
            ratios = ", ".join(f"{k} {v['ratio']:.2f}" for k, v in row.items() if isinstance(v, dict))
            lines.append(f"| {setting} | {row['valid']:.3f} | {row['unique']:.3f} | {row['novel']:.3f} | "
                         f"{row['mol_per_s']:.1f} | {ratios or '—'} |")
        x = rows.get("gap alone", {}).get("xtb")
        if x:
            slope, intercept = x["calibration"]["slope"], x["calibration"]["intercept"]
            lines += ["", f"GFN2-xTB check of the gap (first {x['n']} samples; requested DFT gap mapped to xTB by "
                      f"xTB = {slope:.3f}·DFT {'+' if intercept >= 0 else '−'} {abs(intercept):.3f}, fitted on "
                      f"training molecules): MAE ratio {x['ratio']:.2f}; Pearson r(requested, xTB gap) "
                      f"{x['pearson_conditional']:.3f} conditioned vs {x['pearson_unconditional']:.3f} unconditioned."]
        lines.append("")
    for stem, g in merged.get("guidance", {}).items():
        qm9 = stem.startswith("qm9")
        rule = "lowest gap ratio, mean of gap alone and all 12" if qm9 else "lowest mean QED/logP ratio"
        lines += [f"## Guidance scale, {stem}: {g['n']} validation targets", "",
                  f"{g['targets']}. Ratio = MAE conditioned / unconditioned. Chosen default: **{g['chosen']:g}** "
                  f"({rule}, keeping ≥ 90 % of the validity at scale 1).", ""]
        if qm9:
            lines += ["| scale | mol/s | gap alone: valid | gap ratio / corr | all 12: valid | gap ratio / corr |",
                      "|---|---|---|---|---|---|"]
            for r in g["rows"]:
                a, b = r["gap alone"], r["all 12"]
                lines.append(f"| {r['scale']:g} | {r['mol_per_s']:.0f} | {a['valid']:.3f} | {a['gap_ratio']:.2f} / "
                             f"{a['gap_corr']:.2f} | {b['valid']:.3f} | {b['gap_ratio']:.2f} / {b['gap_corr']:.2f} |")
        else:
            lines += ["| scale | valid | mol/s | QED ratio / corr | SA | logP | MW |", "|---|---|---|---|---|---|---|"]
            for r in g["rows"]:
                cells = " | ".join(f"{r[p]['ratio']:.2f} / {r[p]['corr']:.2f}" for p in ("qed", "sa", "logp", "mw"))
                lines.append(f"| {r['scale']:g} | {r['valid']:.3f} | {r['mol_per_s']:.0f} | {cells} |")
        lines.append("")
    for stem, g in merged.get("diffusion_steps", {}).items():
        lines += [f"## Sampling steps, {stem}: {g['n']} validation targets, gap alone, scale 1", "",
                  f"Chosen default: **{g.get('chosen_solver', 'heun')}, {g['chosen']} steps** (the cheapest within "
                  "0.02 of the most valid row's validity and gap ratio).", "",
                  "| solver | steps | valid | gap ratio | mol/s |", "|---|---|---|---|---|"]
        lines += [f"| {r.get('solver', 'heun')} | {r['steps']} | {r['valid']:.3f} | {r['gap_ratio']:.2f} | "
                  f"{r['mol_per_s']:.1f} |" for r in g["rows"]]
        lines.append("")
    if "multitask" in merged:
        m = merged["multitask"]
        lines += [f"## Multi-task vs single-task, QM9 test split (forward on {m['n_forward']:,} molecules)", "",
                  "| property | multi-task MAE | R² | single-task MAE | R² |", "|---|---|---|---|---|"]
        for name in QM9_PROPERTIES:
            a, b = m["forward"]["multitask"][name], m["forward"]["single_task"][name]
            lines.append(f"| {name} | {a['mae']:.4g} | {a['r2']:.3f} | {b['mae']:.4g} | {b['r2']:.3f} |")
        lines += ["", f"Inverse: {m['n_targets']} test targets × {m['per_target']} samples, scored by the forward "
                  "model; MAE ratio to the same model's unconditional samples.", "",
                  "| setting | model | valid | novel | mol/s | gap ratio | μ ratio | HOMO ratio |",
                  "|---|---|---|---|---|---|---|---|"]
        for setting, models in m["inverse"].items():
            for label, e in models.items():
                lines.append(f"| {setting} | {label} | {e['valid']:.3f} | {e['novel']:.3f} | {e['mol_per_s']:.1f} | "
                             f"{e['gap']['ratio']:.2f} | {e['mu']['ratio']:.2f} | {e['homo']['ratio']:.2f} |")
        lines.append("")
    for stem, m in merged.get("moses", {}).items():
        lines += [f"## Inverse, MOSES: {stem}, n = {int(m['n']):,} unconditional", "",
                  "| valid | unique | novel | FCD/Test (floor at this n) | SNN | Frag | Scaf | IntDiv1 | mol/s | "
                  f"guided mol/s (scale {m['guidance']:g}) |", "|---|---|---|---|---|---|---|---|---|---|",
                  f"| {m['valid']:.3f} | {m['unique']:.3f} | {m['novel']:.3f} | {m['fcd_test']:.2f} "
                  f"({m['fcd_test_floor_same_n']:.2f}) | {m['snn_test']:.3f} | {m['frag_test']:.3f} | "
                  f"{m['scaf_test']:.3f} | {m['intdiv1']:.3f} | {m['mol_per_s']:.0f} | {m['guided_mol_per_s']:.0f} |",
                  ""]
    (RESULTS / "des.md").write_text("\n".join(lines))


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("part", choices=["forward", "gin", "inverse", "moses", "guidance", "steps", "multitask"])
    parser.add_argument("--steps-swept", type=int, nargs="+", default=[25, 50, 100],
                        help="steps: step counts swept for the diffusion model")
    parser.add_argument("--solvers", nargs="+", default=["adpm2", "heun"], choices=["adpm2", "heun"],
                        help="steps: diffusion solvers swept (the reference's ancestral ADPM2, Heun's ODE)")
    parser.add_argument("--limit", type=int, default=0, help="first N test molecules only (a quick look)")
    parser.add_argument("--gin-minutes", type=float, default=0.0, help="override the GIN's CPU minutes")
    parser.add_argument("--n-xtb", type=int, default=300)
    parser.add_argument("--n", type=int, default=500)
    parser.add_argument("--guidance", type=float, help="inverse: one scale (default: each model's own)")
    parser.add_argument("--scales", type=float, nargs="+", default=[1, 1.5, 2, 3], help="guidance: scales swept")
    parser.add_argument("--n-targets", type=int, default=50, help="multitask: test targets for the inverse side")
    parser.add_argument("--per-target", type=int, default=10, help="multitask: samples per target")
    parser.add_argument("--n-speed", type=int, default=1000, help="moses: guided samples timed")
    parser.add_argument("--models", nargs="+", help="checkpoint stems (default: qm9_inverse qm9_diffusion for "
                                                     "inverse, moses_inverse for moses)")
    args = parser.parse_args(argv)
    args.models = args.models or (["moses_inverse"] if args.part in ("moses", "guidance")
                                  else ["qm9_diffusion"] if args.part == "steps" else ["qm9_inverse", "qm9_diffusion"])
    parts = {"forward": forward, "gin": gin, "inverse": inverse, "moses": moses, "guidance": guidance,
             "steps": diffusion_steps, "multitask": multitask}
    write(parts[args.part](args))


if __name__ == "__main__":
    main()
