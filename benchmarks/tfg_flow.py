"""TFG-Flow on QM9 (issue #17): unconditional quality and training-free guidance, judged by evaluators
the guides never saw and, for orbital energies and μ, by GFN2-xTB on the generated geometry.

    python benchmarks/tfg_flow.py unconditional [--n 1000]
    python benchmarks/tfg_flow.py guided --property gap [--n 200] [--k 512 --tau .. --rho ..]

``unconditional``: atom stability, molecule stability (EDM's distance tables, heavy atoms, implicit
H), RDKit validity after bond perception, uniqueness, novelty against the training split's SMILES,
and seconds per molecule; the same pipeline on as many real test-split molecules is the ceiling.

``guided``: targets are the property values of held-out test-split molecules (the test split is
used only here; settings are chosen with ``--split validation``). For each target one sample from
(a) the unguided flow, (b) TFG-Flow, (c) the ablation with gradient guidance and naive per-atom
discrete guidance; the evaluator's MAE |evaluator(sample) − target| over valid samples, and (d) the
evaluator's own MAE on the real molecules (the floor). With ``--xtb``, GFN2-xTB on the generated
geometry, calibrated to DFT by a linear fit on 200 training molecules.

Writes ``benchmarks/results/tfg_flow.{json,md}`` (sections merged across runs).
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path
from typing import Any

import numpy as np
import torch

from designer.candidates import Unmade
from designer.models.tfg_flow.data import ATOMS, PROPERTY_NAMES, qm9_geometries
from designer.models.tfg_flow.sample import atom_stability, load, to_molecule

RESULTS = Path(__file__).resolve().parent / "results"


def stability_and_validity(types: list[list[str]], coords: list[np.ndarray], training: set[str]) -> dict[str, float]:
    from rdkit import Chem

    stable_atoms = atoms = stable_mols = 0
    smiles = []
    for symbols, xyz in zip(types, coords, strict=True):
        count, whole = atom_stability(symbols, xyz)
        stable_atoms, atoms, stable_mols = stable_atoms + count, atoms + len(symbols), stable_mols + whole
        mol = to_molecule(symbols, xyz)
        if not isinstance(mol, Unmade):
            smiles.append(Chem.MolToSmiles(Chem.RemoveHs(mol)))
    n = len(types)
    return {"atom_stability": round(stable_atoms / atoms, 4), "molecule_stability": round(stable_mols / n, 4),
            "validity": round(len(smiles) / n, 4), "uniqueness": round(len(set(smiles)) / max(1, len(smiles)), 4),
            "novelty": round(len(set(smiles) - training) / max(1, len(set(smiles))), 4)}


def canonical_training(data: Any) -> set[str]:
    from rdkit import Chem

    out = set()
    for s in data.smiles[data.split == 0]:
        mol = Chem.MolFromSmiles(str(s))
        if mol is not None:
            out.add(Chem.MolToSmiles(mol))
    return out


def unconditional(n: int, seed: int) -> dict[str, Any]:
    from designer.models.tfg_flow.sample import sample_molecules

    data = qm9_geometries()
    training = canonical_training(data)
    generator = load()
    sizes = torch.multinomial(torch.tensor(generator.meta["n_atoms_dist"], dtype=torch.float), n, replacement=True,
                              generator=torch.Generator().manual_seed(seed))
    start = time.perf_counter()
    types, coords, mask = sample_molecules(generator.denoiser, sizes, seed=seed)
    seconds = time.perf_counter() - start
    symbols = [[ATOMS[int(v)] for v in types[i, :int(mask[i].sum())]] for i in range(n)]
    xyz = [coords[i, :int(mask[i].sum())].numpy().astype(float) for i in range(n)]
    test = data.subset(data.split == 2)
    real = np.random.default_rng(seed).choice(len(test), size=n, replace=False)
    real_symbols = [[ATOMS[t] for t in test.types[i, :test.n_atoms[i]]] for i in real]
    real_xyz = [test.coords[i, :test.n_atoms[i]].astype(float) for i in real]
    return {"n": n, "generated": stability_and_validity(symbols, xyz, training),
            "real_test_molecules": stability_and_validity(real_symbols, real_xyz, training),
            "seconds_per_molecule": round(seconds / n, 4)}


def evaluator_values(prop: str, mols: list[Any]) -> np.ndarray:
    from designer.oracles.learned import GeometryPropertyOracle
    from designer.workflows.pipeline import candidates_from_samples

    table = candidates_from_samples("molecule", mols, ids=[f"m{i}" for i in range(len(mols))])
    return GeometryPropertyOracle(prop, "").score(table).values


XTB_PROPERTY = {"gap": "gap", "homo": "homo", "lumo": "lumo", "mu": "dipole"}  # QM9 property -> GFN2-xTB oracle


def xtb_values(prop: str, mols: list[Any], geometry: str = "own") -> np.ndarray:
    """Raw GFN2-xTB single points, NaN where invalid: on the molecules' own (generated or DFT) geometries,
    or (``geometry="relaxed"``) on an MMFF-relaxed ETKDG conformer of the same bond graph, which asks
    whether guidance changed the molecule or only distorted its geometry."""
    from rdkit import Chem

    from designer.candidates import Unmade
    from designer.registry import make_oracle
    from designer.workflows.pipeline import candidates_from_samples

    if geometry == "relaxed":
        mols = [m if isinstance(m, Unmade) else Chem.MolToSmiles(Chem.RemoveHs(m)) for m in mols]
    table = candidates_from_samples("molecule", mols, ids=[f"m{i}" for i in range(len(mols))])
    return make_oracle(f"xtb_{XTB_PROPERTY[prop]}").score(table).values


def real_molecules(data: Any, rows: np.ndarray) -> list[Any]:
    """Whole RDKit molecules (H added) from QM9 rows' DFT heavy-atom geometries, by the generator's pipeline."""
    return [to_molecule([ATOMS[t] for t in data.types[i, :data.n_atoms[i]]], data.coords[i, :data.n_atoms[i]])
            for i in rows]


def xtb_calibration(prop: str, n: int = 200, seed: int = 0, geometry: str = "own") -> dict[str, float]:
    """DFT ≈ a · xTB + b, least squares over ``n`` training-split molecules on their DFT geometries (or
    relaxed conformers of their graphs): GFN2-xTB's gaps are systematically smaller than B3LYP's, and a
    linear map is the usual fix."""
    data = qm9_geometries()
    train = data.subset(data.split == 0)
    rows = np.random.default_rng(seed).choice(len(train), size=n, replace=False)
    raw = xtb_values(prop, real_molecules(train, rows), geometry)
    dft = train.values[rows, PROPERTY_NAMES.index(prop)]
    ok = ~np.isnan(raw)
    slope, intercept = np.polyfit(raw[ok], dft[ok], 1)
    residual = dft[ok] - (slope * raw[ok] + intercept)
    return {"slope": round(float(slope), 4), "intercept": round(float(intercept), 4), "n": int(ok.sum()),
            "r": round(float(np.corrcoef(raw[ok], dft[ok])[0, 1]), 4),
            "mae_on_training": round(float(np.mean(np.abs(residual))), 4)}


def calibrated_maes(prop: str, mols: list[Any], targets: np.ndarray,
                    calibration: dict[str, dict[str, float]]) -> dict[str, float]:
    """MAE of calibrated GFN2-xTB against the targets, on the own geometry (``xtb_mae``) and on relaxed
    conformers (``xtb_relaxed_mae``), each with its own calibration; NaN (invalid) samples left out."""
    out = {}
    for geometry, key in (("own", "xtb_mae"), ("relaxed", "xtb_relaxed_mae")):
        c = calibration[geometry]
        values = c["slope"] * xtb_values(prop, mols, geometry) + c["intercept"]
        ok = ~np.isnan(values)
        out[key] = round(float(np.mean(np.abs(values[ok] - targets[ok]))), 4)
    return out


def guided_run(generator: Any, prop: str, targets: np.ndarray, sizes: np.ndarray, seed: int,
               calibration: dict[str, dict[str, float]] | None = None, **kwargs: Any) -> dict[str, float]:
    """One sample per target (heavy-atom count given), in one batch; evaluator MAE over valid samples
    and, with a ``calibration``, the calibrated GFN2-xTB MAE on the generated geometries."""
    start = time.perf_counter()
    mols = generator.sample(len(targets), {prop: targets}, seed=seed, n_atoms=sizes, **kwargs)
    seconds = time.perf_counter() - start
    values = evaluator_values(prop, mols)
    ok = ~np.isnan(values)
    out = {"evaluator_mae": round(float(np.mean(np.abs(values[ok] - targets[ok]))), 4),
           "validity": round(float(ok.mean()), 4), "molecules_per_second": round(len(targets) / seconds, 3)}
    if calibration:
        out |= calibrated_maes(prop, mols, targets, calibration)
    return out


def held_out_targets(prop: str, n: int, seed: int, split: str) -> tuple[Any, np.ndarray, np.ndarray, np.ndarray]:
    """(split data, rows, targets, heavy-atom counts): the property and size of ``n`` held-out molecules,
    i.e. (N, c) drawn from the split's joint distribution as the reference draws c ~ p(c | N)."""
    data = qm9_geometries()
    part = data.subset(data.split == {"validation": 1, "test": 2}[split])
    rows = np.random.default_rng(seed).choice(len(part), size=min(n, len(part)), replace=False)
    return part, rows, part.values[rows, PROPERTY_NAMES.index(prop)], part.n_atoms[rows]


def guided(prop: str, n: int, seed: int, split: str, options: dict[str, Any], xtb: bool = False) -> dict[str, Any]:
    part, rows, targets, sizes = held_out_targets(prop, n, seed, split)
    generator = load()
    out: dict[str, Any] = {"property": prop, "split": split, "n": len(rows), "settings": options}
    calibration = ({geometry: xtb_calibration(prop, seed=seed, geometry=geometry) for geometry in ("own", "relaxed")}
                   if xtb and prop in XTB_PROPERTY else None)
    if calibration:
        out["xtb_calibration"] = calibration
        print("xTB calibration", calibration, flush=True)
    runs = {"unguided": dict(guidance=0.0), "tfg_flow": dict(guidance=1.0, **options),
            "naive_discrete_ablation": dict(guidance=1.0, naive_discrete=True, **options)}
    for label, kwargs in runs.items():
        out[label] = guided_run(generator, prop, targets, sizes, seed, calibration, **kwargs)
        print(label, out[label], flush=True)
    mols = real_molecules(part, rows)
    real = evaluator_values(prop, mols)
    ok = ~np.isnan(real)
    out["evaluator_on_real_molecules"] = {"mae": round(float(np.mean(np.abs(real[ok] - targets[ok]))), 4)}
    if calibration:
        out["evaluator_on_real_molecules"] |= calibrated_maes(prop, mols, targets, calibration)
    return out


def sweep(prop: str, n: int, seed: int, grid: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """TFG-Flow on validation targets for each setting in ``grid`` (and unguided first)."""
    _, _, targets, sizes = held_out_targets(prop, n, seed, "validation")
    generator = load()
    rows = [{"settings": "unguided", **guided_run(generator, prop, targets, sizes, seed, guidance=0.0)}]
    print(rows[-1], flush=True)
    for settings in grid:
        rows.append({"settings": settings, **guided_run(generator, prop, targets, sizes, seed, **settings)})
        print(rows[-1], flush=True)
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("mode", choices=["unconditional", "guided", "sweep"])
    parser.add_argument("--n", type=int, default=1000)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--property", choices=PROPERTY_NAMES, default="gap")
    parser.add_argument("--split", choices=["validation", "test"], default="test")
    for name, kind in (("k", int), ("tau", float), ("rho", float), ("mu", float)):
        parser.add_argument(f"--{name}", type=kind)
    parser.add_argument("--grid", help="sweep: settings separated by ';', each KEY=VALUE,... of k, tau, rho, mu")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--xtb", action="store_true", help="guided: also GFN2-xTB (gap, homo, lumo, mu), calibrated")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    path = RESULTS / "tfg_flow.json"
    if args.mode == "unconditional":
        section, key, value = "unconditional", None, unconditional(args.n, args.seed)
    elif args.mode == "sweep":
        grid = [{key: (int if key == "k" else float)(value) for key, value in
                 (item.split("=") for item in setting.split(","))} for setting in args.grid.split(";")]
        section, key = "sweep", args.property
        value = {"n": args.n, "threads": args.threads, "rows": sweep(args.property, args.n, args.seed, grid)}
    else:
        options = {k: getattr(args, k) for k in ("k", "tau", "rho", "mu") if getattr(args, k) is not None}
        section, key = "guided", f"{args.property}/{args.split}"
        value = guided(args.property, args.n, args.seed, args.split, options, xtb=args.xtb)
    # read the file only now: runs for other properties may have finished while this one ran
    results = json.loads(path.read_text()) if path.exists() else {}
    if key is None:
        results[section] = value
    else:
        results.setdefault(section, {})[key] = value
    RESULTS.mkdir(exist_ok=True)
    path.write_text(json.dumps(results, indent=1) + "\n")
    lines = ["# TFG-Flow on QM9 (heavy atoms)", "", "Commands: `python benchmarks/tfg_flow.py ...` (see the script).",
             ""]
    if "unconditional" in results:
        u = results["unconditional"]
        lines += [f"## Unconditional, n = {u['n']}", "", "| | atom stab. | mol. stab. | valid | unique | novel |",
                  "|---|---|---|---|---|---|"]
        for label in ("generated", "real_test_molecules"):
            r = u[label]
            lines.append(f"| {label} | {r['atom_stability']} | {r['molecule_stability']} | {r['validity']} | "
                         f"{r['uniqueness']} | {r['novelty']} |")
        lines += ["", f"Sampling: {u['seconds_per_molecule']} s per molecule (100 Euler steps, one thread).", ""]
    for key, g in results.get("guided", {}).items():
        base = g["unguided"]
        lines += [f"## Guided: {key}, n = {g['n']}, settings {g['settings']}", "",
                  "| run | evaluator MAE | / unguided | xTB MAE, generated geometry | xTB MAE, relaxed conformer "
                  "| validity | mol/s |", "|---|---|---|---|---|---|---|"]
        for label in ("unguided", "tfg_flow", "naive_discrete_ablation"):
            r = g[label]
            lines.append(f"| {label} | {r['evaluator_mae']} | {r['evaluator_mae'] / base['evaluator_mae']:.2f} | "
                         f"{r.get('xtb_mae', '')} | {r.get('xtb_relaxed_mae', '')} | {r['validity']} | "
                         f"{r['molecules_per_second']} |")
        floor = g["evaluator_on_real_molecules"]
        lines += [f"| real held-out molecules (floor) | {floor['mae']} | | {floor.get('xtb_mae', '')} | "
                  f"{floor.get('xtb_relaxed_mae', '')} | | |", ""]
        for geometry, c in g.get("xtb_calibration", {}).items():
            lines += [f"xTB calibration, {geometry} geometry (DFT ≈ {c['slope']} · xTB + {c['intercept']}, {c['n']} "
                      f"training molecules): r = {c['r']}, MAE {c['mae_on_training']}.", ""]
    for prop, sw in results.get("sweep", {}).items():
        lines += [f"## Settings sweep: {prop}, validation targets, n = {sw['n']}, {sw['threads']} threads", "",
                  "| settings | evaluator MAE | validity | mol/s |", "|---|---|---|---|"]
        lines += [f"| {r['settings']} | {r['evaluator_mae']} | {r['validity']} | {r['molecules_per_second']} |"
                  for r in sw["rows"]]
        lines.append("")
    (RESULTS / "tfg_flow.md").write_text("\n".join(lines) + "\n")


if __name__ == "__main__":
    main()
