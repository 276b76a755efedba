"""The Python API as a notebook uses it: DataFrames, Series, RDKit molecules, bare SMILES, listings."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from rdkit import Chem

import designer
from designer.errors import DesignerError


def test_dataframe_keeps_every_row_and_carries_its_columns() -> None:
    frame = pd.DataFrame({"SMILES": ["CCO", "CCN", "C1CC"], "pic50": [6.1, 7.2, 5.0], "series": ["a", "b", "c"]})
    table = designer.score(frame, oracles=["qed"])
    assert table.items == ["CCO", "CCN", "C1CC"] and list(table.columns["pic50"]) == [6.1, 7.2, 5.0]
    assert list(table.columns["series"]) == ["a", "b", "c"] and np.isnan(table.columns["qed"][2])
    named = designer.score(pd.DataFrame({"structure": ["CCO"], "y": [1]}), oracles=["qed"], column="structure")
    assert named.items == ["CCO"]
    with pytest.raises(DesignerError, match=r"no SMILES, sequence or RDKit Mol column \(columns: structure\)"):
        designer.score(pd.DataFrame({"structure": ["CCO"]}), oracles=["qed"])


def test_mol_objects_series_index_and_bare_smiles() -> None:
    mols = [Chem.MolFromSmiles("CCO"), None]
    table = designer.score(mols, oracles=["qed"])
    assert table.items == ["CCO", ""] and np.isfinite(table.columns["qed"][0]) and not table.valid[1]
    frame = pd.DataFrame({"ROMol": [Chem.MolFromSmiles("c1ccccc1O")], "name": ["phenol"]})  # as PandasTools makes it
    assert designer.score(frame, oracles=["qed"]).items == ["Oc1ccccc1"]
    series = pd.Series(["CCO", "c1ccccc1"], index=["ethanol", "benzene"])
    assert designer.score(series, oracles=["qed"]).ids == ["ethanol", "benzene"]
    assert designer.score("CCO", oracles=["qed"]).items == ["CCO"]  # a SMILES, not a file name
    with pytest.raises(DesignerError, match="no such file"):
        designer.score("missing.smi", oracles=["qed"])
    with pytest.raises(DesignerError, match="cannot make candidates from a int"):
        designer.score(5, oracles=["qed"])
    with pytest.raises(DesignerError, match="cannot read int 3 as a candidate"):
        designer.score(["CCO", 3], oracles=["qed"])


def test_listings_and_optimize_mirror_the_cli() -> None:
    models = designer.models()
    assert {"graph-dit", "char-rnn"} <= set(models["name"]) and models.set_index("name").loc["char-rnn", "default"]
    assert "qed" in set(designer.oracles()["name"])
    with pytest.raises(DesignerError, match="exactly one of"):
        designer.optimize()
    for name in ("generate", "score", "filter", "optimize", "models", "oracles"):
        assert ">>>" in getattr(designer, name).__doc__, name


def test_comparison_rule_with_a_bad_number_and_alphabet_hint() -> None:
    with pytest.raises(DesignerError, match=r"rule 'qed>=abc': 'abc' is not a number"):
        designer.filter(["CCO"], ["qed>=abc"])
    table = designer.score(["MKTAYIAK"], oracles=["gc"], alphabet="protein")
    assert "read them with --alphabet dna" in table.reasons[0]


def test_table_cells_keep_their_digits() -> None:
    from designer.cli import format_value

    assert format_value(0.40681, False) == "0.4068" and format_value(3.0, True) == "3"
    assert format_value(310.357, False) == "310.4" and format_value(float("nan"), False) == "nan"
