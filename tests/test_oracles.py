"""Every oracle against reference values or an independent computation."""

from __future__ import annotations

import csv
from pathlib import Path

import numpy as np
import pytest
from rdkit import Chem, RDConfig
from rdkit.Chem import QED, Crippen, Descriptors

from designer.candidates import Candidates
from designer.errors import DesignerError, UnknownNameError
from designer.registry import make_oracle, oracle_specs

from .conftest import MOLECULES


def values(oracle: str, items: list[str], **kwargs) -> np.ndarray:
    table = (Candidates.from_sequences(items, **kwargs) if kwargs or oracle in SEQUENCE
             else Candidates.from_smiles(items))
    return make_oracle(oracle)(table).values


SEQUENCE = {"gc", "length", "pi", "gravy", "instability", "aromaticity", "charge"}


def test_qed_matches_rdkit_reference() -> None:
    smiles = list(MOLECULES.values())
    expected = [QED.qed(Chem.MolFromSmiles(s)) for s in smiles]
    np.testing.assert_allclose(values("qed", smiles), expected)
    assert values("qed", [MOLECULES["aspirin"]])[0] == pytest.approx(0.5501, abs=1e-4)


def test_sa_matches_the_reference_scores_shipped_with_rdkit() -> None:
    """RDKit ships 100 ZINC molecules with SA scores from the original implementation."""
    path = Path(RDConfig.RDContribDir) / "SA_Score" / "data" / "zim.100.txt"
    with open(path) as handle:
        rows = list(csv.DictReader(handle, delimiter="\t"))
    scores = values("sa", [r["smiles"] for r in rows])
    np.testing.assert_allclose(scores, [float(r["sa_score"]) for r in rows], atol=1e-3)


@pytest.mark.parametrize(("oracle", "smiles", "expected"), [
    ("logp", "CCO", Crippen.MolLogP(Chem.MolFromSmiles("CCO"))),
    ("mw", "CCO", 46.069),
    ("tpsa", "CCO", 20.23),
    ("hbd", MOLECULES["aspirin"], 1),
    ("hba", MOLECULES["aspirin"], 3),
    ("rotb", MOLECULES["aspirin"], Descriptors.NumRotatableBonds(Chem.MolFromSmiles(MOLECULES["aspirin"]))),
    ("rings", "c1ccc2ccccc2c1", 2),
    ("fsp3", "CCc1ccccc1", 0.25),
    ("heavy_atoms", MOLECULES["caffeine"], 14),
    ("lipinski", "CCO", 0),
    ("lipinski", "C" * 30, 1),  # logP > 5 only (MW 422)
    ("lipinski", "C" * 40, 2),  # logP > 5 and MW 563 > 500
    ("veber", "CCO", 0),
])
def test_descriptors(oracle: str, smiles: str, expected: float) -> None:
    assert values(oracle, [smiles])[0] == pytest.approx(expected, abs=1e-3)


def test_similarity_is_one_to_itself_and_lower_to_others() -> None:
    scores = values(f"similarity={MOLECULES['aspirin']}", [MOLECULES["aspirin"], MOLECULES["caffeine"]])
    assert scores[0] == pytest.approx(1.0)
    assert 0 <= scores[1] < 0.3


def test_similarity_needs_a_reference() -> None:
    with pytest.raises(DesignerError, match="needs an argument"):
        make_oracle("similarity")
    with pytest.raises(DesignerError, match="not a valid SMILES"):
        make_oracle("similarity=not_a_smiles")


def test_structural_alerts() -> None:
    rhodanine = "S=C1SC(=Cc2ccccc2)C(=O)N1"  # ene_rhod: a classic PAINS
    nitro = "O=[N+]([O-])c1ccccc1"  # nitro group: a Brenk alert
    assert values("pains", [rhodanine, MOLECULES["aspirin"]]).tolist() == [1, 0]
    assert values("brenk", [nitro])[0] >= 1
    assert values("brenk", ["CCO"])[0] == 0
    assert values("nih", ["CCO"])[0] == 0


def test_invalid_candidates_get_nan_and_a_reason() -> None:
    table = Candidates.from_smiles(["CCO", "C1CC", ""])
    result = make_oracle("qed")(table)
    assert np.isfinite(result.values[0]) and np.isnan(result.values[1:]).all()
    assert "invalid SMILES" in result.reasons[1] and result.reasons[2] == "empty SMILES"


def test_unknown_oracle_suggests_a_close_name() -> None:
    with pytest.raises(UnknownNameError, match="did you mean 'qed'"):
        make_oracle("qde")


def test_registry_metadata() -> None:
    specs = oracle_specs()
    for name in ("qed", "sa", "logp", "mw", "pains", "xtb_gap", "gc", "pwm", "pi"):
        assert name in specs and specs[name].description
    qed = make_oracle("qed")
    assert (qed.kind, qed.direction, qed.low, qed.high) == ("molecule", "maximize", 0.0, 1.0)
    assert make_oracle("sa").direction == "minimize"


# --- quantum ----------------------------------------------------------------------------------
def test_xtb_water_matches_the_xtb_documentation() -> None:
    """xtb's docs print GFN2-xTB water: HOMO -12.1469 eV, gap 14.3968 eV (at its own geometry)."""
    table = Candidates.from_smiles(["O"])
    assert make_oracle("xtb_homo")(table).values[0] == pytest.approx(-12.147, abs=0.15)
    assert make_oracle("xtb_gap")(table).values[0] == pytest.approx(14.397, abs=0.4)
    assert make_oracle("xtb_energy")(table).values[0] == pytest.approx(-5.070, abs=0.01)


def test_xtb_benzene_gap_and_symmetry() -> None:
    """GFN2-xTB puts benzene's HOMO-LUMO gap near 4.8 eV; by symmetry its dipole is zero."""
    table = Candidates.from_smiles([MOLECULES["benzene"]])
    assert make_oracle("xtb_gap")(table).values[0] == pytest.approx(4.83, abs=0.3)
    assert make_oracle("xtb_dipole")(table).values[0] == pytest.approx(0.0, abs=0.05)


def test_xtb_uses_the_cache_and_reports_invalid_molecules(tmp_path: Path) -> None:
    from designer.oracles.qm import XTBRunner

    runner = XTBRunner(seed=0)
    mols = Candidates.from_smiles(["CCO", "C1CC"]).mols
    first, _ = runner.run(mols)
    assert first[1] is None and first[0] is not None
    again, _ = runner.run(mols[:1])
    assert again[0] == first[0]
    runner.close()


def test_xtb_time_out_gives_nan_with_a_reason() -> None:
    from designer.oracles.qm import XTBRunner

    runner = XTBRunner(timeout=0.001, use_cache=False)
    results, reasons = runner.run(Candidates.from_smiles([MOLECULES["caffeine"]]).mols)
    assert results == [None] and "timed out" in reasons[0]
    runner.close()


# --- sequences --------------------------------------------------------------------------------
def test_gc_content() -> None:
    assert values("gc", ["GGCC", "ATAT", "ACGT"], alphabet="dna").tolist() == [1.0, 0.0, 0.5]


def test_pwm_consensus_reaches_the_matrix_maximum_on_either_strand() -> None:
    from Bio.Seq import Seq

    from designer.oracles.sequence import jaspar_pssm

    pssm = jaspar_pssm("CTCF")
    consensus = "".join(max("ACGT", key=lambda b, i=i: pssm[b][i]) for i in range(pssm.length))
    flank = "ATATATATAT"
    forward = flank + consensus + flank
    reverse = str(Seq(forward).reverse_complement())
    scores = values("pwm=CTCF", [forward, reverse, "A" * 30], alphabet="dna")
    assert scores[0] == pytest.approx(pssm.max, abs=1e-4)
    assert scores[1] == pytest.approx(pssm.max, abs=1e-4)
    assert scores[2] < pssm.max - 10


def test_pwm_rejects_short_sequences_and_unknown_motifs() -> None:
    table = Candidates.from_sequences(["ACG"], alphabet="dna")
    result = make_oracle("pwm=CTCF")(table)
    assert np.isnan(result.values[0]) and "shorter" in result.reasons[0]
    with pytest.raises(DesignerError, match="no JASPAR motif"):
        make_oracle("pwm=NOT_A_FACTOR")


@pytest.mark.parametrize(("oracle", "sequence", "expected"), [
    ("gravy", "AAAA", 1.8),  # Kyte-Doolittle: A = 1.8
    ("gravy", "IR", (4.5 - 4.5) / 2),
    ("aromaticity", "FWYA", 0.75),
    ("length", "MKT", 3),
])
def test_protparam_against_scale_values(oracle: str, sequence: str, expected: float) -> None:
    assert values(oracle, [sequence], alphabet="protein")[0] == pytest.approx(expected)


def test_protein_charge_and_pi_follow_composition() -> None:
    basic, acidic = "KKKKRRGG", "DDDDEEGG"
    assert values("charge", [basic], alphabet="protein")[0] > 4
    assert values("charge", [acidic], alphabet="protein")[0] < -4
    assert values("pi", [basic], alphabet="protein")[0] > 10
    assert values("pi", [acidic], alphabet="protein")[0] < 4.5


def test_sequence_oracles_refuse_the_wrong_alphabet() -> None:
    result = make_oracle("gc")(Candidates.from_sequences(["MKTW"], alphabet="protein"))
    assert np.isnan(result.values[0]) and "dna" in result.reasons[0]


def test_bad_letter_is_named_with_its_position() -> None:
    table = Candidates.from_sequences(["ACGT", "ACXT"], alphabet="dna")
    assert table.reasons[1] == "letter 'X' (position 3) not in the dna alphabet (ACGTN)"
    assert np.isnan(make_oracle("gc")(table).values[1])


def test_oracle_refuses_the_wrong_candidate_kind() -> None:
    with pytest.raises(DesignerError, match="scores molecules"):
        make_oracle("qed")(Candidates.from_sequences(["ACGT"]))
