"""Foundation benchmarks: chemistry-oracle throughput (serial vs all cores), GFN2-xTB time per
molecule on QM9, and CLI start-up. Writes benchmarks/results/foundation.{json,md}.

    python benchmarks/foundation.py [--molecules 10000] [--xtb 200]
"""

from __future__ import annotations

import os

os.environ.setdefault("OMP_NUM_THREADS", "1")  # as the xTB oracle's workers run it: one thread per calculation

import argparse
import json
import statistics
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

from designer.candidates import Candidates
from designer.data import moses_smiles, qm9
from designer.scoring import default_workers, score

RESULTS = Path(__file__).parent / "results"
ORACLES = ["qed", "sa", "logp", "pains", "brenk"]


def oracle_throughput(n: int) -> dict:
    """Molecules per second for parse + qed + sa + logp + PAINS + Brenk, serial and on all cores."""
    smiles = moses_smiles("test")[:n]
    runs = {}
    for workers in (1, default_workers()):
        started = time.perf_counter()
        table = score(Candidates.from_smiles(smiles), ORACLES, workers=workers, chunk_size=500)
        elapsed = time.perf_counter() - started
        runs[workers] = {"seconds": round(elapsed, 2), "molecules_per_s": round(n / elapsed, 1),
                         "nan": int(np.isnan(table.columns["qed"]).sum())}
    per_oracle = {}
    sample = Candidates.from_smiles(smiles[:1000])
    sample.mols  # parse outside the timing  # noqa: B018
    for name in ORACLES:
        started = time.perf_counter()
        score(sample, [name])
        per_oracle[name] = round((time.perf_counter() - started), 3)
    serial, parallel = runs[1], runs[default_workers()]
    return {"n": n, "oracles": ORACLES, "workers": default_workers(), "serial": serial, "parallel": parallel,
            "speedup_vs_serial": round(serial["seconds"] / parallel["seconds"], 2),
            "ms_per_molecule_per_oracle_serial": per_oracle}


def xtb_speed(n: int) -> dict:
    """Median ms per molecule: xTB single point on QM9 geometries, and end to end from SMILES."""
    from rdkit import Chem
    from rdkit.Geometry import Point3D

    from designer.oracles.qm import HARTREE_TO_EV, conformer, xtb_single_point

    molecules = qm9(limit=n)
    single, full, gaps, reference = [], [], [], []
    for record in molecules:
        mol = Chem.RWMol()
        for element in record.elements:
            mol.AddAtom(Chem.Atom(element))
        conf = Chem.Conformer(len(record.elements))
        for i, xyz in enumerate(record.xyz):
            conf.SetAtomPosition(i, Point3D(*xyz))
        conf.Set3D(True)
        mol.AddConformer(conf)
        started = time.perf_counter()
        result = xtb_single_point(mol.GetMol())
        single.append((time.perf_counter() - started) * 1000)
        gaps.append(result["gap"])
        reference.append(record.properties["HOMO_LUMO_gap_au"] * HARTREE_TO_EV)
        parsed = Chem.MolFromSmiles(record.smiles)
        if parsed is not None:
            started = time.perf_counter()
            xtb_single_point(conformer(parsed, seed=0))
            full.append((time.perf_counter() - started) * 1000)
    atoms = [len(r.elements) for r in molecules]
    return {"n": n, "max_atoms": max(atoms), "median_ms_single_point_qm9_geometry": round(statistics.median(single), 2),
            "median_ms_from_smiles_etkdg_mmff_xtb": round(statistics.median(full), 2),
            "gap_pearson_r_vs_qm9_b3lyp": round(float(np.corrcoef(gaps, reference)[0, 1]), 3),
            "mean_gap_ev_xtb": round(float(np.mean(gaps)), 2), "mean_gap_ev_b3lyp": round(float(np.mean(reference)), 2)}


def cli_startup(repeats: int = 7) -> dict:
    """Wall time of `designer --help` (median of several runs) vs a bare `python -c pass`."""
    def timed(args: list[str]) -> float:
        times = []
        for _ in range(repeats):
            started = time.perf_counter()
            subprocess.run(args, capture_output=True, check=True)
            times.append(time.perf_counter() - started)
        return statistics.median(times)

    python = timed([sys.executable, "-c", "pass"])
    designer_help = timed([sys.executable, "-m", "designer.cli", "--help"])
    return {"median_s_designer_help": round(designer_help, 3), "median_s_python_baseline": round(python, 3),
            "ratio_to_bare_python": round(designer_help / python, 2)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--molecules", type=int, default=10_000)
    parser.add_argument("--xtb", type=int, default=200)
    args = parser.parse_args()
    results = {"machine": {"cores": os.cpu_count(), "load_average_at_start": os.getloadavg()},
               "cli_startup": cli_startup(), "oracle_throughput": oracle_throughput(args.molecules),
               "xtb": xtb_speed(args.xtb)}
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / "foundation.json").write_text(json.dumps(results, indent=2) + "\n")
    t, x, c = results["oracle_throughput"], results["xtb"], results["cli_startup"]
    lines = [
        "# Foundation benchmarks", "",
        f"Machine: {results['machine']['cores']} cores; load average at start "
        f"{[round(x, 2) for x in results['machine']['load_average_at_start']]}.",
        "",
        "| measurement | value | baseline in the same run | ratio |", "|---|---|---|---|",
        f"| oracle throughput, {t['n']} MOSES test molecules, {' + '.join(ORACLES)} | "
        f"{t['parallel']['molecules_per_s']} mol/s on {t['workers']} processes | "
        f"{t['serial']['molecules_per_s']} mol/s serial | {t['speedup_vs_serial']}x |",
        f"| GFN2-xTB single point, {x['n']} QM9 molecules (≤ {x['max_atoms']} atoms), QM9 geometry | "
        f"{x['median_ms_single_point_qm9_geometry']} ms median | | |",
        f"| GFN2-xTB from SMILES (ETKDG + MMFF + xTB) | {x['median_ms_from_smiles_etkdg_mmff_xtb']} ms median | "
        f"{x['median_ms_single_point_qm9_geometry']} ms single point | "
        f"{x['median_ms_from_smiles_etkdg_mmff_xtb'] / x['median_ms_single_point_qm9_geometry']:.2f}x |",
        f"| xTB gap vs QM9 B3LYP gap | Pearson r {x['gap_pearson_r_vs_qm9_b3lyp']} (means {x['mean_gap_ev_xtb']} vs "
        f"{x['mean_gap_ev_b3lyp']} eV) | | |",
        f"| `designer --help` | {c['median_s_designer_help']} s | {c['median_s_python_baseline']} s bare python | "
        f"{c['ratio_to_bare_python']}x |", "",
        "Serial time per oracle for 1,000 molecules (s): "
        + ", ".join(f"{k} {v}" for k, v in t["ms_per_molecule_per_oracle_serial"].items()), "",
    ]
    (RESULTS / "foundation.md").write_text("\n".join(lines))
    print("\n".join(lines))


if __name__ == "__main__":
    main()
