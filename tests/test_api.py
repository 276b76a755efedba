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
    scored = designer.score(frame, oracles=["qed"])
    assert scored.items == ["Oc1ccccc1"] and list(scored.columns["name"]) == ["phenol"]
    back = scored.to_pandas(mols=True)  # round trip to a PandasTools frame
    assert isinstance(back["ROMol"][0], Chem.Mol) and back["qed"][0] > 0
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
    for name in ("generate", "score", "filter", "optimize", "models", "oracles", "read", "write", "run", "campaign",
                 "as_candidates", "design_sequences"):
        assert ">>>" in getattr(designer, name).__doc__, name
    assert all(name in designer.__doc__ for name in ("generate", "score", "models", "oracles"))  # help(designer)


def test_comparison_rule_with_a_bad_number_and_alphabet_hint() -> None:
    with pytest.raises(DesignerError, match=r"rule 'qed>=abc': 'abc' is not a number"):
        designer.filter(["CCO"], ["qed>=abc"])
    table = designer.score(["MKTAYIAK"], oracles=["gc"], alphabet="protein")
    assert "read them with --alphabet dna" in table.reasons[0]


def test_table_cells_keep_their_digits() -> None:
    from designer.cli import format_value

    assert format_value(0.40681, False) == "0.4068" and format_value(3.0, True) == "3"
    assert format_value(310.357, False) == "310.4" and format_value(float("nan"), False) == "nan"


def test_invalid_molecules_keep_rdkit_reason() -> None:
    from designer.models.graph_dit.sample import decode
    from designer.workflows.pipeline import reason_kind

    table = designer.as_candidates(["CN(C)(C)(C)C", "c1cccc1", "CC("])
    assert "Explicit valence for atom # 1 N, 5, is greater than permitted" in table.reasons[0]
    assert "Can't kekulize" in table.reasons[1] and "not parsable" in table.reasons[2]
    assert reason_kind(table.reasons[0]) == "invalid SMILES: Explicit valence for atom N, 5, is greater than permitted"
    bonds = np.zeros((6, 6), dtype=int)  # a carbon with five single bonds: the decoder keeps it as sampled
    bonds[0, 1:] = bonds[1:, 0] = 1
    sampled = decode(np.zeros(6, dtype=int), bonds, ("C",))
    assert sampled is not None and "Explicit valence" in designer.as_candidates([sampled]).reasons[0]


def test_writers_name_the_path_and_keep_integers_and_reasons(tmp_path) -> None:
    table = designer.score(["ACGTN", "MKV"], oracles=["length", "gc"], alphabet="dna")
    designer.write(table, tmp_path / "s.fasta")
    text = (tmp_path / "s.fasta").read_text()
    assert "length=5 " in text and "reason=letters_'M'_(position_1),_'K'_(position_2)" in text
    (tmp_path / "file").write_text("")
    with pytest.raises(DesignerError, match="is a file, not a folder"):
        designer.write(table, tmp_path / "file" / "x.csv")


def test_alphabets_accept_real_letters_and_name_every_bad_one() -> None:
    assert designer.as_candidates(["ACGTN"], alphabet="dna").valid.all()  # N: any base
    assert designer.as_candidates(["MKUOV*"], alphabet="protein").items == ["MKUOV"]  # Sec, Pyl; stop mark
    bad = designer.as_candidates(["MBZKB"], alphabet="protein").reasons[0]
    assert bad.startswith("letters 'B' (position 2), 'Z' (position 3) not in the protein alphabet")
    mixed = designer.as_candidates(["MKTAYIAKQRQISFVKSHFSRQ", "ACGTACGTACGTACGTAC"], kind="sequence")
    assert mixed.alphabet == "protein" and "a DNA record?" in mixed.columns["note"][1]
    dna = designer.score(["ACGTNACGTA"], oracles=["dna_activity"], alphabet="dna")
    assert np.isnan(dna.columns["dna_activity"][0]) and "the network knows only ACGT" in dna.reasons[0]


def test_scoring_standardises_to_the_parent_by_default() -> None:
    table = designer.score(["c1ccccc1C(=O)[O-].[K+]", "[Na+].[Cl-]", "CCO"], oracles=["qed", "sa"])
    assert table.items[0] == "O=C(O)c1ccccc1" and table.columns["input_smiles"][0] == "c1ccccc1C(=O)[O-].[K+]"
    assert "kept the largest organic fragment of 2; neutralised" in table.columns["note"][0]
    assert not table.valid[1] and table.reasons[1].startswith("no organic parent")
    assert table.columns["note"][2] == "" and table.items[2] == "CCO"
    raw = designer.score(["c1ccccc1C(=O)[O-].[K+]", "[Fe+2]"], oracles=["qed", "xtb_gap"], standardize=False)
    assert raw.items[0] == "c1ccccc1C(=O)[O-].[K+]" and "contains K" in raw.reasons[0]
    assert "qed: outside this oracle's domain" in raw.reasons[1] and "spin state is unknown" in raw.reasons[1]


def test_filter_can_write_what_it_dropped(tmp_path, monkeypatch, capsys) -> None:
    from tests.test_cli import designer_cli

    source = tmp_path / "in.smi"
    source.write_text("CCO a\nC1CC b\nc1ccccc1 c\n")
    code, _, _ = designer_cli(monkeypatch, capsys, "filter", str(source), "-o", str(tmp_path / "k.smi"),
                              "--rule", "valid", "--rule", "qed>=0.43", "--dropped", str(tmp_path / "d.csv"))
    dropped = designer.read(tmp_path / "d.csv")
    assert code == 0 and dropped.ids == ["a", "b"] and list(dropped.columns["dropped_by"]) == ["qed>=0.43", "valid"]
