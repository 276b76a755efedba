"""Input standardisation as chemists expect before scoring: the parent molecule.

The parent is the largest *organic* fragment (RDKit ``rdMolStandardize.LargestFragmentChooser`` with
``preferOrganic``), neutralised by RDKit's ``Uncharger`` (acids and bases protonated or deprotonated
to neutral where a neutral form exists; quaternary ammonium keeps its charge). So the potassium salt
of benzoic acid is scored as benzoic acid and ``CCO.O`` as ethanol. A mixture with no organic
fragment (``[Na+].[Cl-]``, ``[Fe+2]``) has no parent: it becomes invalid with that reason.

The input SMILES stays in the ``input_smiles`` column and a ``note`` says what changed, so nothing
happens silently; ``standardize=False`` (``--no-standardize``) keeps molecules as given.
"""

from __future__ import annotations

from functools import cache
from typing import Any

import numpy as np

from designer.candidates import Candidates

NO_PARENT = "no organic parent: a salt, metal or inorganic mixture (standardisation keeps organic molecules)"


@cache
def _tools() -> tuple[Any, Any]:
    from rdkit.Chem.MolStandardize import rdMolStandardize

    return rdMolStandardize.LargestFragmentChooser(preferOrganic=True), rdMolStandardize.Uncharger()


def parent(mol: Any) -> tuple[Any | None, str, str]:
    """(parent molecule, its SMILES, what changed) for one RDKit molecule; (None, "", reason) without an
    organic parent."""
    from rdkit import Chem

    chooser, uncharger = _tools()
    fragments = Chem.GetMolFrags(mol, asMols=False)
    largest = chooser.choose(mol)
    if not any(atom.GetAtomicNum() == 6 for atom in largest.GetAtoms()):
        return None, "", NO_PARENT
    neutral = uncharger.uncharge(largest)
    smiles = Chem.MolToSmiles(neutral)
    changes = []
    if len(fragments) > 1:
        changes.append(f"kept the largest organic fragment of {len(fragments)}")
    if smiles != Chem.MolToSmiles(largest):
        changes.append("neutralised")
    return neutral, smiles, "; ".join(changes)


def standardize(table: Candidates) -> Candidates:
    """A new table of parent molecules (molecules only; sequences and backbones are returned as they are)."""
    if table.kind != "molecule":
        return table
    items, mols, reasons = list(table.items), list(table.mols), list(table.reasons)
    notes = [str(n) for n in table.columns.get("note", np.full(len(table), "", dtype=object))]
    changed = False
    for i, mol in enumerate(table.mols):
        if mol is None:
            continue
        standard, smiles, what = parent(mol)
        if standard is None:
            mols[i], reasons[i] = None, what
            changed = True
            continue
        if what:
            mols[i], items[i] = standard, smiles
            notes[i] = "; ".join(filter(None, [notes[i], f"standardised: {what}"]))
            changed = True
    if not changed:
        return table
    columns = {"input_smiles": np.array(table.items, dtype=object), **table.columns,
               "note": np.array(notes, dtype=object)}
    return Candidates("molecule", items, list(table.ids), columns, reasons, objects=mols)
