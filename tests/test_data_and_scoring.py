"""Data loaders from registry packages, and parallel scoring equal to serial scoring."""

from __future__ import annotations

import numpy as np
import pytest

import designer
from designer.data import moses_smiles, qm9
from designer.scoring import score as score_table


def test_moses_test_split_from_the_molsets_wheel() -> None:
    smiles = moses_smiles("test")
    assert len(smiles) == 176_074
    assert all(isinstance(s, str) and s for s in smiles[:100])


def test_moses_unknown_split() -> None:
    from designer.errors import UnknownNameError

    with pytest.raises(UnknownNameError, match="did you mean 'test'"):
        moses_smiles("tset")


def test_qm9_records_have_geometry_and_properties() -> None:
    molecules = qm9(limit=3)
    methane, _ammonia, water = molecules
    assert methane.smiles == "C" and methane.elements == ["C", "H", "H", "H", "H"]
    assert methane.xyz.shape == (5, 3)
    assert water.properties["HOMO_LUMO_gap_au"] == pytest.approx(0.3399, abs=0.1)


def test_parallel_scoring_equals_serial() -> None:
    smiles = [*moses_smiles("test")[:300], "not a smiles"]
    serial = designer.score(smiles, ["qed", "sa", "pains"], workers=1)
    parallel = designer.score(smiles, ["qed", "sa", "pains"], workers=2)
    parallel_chunks = score_table(designer.as_candidates(smiles), ["qed", "sa", "pains"], workers=2,
                                             chunk_size=50)
    for name in ("qed", "sa", "pains"):
        np.testing.assert_array_equal(serial.columns[name], parallel.columns[name])
        np.testing.assert_array_equal(serial.columns[name], parallel_chunks.columns[name])
    assert parallel_chunks.reasons == serial.reasons
