"""Reading and writing candidates by file extension: SMILES, CSV, SDF, FASTA, PDB.

Every writer puts every score column into the file (CSV columns, SD properties, FASTA description
``key=value`` pairs, PDB REMARKs) so that :func:`read` gets the same table back.
"""

from __future__ import annotations

import csv
import math
from pathlib import Path

import numpy as np

from designer.candidates import Candidates
from designer.errors import DesignerError

FORMATS = {".smi": "smiles", ".smiles": "smiles", ".txt": "smiles", ".csv": "csv", ".sdf": "sdf",
           ".fasta": "fasta", ".fa": "fasta", ".faa": "fasta", ".fna": "fasta", ".pdb": "pdb"}
ITEM_COLUMNS = ("smiles", "SMILES", "Smiles", "sequence", "Sequence", "seq")
RESERVED = {"id", "reason", "smiles", "sequence", "residues"}


def file_format(path: str | Path) -> str:
    """The format named by a path's extension, or an error listing the known ones."""
    path = Path(path)
    if path.is_dir() or (not path.suffix and not path.exists()):
        return "pdb-dir"
    fmt = FORMATS.get(path.suffix.lower())
    if fmt is None:
        raise DesignerError(f"{path}: unknown file extension {path.suffix!r} "
                            f"(known: {', '.join(sorted(FORMATS))}, or a directory of .pdb files)")
    return fmt


def _number_or_text(values: list[str]) -> np.ndarray:
    """A float column when every non-empty value parses as a number, else a text column."""
    try:
        return np.array([float(v) if v not in ("", "nan", "NaN", None) else math.nan for v in values])
    except (TypeError, ValueError):
        return np.array(values, dtype=object)


def _text(value: object) -> str:
    """A cell as text: NaN as "nan", whole numbers without ".0" (a length is 10, not 10.0)."""
    if isinstance(value, float | np.floating):
        if np.isnan(value):
            return "nan"
        return str(int(value)) if float(value).is_integer() and abs(value) < 1e15 else repr(float(value))
    return str(value)


def check_writable(path: Path) -> None:
    """Fail in one line, before any work, when ``path`` cannot be written: a file stands where a
    folder must be, or the path is an existing folder where a file is meant."""
    for parent in path.parents:
        if parent.exists():
            if not parent.is_dir():
                raise DesignerError(f"cannot write {path}: {parent} is a file, not a folder")
            break
    if path.suffix and path.is_dir():
        raise DesignerError(f"cannot write {path}: it is a folder")


# --- readers ----------------------------------------------------------------------------------
def read(path: str | Path, *, kind: str | None = None, alphabet: str | None = None,
         column: str | None = None) -> Candidates:
    """Read candidates from ``path`` (format by extension); ``column`` names the SMILES/sequence column
    of a CSV.

    >>> table = designer.read("mols.sdf")
    """
    path = Path(path)
    if not path.exists():
        raise DesignerError(f"{path}: no such file or directory")
    fmt = file_format(path)
    if fmt == "smiles":
        return _read_smiles(path)
    if fmt == "csv":
        return _read_csv(path, kind, alphabet, column)
    if fmt == "sdf":
        return _read_sdf(path)
    if fmt == "fasta":
        return _read_fasta(path, alphabet)
    from designer.structure import read_backbones

    return read_backbones(path)


def _read_smiles(path: Path) -> Candidates:
    smiles, ids = [], []
    with open(path) as handle:
        for number, line in enumerate(handle, start=1):
            fields = line.split()
            if not fields or fields[0].startswith("#"):
                continue
            if number == 1 and fields[0].lower() == "smiles":
                continue  # a header line
            smiles.append(fields[0])
            ids.append(fields[1] if len(fields) > 1 else f"{path.stem}:{number}")
    return Candidates.from_smiles(smiles, ids)


def _read_csv(path: Path, kind: str | None, alphabet: str | None, column: str | None) -> Candidates:
    with open(path, newline="") as handle:
        rows = list(csv.DictReader(handle))
        header = list(rows[0].keys()) if rows else []
    if not header:
        raise DesignerError(f"{path}: empty CSV file (expected a header with a SMILES or sequence column)")
    if column is None:
        column = next((c for c in ITEM_COLUMNS if c in header), None)
        if column is None:
            raise DesignerError(f"{path}, line 1: no SMILES or sequence column (columns: {', '.join(header)}); "
                                "name it 'smiles' or 'sequence', or pass the column name")
    elif column not in header:
        raise DesignerError(f"{path}, line 1: no column {column!r} (columns: {', '.join(header)})")
    items = [row[column] or "" for row in rows]
    ids = [row["id"] for row in rows] if "id" in header else []
    is_sequence = kind == "sequence" or (kind is None and column.lower() in ("sequence", "seq"))
    table = (Candidates.from_sequences(items, ids, alphabet) if is_sequence
             else Candidates.from_smiles(items, ids))
    for name in header:
        if name not in RESERVED and name != column:
            table.columns[name] = _number_or_text([row[name] for row in rows])
    if "reason" in header:
        for i, row in enumerate(rows):
            table.add_reason(i, row["reason"])
    return table


def _read_sdf(path: Path) -> Candidates:
    from rdkit import Chem, RDLogger

    RDLogger.DisableLog("rdApp.*")
    supplier = Chem.SDMolSupplier(str(path), removeHs=False, sanitize=True)
    mols, items, ids, reasons, props = [], [], [], [], []
    for index in range(len(supplier)):
        mol = supplier[index]
        if mol is None:
            mols.append(None)
            items.append("")
            ids.append(f"{path.stem}:{index + 1}")
            reasons.append(f"{path}: record {index + 1} could not be parsed")
            props.append({})
            continue
        values = mol.GetPropsAsDict(includePrivate=False, includeComputed=False)
        if mol.GetNumAtoms() == 0:  # an invalid candidate written as an empty record by write()
            mols.append(None)
            items.append(str(values.get("smiles", "")))
            reasons.append(str(values.get("reason", "")) or "empty molecule")
        else:
            mols.append(Chem.RemoveHs(mol, updateExplicitCount=False) if not _has_3d(mol) else mol)
            items.append(Chem.MolToSmiles(Chem.RemoveHs(mol)))
            reasons.append(str(values.get("reason", "")))
        ids.append(mol.GetProp("_Name") or f"{path.stem}:{index + 1}")
        props.append(values)
    if not mols or all(m is None for m in mols):
        raise DesignerError(f"{path}: not a readable SDF file (no molecule record could be parsed)")
    names = list(dict.fromkeys(k for p in props for k in p if k not in RESERVED))
    columns = {name: _number_or_text([_text(p.get(name, "")) for p in props]) for name in names}
    return Candidates("molecule", items, ids, columns, reasons, objects=mols)


def _has_3d(mol) -> bool:  # type: ignore[no-untyped-def]
    return mol.GetNumConformers() > 0 and mol.GetConformer().Is3D()


def _parse_description(description: str) -> dict[str, str]:
    pairs = {}
    for word in description.split()[1:]:
        key, sep, value = word.partition("=")
        if sep:
            pairs[key] = value
    return pairs


def _read_fasta(path: Path, alphabet: str | None) -> Candidates:
    from Bio import SeqIO

    records = list(SeqIO.parse(str(path), "fasta"))
    if not records:
        raise DesignerError(f"{path}: no FASTA record (expected lines starting with '>')")
    table = Candidates.from_sequences([str(r.seq) for r in records], [r.id for r in records], alphabet)
    described = [_parse_description(r.description) for r in records]
    names = list(dict.fromkeys(k for d in described for k in d if k not in RESERVED))
    for name in names:
        table.columns[name] = _number_or_text([d.get(name, "") for d in described])
    for i, d in enumerate(described):
        if "reason" in d:
            table.add_reason(i, d["reason"])
    return table


# --- writers ----------------------------------------------------------------------------------
def write(candidates: Candidates, path: str | Path) -> Path:
    """Write ``candidates`` to ``path`` in the format its extension names (a directory: PDB files),
    every score column included; written whole or not at all.

    >>> designer.write(table, "scored.sdf")
    """
    path = Path(path)
    fmt = file_format(path)
    check_writable(path)
    if path.parent and not path.parent.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
    if fmt in ("sdf", "smiles") and candidates.kind != "molecule":
        raise DesignerError(f"{path}: {fmt.upper()} holds molecules, not {candidates.kind}s")
    if fmt == "fasta" and candidates.kind == "molecule":
        raise DesignerError(f"{path}: FASTA holds sequences, not molecules")
    if fmt in ("pdb", "pdb-dir") and candidates.kind != "backbone":
        raise DesignerError(f"{path}: PDB output is for backbones, not {candidates.kind}s")
    writer = {"smiles": _write_smiles, "csv": _write_csv, "sdf": _write_sdf, "fasta": _write_fasta}.get(fmt)
    if writer is None:
        from designer.structure import write_backbones

        return write_backbones(candidates, path)
    tmp = path.with_name(path.name + ".part")
    try:
        writer(candidates, tmp)
        tmp.replace(path)  # never leave a half-written file under the real name
    except OSError as error:
        tmp.unlink(missing_ok=True)
        raise DesignerError(f"cannot write {path}: {error.strerror or error}") from None
    return path


def _write_smiles(candidates: Candidates, path: Path) -> None:
    with open(path, "w") as handle:
        for item, identifier in zip(candidates.items, candidates.ids, strict=True):
            handle.write(f"{item or '*'} {identifier}\n")


def _write_csv(candidates: Candidates, path: Path) -> None:
    candidates.to_pandas().to_csv(path, index=False, na_rep="nan")


def _write_sdf(candidates: Candidates, path: Path) -> None:
    from rdkit import Chem
    from rdkit.Chem import rdDepictor

    writer = Chem.SDWriter(str(path))
    writer.SetForceV3000(False)
    for i, mol in enumerate(candidates.mols):
        if mol is None:
            mol = Chem.Mol()  # keep the record (and its reason) so counts survive a round trip
        else:
            mol = Chem.Mol(mol)
            if mol.GetNumConformers() == 0:
                rdDepictor.Compute2DCoords(mol)  # viewers want coordinates
        for key in list(mol.GetPropNames()):
            mol.ClearProp(key)
        mol.SetProp("_Name", candidates.ids[i])
        mol.SetProp("smiles", candidates.items[i])
        for name, values in candidates.columns.items():
            mol.SetProp(name, _text(values[i]))
        if candidates.reasons[i]:
            mol.SetProp("reason", candidates.reasons[i])
        writer.write(mol)
    writer.close()


def _write_fasta(candidates: Candidates, path: Path) -> None:
    with open(path, "w") as handle:
        for i, sequence in enumerate(candidates.items):
            pairs = " ".join(f"{name}={_text(values[i]).replace(' ', '_')}"
                             for name, values in candidates.columns.items())
            if candidates.reasons[i]:  # why a score is NaN travels with it (spaces as underscores)
                pairs += f" reason={candidates.reasons[i].replace(' ', '_')}"
            handle.write(f">{candidates.ids[i]} {pairs}".rstrip() + "\n")
            for start in range(0, len(sequence), 60):
                handle.write(sequence[start:start + 60] + "\n")
