"""The table every step works on: candidates (molecules, sequences or backbones) plus score columns.

A candidate that cannot be parsed or scored is never dropped silently: it stays in the table with
NaN scores and a reason, and the ``valid`` filter removes it when asked.
"""

from __future__ import annotations

import html
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Literal

import numpy as np

from designer.errors import DesignerError

if TYPE_CHECKING:
    import pandas as pd
    from rdkit import Chem

Kind = Literal["molecule", "sequence", "backbone"]
KINDS: tuple[Kind, ...] = ("molecule", "sequence", "backbone")


@dataclass(frozen=True)
class Unmade:
    """A sample a generator could not turn into a candidate (e.g. a 3D geometry whose bonds cannot be
    perceived): it stays in the table as an invalid row with this reason."""

    reason: str

ALPHABETS: dict[str, str] = {  # the letters models are trained on (one-hot order)
    "dna": "ACGT",
    "rna": "ACGU",
    "protein": "ACDEFGHIKLMNPQRSTVWY",
}
EXTRA_LETTERS: dict[str, str] = {  # real letters a valid input may also hold: N (any base), U/O (Sec/Pyl)
    "dna": "N",
    "rna": "N",
    "protein": "UO",
}


def smiles_problem(text: str) -> str:
    """Why RDKit rejects a SMILES, in RDKit's words: a syntax error, or the chemistry problems it finds
    (e.g. "Explicit valence for atom # 3 N, 4, is greater than permitted", "Can't kekulize mol")."""
    from rdkit import Chem

    raw = Chem.MolFromSmiles(text, sanitize=False)
    if raw is None:
        return f"invalid SMILES {text!r}: not parsable (syntax)"
    try:
        problems = [p.Message() for p in Chem.DetectChemistryProblems(raw)]
    except RuntimeError as error:  # DetectChemistryProblems itself can fail on odd input
        problems = [str(error)]
    return f"invalid SMILES {text!r}: " + ("; ".join(problems) or "RDKit could not sanitize it")


def sequence_problem(sequence: str, alphabet: str, strict: bool = False) -> str:
    """Why ``sequence`` is not a word over ``alphabet`` ("" when it is), naming every bad letter and
    where it first occurs. ``strict`` allows only the letters models are trained on (no N, U, O)."""
    letters = ALPHABETS[alphabet] + ("" if strict else EXTRA_LETTERS.get(alphabet, ""))
    if not sequence:
        return "empty sequence"
    bad: dict[str, int] = {}
    for position, letter in enumerate(sequence, start=1):
        if letter not in letters and letter not in bad:
            bad[letter] = position
    if not bad:
        return ""
    listed = ", ".join(f"{letter!r} (position {position})" for letter, position in bad.items())
    hint = ""
    if alphabet != "protein" and all(letter in ALPHABETS["protein"] + "UO" for letter in bad):
        hint = "; if these are proteins, read them with --alphabet protein"
    word = "letter" if len(bad) == 1 else "letters"
    return f"{word} {listed} not in the {alphabet} alphabet ({letters}){hint}"


def guess_alphabet(sequences: Iterable[str]) -> str:
    """``dna`` when at least 90 % of all letters are A/C/G/T/N (a typo does not turn a DNA file into
    protein), ``rna`` likewise with U, else ``protein``."""
    text = "".join(sequences).upper()
    if not text:
        return "protein"
    for name, letters in (("dna", "ACGTN"), ("rna", "ACGUN")):
        if sum(text.count(letter) for letter in letters) >= 0.9 * len(text):
            return name
    return "protein"


@dataclass
class Candidates:
    """A typed table of candidates and their scores.

    ``items`` are SMILES (molecules), letter strings (sequences) or residue strings (backbones);
    ``reasons[i]`` is "" for a sound candidate, else why it is invalid or could not be scored.
    ``objects`` holds parsed forms where they exist: RDKit molecules (with any 3D conformer) or
    backbone coordinates of shape (L, 4, 3) for N, CA, C, O.
    """

    kind: Kind
    items: list[str]
    ids: list[str] = field(default_factory=list)
    columns: dict[str, np.ndarray] = field(default_factory=dict)
    reasons: list[str] = field(default_factory=list)
    alphabet: str | None = None
    objects: list[Any] | None = None
    summary: dict[str, Any] = field(default_factory=dict, repr=False, compare=False)  # how it was made

    def __post_init__(self) -> None:
        if self.kind not in KINDS:
            raise DesignerError(f"unknown candidate kind {self.kind!r} (known: {', '.join(KINDS)})")
        n = len(self.items)
        if not self.ids:
            self.ids = [f"{self.kind[:3]}{i:06d}" for i in range(1, n + 1)]
        if not self.reasons:
            self.reasons = [""] * n
        if len(self.ids) != n or len(self.reasons) != n:
            raise ValueError("ids and reasons must have one entry per candidate")
        for name, values in self.columns.items():
            if len(values) != n:
                raise ValueError(f"column {name!r} has {len(values)} values for {n} candidates")

    # --- construction -------------------------------------------------------------------------
    @classmethod
    def from_smiles(cls, smiles: Sequence[str | None], ids: Sequence[str] | None = None) -> Candidates:
        """Molecules from SMILES; an unparsable SMILES stays, marked invalid with a reason."""
        from rdkit import Chem, RDLogger

        RDLogger.DisableLog("rdApp.*")
        items, mols, reasons = [], [], []
        for text in smiles:
            text = (text or "").strip()
            mol = Chem.MolFromSmiles(text) if text else None
            items.append(text)
            mols.append(mol)
            reasons.append("" if mol is not None else ("empty SMILES" if not text else smiles_problem(text)))
        return cls("molecule", items, list(ids or []), reasons=reasons, objects=mols)

    @classmethod
    def from_sequences(cls, sequences: Sequence[str], ids: Sequence[str] | None = None,
                       alphabet: str | None = None) -> Candidates:
        """Sequences over ``alphabet`` (guessed when None); a bad letter marks that sequence invalid."""
        items = [s.strip().upper().removesuffix("*") for s in sequences]  # a trailing stop codon mark
        alphabet = alphabet or guess_alphabet(items)
        if alphabet not in ALPHABETS:
            from designer.errors import UnknownNameError

            raise UnknownNameError("alphabet", alphabet, ALPHABETS)
        reasons = [sequence_problem(s, alphabet) for s in items]
        table = cls("sequence", items, list(ids or []), reasons=reasons, alphabet=alphabet)
        if alphabet == "protein":  # a nucleotide record among proteins would be scored as a peptide of A/C/G/T
            looks_dna = [len(s) >= 12 and set(s) <= set("ACGTN") for s in items]
            if any(looks_dna):
                table.columns["note"] = np.array(["only A/C/G/T letters: a DNA record? read it with --alphabet dna"
                                                  if dna else "" for dna in looks_dna], dtype=object)
        return table

    # --- access -------------------------------------------------------------------------------
    def __len__(self) -> int:
        return len(self.items)

    def __iter__(self) -> Iterator[str]:
        return iter(self.items)

    @property
    def valid(self) -> np.ndarray:
        """Boolean mask of candidates that parsed (scores may still be NaN for other reasons)."""
        if self.kind == "molecule":
            return np.array([m is not None for m in self.mols], dtype=bool)
        if self.kind == "sequence":
            return np.array([not sequence_problem(s, self.alphabet or "protein") for s in self.items],
                            dtype=bool)
        return np.array([o is not None for o in (self.objects or [None] * len(self))], dtype=bool)

    @property
    def mols(self) -> list[Chem.Mol | None]:
        """RDKit molecules (parsed once from SMILES and kept)."""
        if self.kind != "molecule":
            raise DesignerError(f"{self.kind} candidates have no molecules")
        if self.objects is None:
            self.objects = Candidates.from_smiles(self.items).objects
        return self.objects  # type: ignore[return-value]

    def column(self, name: str) -> np.ndarray:
        """One score column, with an error naming the columns that exist."""
        if name not in self.columns:
            from designer.errors import UnknownNameError

            raise UnknownNameError("column", name, self.columns)
        return self.columns[name]

    def add_reason(self, index: int, reason: str) -> None:
        """Record why candidate ``index`` could not be scored, keeping earlier reasons."""
        if reason and reason not in self.reasons[index]:
            self.reasons[index] = f"{self.reasons[index]}; {reason}" if self.reasons[index] else reason

    # --- reshaping ----------------------------------------------------------------------------
    def take(self, indices: Sequence[int] | np.ndarray) -> Candidates:
        """A new table with the rows at ``indices`` (a boolean mask works too)."""
        index = np.asarray(indices)
        if index.dtype == bool:
            index = np.flatnonzero(index)
        return Candidates(
            self.kind,
            [self.items[i] for i in index],
            [self.ids[i] for i in index],
            {name: values[index] for name, values in self.columns.items()},
            [self.reasons[i] for i in index],
            self.alphabet,
            None if self.objects is None else [self.objects[i] for i in index],
        )

    @classmethod
    def concat(cls, tables: Sequence[Candidates]) -> Candidates:
        """Stack tables of one kind; a column missing from a table is NaN there."""
        if not tables:
            raise ValueError("nothing to concatenate")
        kinds = {t.kind for t in tables}
        if len(kinds) > 1:
            raise DesignerError(f"cannot mix candidate kinds {sorted(kinds)}")
        names = list(dict.fromkeys(name for t in tables for name in t.columns))
        columns = {}
        for name in names:
            parts = [t.columns.get(name, np.full(len(t), np.nan)) for t in tables]
            dtype = object if any(p.dtype == object for p in parts) else None
            columns[name] = np.concatenate([p.astype(dtype) if dtype else p for p in parts])
        objects = None
        if any(t.objects is not None for t in tables):
            objects = [o for t in tables for o in (t.objects or [None] * len(t))]
            if tables[0].kind == "molecule":
                objects = None if any(t.objects is None for t in tables) else objects
        return cls(tables[0].kind, [i for t in tables for i in t.items], [i for t in tables for i in t.ids],
                   columns, [r for t in tables for r in t.reasons], tables[0].alphabet, objects)

    # --- views --------------------------------------------------------------------------------
    @property
    def item_label(self) -> str:
        return {"molecule": "smiles", "sequence": "sequence", "backbone": "residues"}[self.kind]

    def to_pandas(self, mols: bool = False) -> pd.DataFrame:
        """A DataFrame: ``id``, the item (``smiles``/``sequence``/``residues``), scores, ``reason``;
        with ``mols=True`` also a ``ROMol`` column of RDKit molecules, as ``PandasTools`` expects
        (``PandasTools.RenderImagesInAllDataFrames()`` then draws them)."""
        import pandas as pd

        frame = pd.DataFrame({"id": self.ids, self.item_label: self.items})
        for name, values in self.columns.items():
            frame[name] = values
        frame["reason"] = self.reasons
        if mols and self.kind == "molecule":
            frame["ROMol"] = self.mols
        return frame

    def __repr__(self) -> str:
        invalid = int((~self.valid).sum()) if len(self) else 0
        names = ", ".join(self.columns) or "no scores"
        return f"<Candidates {len(self)} {self.kind}s ({invalid} invalid); {names}>"

    def _repr_html_(self, max_rows: int = 20, caption: bool = True) -> str:
        """Jupyter view: the first rows, with RDKit depictions of molecules (``caption``: the summary line)."""
        head = self.take(np.arange(min(max_rows, len(self))))
        header = ["id", self.item_label, *head.columns, "reason"]
        if self.kind == "molecule":
            header.insert(0, "structure")
        rows = []
        for i in range(len(head)):
            cells = []
            if self.kind == "molecule":
                cells.append(_molecule_svg(head.mols[i]))
            cells += [html.escape(head.ids[i]), html.escape(head.items[i])]
            for values in head.columns.values():
                value = values[i]
                cells.append(f"{value:.3g}" if isinstance(value, float | np.floating) else html.escape(str(value)))
            cells.append(html.escape(head.reasons[i]))
            rows.append("<tr>" + "".join(f"<td>{c}</td>" for c in cells) + "</tr>")
        more = f"<p>{len(self) - len(head)} more rows</p>" if len(self) > len(head) else ""
        return ((f"<p>{html.escape(repr(self))}</p>" if caption else "") + "<table><thead><tr>"
                + "".join(f"<th>{html.escape(h)}</th>" for h in header)
                + "</tr></thead><tbody>" + "".join(rows) + "</tbody></table>" + more)


def _molecule_svg(mol: Chem.Mol | None, size: tuple[int, int] = (160, 120)) -> str:
    if mol is None:
        return ""
    from rdkit.Chem.Draw import rdMolDraw2D

    drawer = rdMolDraw2D.MolDraw2DSVG(*size)
    drawer.DrawMolecule(mol)
    drawer.FinishDrawing()
    return drawer.GetDrawingText().replace("<?xml version='1.0' encoding='iso-8859-1'?>", "")
