"""Round trips through every format, and clear errors for files that cannot be read."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from rdkit import Chem
from rdkit.Chem import AllChem

import designer
from designer.candidates import Candidates
from designer.errors import DesignerError
from designer.io import read, write

from .conftest import MOLECULES


def scored_molecules() -> Candidates:
    return designer.score([*MOLECULES.values(), "C1CC"], ["qed", "logp"])


@pytest.mark.parametrize("suffix", [".csv", ".sdf", ".smi"])
def test_molecule_round_trip(tmp_path: Path, suffix: str) -> None:
    table = scored_molecules()
    back = read(write(table, tmp_path / f"out{suffix}"))
    assert back.ids == table.ids
    assert [Chem.CanonSmiles(s) if s and ok else s for s, ok in zip(back.items, back.valid, strict=True)] == \
        [Chem.CanonSmiles(s) if s and ok else s for s, ok in zip(table.items, table.valid, strict=True)]
    assert back.valid.tolist() == table.valid.tolist()
    if suffix != ".smi":  # SMILES files carry no scores
        for name in ("qed", "logp"):
            np.testing.assert_allclose(back.columns[name], table.columns[name], equal_nan=True)
        assert "invalid SMILES" in back.reasons[-1]


def test_sdf_opens_in_rdkit_with_scores_as_properties(tmp_path: Path) -> None:
    path = write(scored_molecules(), tmp_path / "out.sdf")
    mols = [m for m in Chem.SDMolSupplier(str(path)) if m is not None and m.GetNumAtoms()]
    assert len(mols) == len(MOLECULES)
    assert float(mols[0].GetProp("qed")) == pytest.approx(designer.score([MOLECULES["aspirin"]], ["qed"])
                                                          .columns["qed"][0])
    assert mols[0].GetProp("_Name") == "mol000001"


def test_sdf_keeps_3d_coordinates(tmp_path: Path) -> None:
    mol = Chem.AddHs(Chem.MolFromSmiles("CCO"))
    AllChem.EmbedMolecule(mol, randomSeed=1)
    source = tmp_path / "in.sdf"
    with Chem.SDWriter(str(source)) as writer:
        writer.write(mol)
    table = read(source)
    back = read(write(table, tmp_path / "out.sdf"))
    np.testing.assert_allclose(back.mols[0].GetConformer().GetPositions(),
                               mol.GetConformer().GetPositions(), atol=1e-3)


def test_fasta_round_trip_with_scores_in_the_description(tmp_path: Path) -> None:
    table = designer.score(["ACGTACGTAC", "GGGCCCAAAT" * 8], ["gc", "length"], kind="sequence")
    path = write(table, tmp_path / "out.fasta")
    first_header = path.read_text().splitlines()[0]
    assert first_header.startswith(">seq000001 gc=0.5 length=10")  # a length is a whole number
    back = read(path)
    assert back.items == table.items and back.alphabet == "dna"
    np.testing.assert_allclose(back.columns["gc"], table.columns["gc"])


def test_fasta_through_biopython(tmp_path: Path) -> None:
    from Bio import SeqIO

    table = designer.score(["MKTAYIAKQRQ", "GGSGGS"], ["pi"], kind="sequence")
    records = list(SeqIO.parse(write(table, tmp_path / "p.fasta"), "fasta"))
    assert [str(r.seq) for r in records] == table.items


def _ideal_backbone(length: int) -> np.ndarray:
    """A straight-ish chain of N, CA, C, O with realistic spacing (enough for file round trips)."""
    coords = []
    for i in range(length):
        x = 3.8 * i
        coords.append([[x - 1.2, 0.5, 0], [x, 0, 0], [x + 1.2, 0.6, 0], [x + 1.3, 1.8, 0]])
    return np.array(coords)


def test_pdb_round_trip_and_biotite_reads_it(tmp_path: Path) -> None:
    import biotite.structure.io.pdb as pdb

    coords = [_ideal_backbone(12), _ideal_backbone(9)]
    table = Candidates("backbone", ["G" * 12, "A" * 9], ["b1", "b2"], {"rg": np.array([5.0, 4.0])},
                       objects=coords)
    folder = write(table, tmp_path / "backbones")
    back = read(folder)
    assert back.ids == ["b1", "b2"] and back.items == table.items
    np.testing.assert_allclose(back.objects[0], coords[0], atol=1e-3)
    np.testing.assert_allclose(back.columns["rg"], [5.0, 4.0])
    atoms = pdb.PDBFile.read(str(folder / "b1.pdb")).get_structure(model=1)
    assert list(atoms.atom_name[:4]) == ["N", "CA", "C", "O"] and atoms.res_name[0] == "GLY"


def test_pdb_with_missing_backbone_atom_is_one_clear_error(tmp_path: Path) -> None:
    table = Candidates("backbone", ["G" * 3], ["b"], objects=[_ideal_backbone(3)])
    path = write(table, tmp_path / "b.pdb")
    lines = [line for line in path.read_text().splitlines() if not (" O " in line and " 2 " in line[22:27])]
    path.write_text("\n".join(lines) + "\n")
    with pytest.raises(DesignerError, match=r"residue 2 \(GLY\) lacks backbone atom O"):
        read(path)


def test_missing_file_and_unknown_extension(tmp_path: Path) -> None:
    with pytest.raises(DesignerError, match="no such file"):
        read(tmp_path / "nope.smi")
    (tmp_path / "x.xyz").write_text("1\n")
    with pytest.raises(DesignerError, match=r"unknown file extension '\.xyz'"):
        read(tmp_path / "x.xyz")


def test_unreadable_sdf_is_an_error(tmp_path: Path) -> None:
    path = tmp_path / "bad.sdf"
    path.write_text("this is not\nan SDF file\n$$$$\n")
    with pytest.raises(DesignerError, match="not a readable SDF"):
        read(path)


def test_csv_without_a_smiles_column_names_the_columns(tmp_path: Path) -> None:
    path = tmp_path / "x.csv"
    path.write_text("name,value\na,1\n")
    with pytest.raises(DesignerError, match=r"no SMILES or sequence column \(columns: name, value\)"):
        read(path)
    table = read(path, column="name")
    assert table.kind == "molecule" and not table.valid[0]


def test_write_refuses_the_wrong_format_for_the_kind(tmp_path: Path) -> None:
    with pytest.raises(DesignerError, match="FASTA holds sequences"):
        write(scored_molecules(), tmp_path / "x.fasta")


def test_smiles_file_keeps_invalid_lines(smiles_file: Path) -> None:
    table = read(smiles_file)
    assert len(table) == 6 and (~table.valid).sum() == 1
    assert table.ids[2] == "bad_ring"


def test_to_pandas_and_notebook_view() -> None:
    table = scored_molecules()
    frame = table.to_pandas()
    assert list(frame.columns) == ["id", "smiles", "qed", "logp", "reason"]
    assert len(frame) == len(table)
    html = table._repr_html_()
    assert "<svg" in html and "mol000001" in html and "invalid SMILES" in html
