"""Structural alerts through RDKit's FilterCatalog: PAINS A/B/C (Baell & Holloway 2010), Brenk
(unwanted groups, Brenk 2008) and NIH (reactive/undesirable). Each oracle counts matches; 0 is clean."""

from __future__ import annotations

from functools import cache

from rdkit import Chem
from rdkit.Chem.FilterCatalog import FilterCatalog, FilterCatalogParams

from designer.oracles.base import ItemOracle, Oracle
from designer.registry import register_oracle

CATALOGS = {
    "pains": ("PAINS", "PAINS A/B/C substructure alerts (Baell & Holloway 2010)"),
    "brenk": ("BRENK", "Brenk unwanted-group alerts (Brenk et al. 2008)"),
    "nih": ("NIH", "NIH/NCGC reactive and undesirable-group alerts"),
}


@cache
def catalog(name: str) -> FilterCatalog:
    """The RDKit filter catalog for ``PAINS``, ``BRENK`` or ``NIH`` (built once per process)."""
    params = FilterCatalogParams()
    params.AddCatalog(getattr(FilterCatalogParams.FilterCatalogs, name))
    return FilterCatalog(params)


def alert_names(mol: Chem.Mol, catalog_name: str) -> list[str]:
    """Descriptions of every alert of ``catalog_name`` that ``mol`` matches."""
    return [entry.GetDescription() for entry in catalog(catalog_name).GetMatches(mol)]


def _register(name: str, catalog_name: str, description: str) -> None:
    def count(mol: Chem.Mol) -> float:
        return len(catalog(catalog_name).GetMatches(mol))

    @register_oracle(name, "molecule", f"{description}: number of matches")
    def factory(arg: str | None) -> Oracle:
        return ItemOracle(name, "molecule", count, direction="minimize", low=0.0,
                          description=f"{description}: number of matches")


for _name, (_catalog, _description) in CATALOGS.items():
    _register(_name, _catalog, _description)
