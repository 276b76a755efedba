"""Filter rules: what each keeps, their order, and errors for unknown rules."""

from __future__ import annotations

from pathlib import Path

import pytest

import designer
from designer.candidates import Candidates
from designer.errors import DesignerError
from designer.filters import apply_rules, parse_rule

from .conftest import MOLECULES

RHODANINE = "S=C1SC(=Cc2ccccc2)C(=O)N1"


def kept(smiles: list[str], rules: list[str]) -> list[str]:
    return designer.filter(smiles, rules).items


def test_valid_and_unique() -> None:
    smiles = ["CCO", "C1CC", "OCC", "c1ccccc1", "C1CC"]
    assert kept(smiles, ["valid"]) == ["CCO", "OCC", "c1ccccc1"]
    assert kept(smiles, ["valid", "unique"]) == ["CCO", "c1ccccc1"]
    # unique alone leaves invalid candidates for `valid` to report (collapsing identical strings)
    assert kept(smiles, ["unique"]) == ["CCO", "C1CC", "c1ccccc1"]


def test_alert_and_rule_of_five_filters() -> None:
    assert kept([RHODANINE, MOLECULES["aspirin"]], ["pains"]) == [MOLECULES["aspirin"]]
    assert kept(["O=[N+]([O-])c1ccccc1", "CCO"], ["brenk"]) == ["CCO"]
    assert kept(["C" * 40, "C" * 30, "CCO"], ["lipinski"]) == ["C" * 30, "CCO"]
    assert kept(["CCO"], ["veber", "nih"]) == ["CCO"]


def test_comparisons_compute_missing_oracles() -> None:
    smiles = list(MOLECULES.values())
    table = designer.filter(smiles, ["qed>=0.5"])
    assert table.items == [MOLECULES["aspirin"], MOLECULES["caffeine"]]
    assert (table.columns["qed"] >= 0.5).all()
    assert kept(smiles, ["mw<=50"]) == ["CCO", "OCC"]
    assert kept(smiles, ["rings == 1"]) == [MOLECULES["aspirin"], MOLECULES["benzene"]]


def test_novel_against_a_reference_file(tmp_path: Path) -> None:
    reference = tmp_path / "ref.smi"
    reference.write_text("OCC\n")
    assert kept(["CCO", "c1ccccc1", "C1CC"], [f"novel={reference}"]) == ["c1ccccc1", "C1CC"]
    with pytest.raises(DesignerError, match="neither 'moses-train' nor an existing file"):
        kept(["CCO"], ["novel=/no/such/file.smi"])


def test_report_counts_each_rule() -> None:
    table = Candidates.from_smiles(["CCO", "C1CC", "OCC", RHODANINE])
    survivors, report = apply_rules(table, ["valid", "unique", "pains"])
    assert report.before == 4 and report.after == len(survivors) == 1
    assert report.dropped == {"valid": 1, "unique": 1, "pains": 1}


def test_sequences_filter_on_their_oracles() -> None:
    table = designer.filter(["GGGG", "ATAT", "GGGG", "ACXG"], ["valid", "unique", "gc>0.5"], alphabet="dna")
    assert table.items == ["GGGG"]


@pytest.mark.parametrize(("rule", "message"), [
    ("uniqe", "unknown filter rule 'uniqe'; did you mean 'unique'"),
    ("qde>=0.5", "unknown oracle 'qde'; did you mean 'qed'"),
    ("valid=3", "takes no argument"),
])
def test_bad_rules_are_one_clear_error(rule: str, message: str) -> None:
    with pytest.raises(DesignerError, match=message):
        parse_rule(rule)


def test_unique_backbones_compare_coordinates_not_residue_names() -> None:
    import numpy as np

    chain = np.arange(36, dtype=float).reshape(3, 4, 3)
    table = Candidates("backbone", ["GGG"] * 3, ["a", "b", "c"], objects=[chain, chain + 1.0, chain.copy()])
    survivors, _ = apply_rules(table, ["unique"])
    assert survivors.ids == ["a", "b"]
