"""Protein backbones (N, CA, C, O per residue) to and from PDB files, through biotite."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from designer.candidates import Candidates
from designer.errors import DesignerError

BACKBONE_ATOMS = ("N", "CA", "C", "O")


def read_backbone(path: Path) -> tuple[str, np.ndarray, dict[str, float]]:
    """One chain's backbone: one-letter residues, coordinates (L, 4, 3) in Å, REMARK scores."""
    import biotite.structure as struc
    from biotite.structure.io.pdb import PDBFile

    try:
        structure = PDBFile.read(str(path)).get_structure(model=1)
    except Exception as error:
        raise DesignerError(f"{path}: not a readable PDB file ({error})") from None
    structure = structure[struc.filter_amino_acids(structure)]
    if structure.array_length() == 0:
        raise DesignerError(f"{path}: no amino-acid residues")
    structure = structure[structure.chain_id == structure.chain_id[0]]
    coords, letters = [], []
    for residue in struc.residue_iter(structure):
        names = list(residue.atom_name)
        missing = [a for a in BACKBONE_ATOMS if a not in names]
        if missing:
            raise DesignerError(f"{path}: residue {residue.res_id[0]} ({residue.res_name[0]}) lacks backbone "
                                f"atom{'s' if len(missing) > 1 else ''} {', '.join(missing)}")
        coords.append([residue.coord[names.index(a)] for a in BACKBONE_ATOMS])
        from biotite.sequence import ProteinSequence

        try:
            letters.append(ProteinSequence.convert_letter_3to1(residue.res_name[0]))
        except KeyError:
            letters.append("X")
    scores = {}
    for line in Path(path).read_text().splitlines():
        if line.startswith("REMARK 250 "):
            key, _, value = line[11:].strip().partition("=")
            try:
                scores[key.strip()] = float(value)
            except ValueError:
                pass
    return "".join(letters), np.asarray(coords, dtype=float), scores


def read_backbones(path: Path) -> Candidates:
    """A PDB file or a directory of them, as backbone candidates."""
    files = sorted(path.glob("*.pdb")) if path.is_dir() else [path]
    if not files:
        raise DesignerError(f"{path}: no .pdb files in this directory")
    parsed = [read_backbone(f) for f in files]
    names = list(dict.fromkeys(k for _, _, scores in parsed for k in scores))
    columns = {n: np.array([s.get(n, np.nan) for _, _, s in parsed]) for n in names}
    return Candidates("backbone", [p[0] for p in parsed], [f.stem for f in files], columns,
                      objects=[p[1] for p in parsed])


def backbone_pdb(coords: np.ndarray, residues: str, scores: dict[str, float]) -> str:
    """PDB text of one backbone chain A (N, CA, C, O); scores as ``REMARK 250 key=value`` lines."""
    import io

    import biotite.structure as struc
    from biotite.sequence import ProteinSequence
    from biotite.structure.io.pdb import PDBFile

    length = len(coords)
    atoms = struc.AtomArray(length * 4)
    atoms.coord = np.asarray(coords, dtype=np.float32).reshape(-1, 3)
    atoms.chain_id[:] = "A"
    atoms.res_id = np.repeat(np.arange(1, length + 1), 4)
    letters = residues if len(residues) == length else "G" * length
    atoms.res_name = np.repeat([ProteinSequence.convert_letter_1to3(c) if c != "X" else "UNK"
                                for c in letters], 4)
    atoms.atom_name = np.tile(BACKBONE_ATOMS, length)
    atoms.element = np.tile(["N", "C", "C", "O"], length)
    atoms.hetero[:] = False
    pdb = PDBFile()
    pdb.set_structure(atoms)
    buffer = io.StringIO()
    pdb.write(buffer)
    remarks = "".join(f"REMARK 250 {k}={v!r}\n" for k, v in scores.items())
    return remarks + buffer.getvalue()


def write_backbones(candidates: Candidates, path: Path) -> Path:
    """One backbone to a ``.pdb`` path, or each to ``<dir>/<id>.pdb``."""
    if candidates.objects is None:
        raise DesignerError("these backbone candidates carry no coordinates")
    single = path.suffix.lower() == ".pdb"
    if single and len(candidates) != 1:
        raise DesignerError(f"{path}: {len(candidates)} backbones need a directory, not one .pdb file")
    if not single:
        path.mkdir(parents=True, exist_ok=True)
    for i, coords in enumerate(candidates.objects):
        if coords is None:
            continue
        scores = {name: float(values[i]) for name, values in candidates.columns.items()
                  if isinstance(values[i], float | np.floating)}
        target = path if single else path / f"{candidates.ids[i]}.pdb"
        target.write_text(backbone_pdb(coords, candidates.items[i], scores))
    return path
