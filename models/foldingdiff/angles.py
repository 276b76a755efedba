"""Backbone coordinates <-> the six FoldingDiff internal angles per residue (paper Fig. 1).

Per residue i the angles are, in this order (as in the reference code's feature order):
  phi_i   = dihedral(C_{i-1}, N_i, CA_i, C_i)        (undefined for the first residue)
  psi_i   = dihedral(N_i, CA_i, C_i, N_{i+1})        (undefined for the last residue)
  omega_i = dihedral(CA_i, C_i, N_{i+1}, CA_{i+1})   (undefined for the last residue)
  tau_i   = angle(N_i, CA_i, C_i)
  CA:C:N  = angle(CA_i, C_i, N_{i+1})                (undefined for the last residue)
  C:N:CA  = angle(C_i, N_{i+1}, CA_{i+1})            (undefined for the last residue)
Undefined entries are 0 and excluded from the loss via :func:`angle_mask`. Coordinates are rebuilt
with NeRF (Parsons et al. 2005) using ideal bond lengths; O is placed in the peptide plane.
"""

from __future__ import annotations

import numpy as np

ANGLE_NAMES = ("phi", "psi", "omega", "tau", "CA:C:N", "C:N:CA")
N_CA, CA_C, C_N, C_O = 1.458, 1.525, 1.329, 1.231  # ideal bond lengths in Å (Engh & Huber)
CA_C_O = np.deg2rad(120.5)


def _dihedral(a: np.ndarray, b: np.ndarray, c: np.ndarray, d: np.ndarray) -> np.ndarray:
    b0, b1, b2 = a - b, c - b, d - c
    b1n = b1 / np.linalg.norm(b1, axis=-1, keepdims=True)
    v = b0 - np.sum(b0 * b1n, -1, keepdims=True) * b1n
    w = b2 - np.sum(b2 * b1n, -1, keepdims=True) * b1n
    x = np.sum(v * w, -1)
    y = np.sum(np.cross(b1n, v) * w, -1)
    return np.arctan2(y, x)


def _angle(a: np.ndarray, b: np.ndarray, c: np.ndarray) -> np.ndarray:
    u, v = a - b, c - b
    cos = np.sum(u * v, -1) / (np.linalg.norm(u, axis=-1) * np.linalg.norm(v, axis=-1))
    return np.arccos(np.clip(cos, -1.0, 1.0))


def backbone_to_angles(coords: np.ndarray) -> np.ndarray:
    """(L, >=3, 3) N, CA, C[, O] coordinates -> (L, 6) angles in radians (undefined entries 0)."""
    coords = np.asarray(coords, dtype=np.float64)
    n, ca, c = coords[:, 0], coords[:, 1], coords[:, 2]
    length = len(coords)
    out = np.zeros((length, 6))
    out[1:, 0] = _dihedral(c[:-1], n[1:], ca[1:], c[1:])
    out[:-1, 1] = _dihedral(n[:-1], ca[:-1], c[:-1], n[1:])
    out[:-1, 2] = _dihedral(ca[:-1], c[:-1], n[1:], ca[1:])
    out[:, 3] = _angle(n, ca, c)
    out[:-1, 4] = _angle(ca[:-1], c[:-1], n[1:])
    out[:-1, 5] = _angle(c[:-1], n[1:], ca[1:])
    return out


def angle_mask(length: int, max_length: int | None = None) -> np.ndarray:
    """(max_length, 6) bool: which angles are defined for a chain of ``length`` residues."""
    size = max_length or length
    mask = np.zeros((size, 6), dtype=bool)
    mask[:length] = True
    mask[0, 0] = False
    mask[length - 1, [1, 2, 4, 5]] = False
    return mask


def _place(a: np.ndarray, b: np.ndarray, c: np.ndarray, bond: float, angle: np.ndarray,
           torsion: np.ndarray) -> np.ndarray:
    """NeRF: atom d with |cd| = bond, angle(b, c, d) = angle, dihedral(a, b, c, d) = torsion."""
    bc = c - b
    bc /= np.linalg.norm(bc, axis=-1, keepdims=True)
    nrm = np.cross(b - a, bc)
    nrm /= np.linalg.norm(nrm, axis=-1, keepdims=True)
    m = np.stack([bc, np.cross(nrm, bc), nrm], axis=-1)  # columns: local frame
    d2 = np.stack([-bond * np.cos(angle), bond * np.sin(angle) * np.cos(torsion),
                   bond * np.sin(angle) * np.sin(torsion)], axis=-1)
    return c + np.einsum("...ij,...j->...i", m, d2)


def angles_to_backbone(angles: np.ndarray) -> np.ndarray:
    """(L, 6) or (B, L, 6) angles -> (L, 4, 3) / (B, L, 4, 3) N, CA, C, O with ideal bond lengths."""
    angles = np.asarray(angles, dtype=np.float64)
    single = angles.ndim == 2
    if single:
        angles = angles[None]
    batch, length, _ = angles.shape
    xyz = np.zeros((batch, length, 4, 3))
    tau0 = angles[:, 0, 3]
    xyz[:, 0, 1, 0] = N_CA  # N at the origin, CA on the x axis, C in the xy plane
    xyz[:, 0, 2, 0] = N_CA - CA_C * np.cos(tau0)
    xyz[:, 0, 2, 1] = CA_C * np.sin(tau0)
    for i in range(length - 1):
        n, ca, c = xyz[:, i, 0], xyz[:, i, 1], xyz[:, i, 2]
        nxt = _place(n, ca, c, C_N, angles[:, i, 4], angles[:, i, 1])
        ca2 = _place(ca, c, nxt, N_CA, angles[:, i, 5], angles[:, i, 2])
        c2 = _place(c, nxt, ca2, CA_C, angles[:, i + 1, 3], angles[:, i + 1, 0])
        xyz[:, i + 1, 0], xyz[:, i + 1, 1], xyz[:, i + 1, 2] = nxt, ca2, c2
    xyz[:, :, 3] = place_oxygens(xyz[..., :3, :])
    return xyz[0] if single else xyz


def place_oxygens(nca_c: np.ndarray) -> np.ndarray:
    """Carbonyl O of each residue: in the plane of CA_i, C_i, N_{i+1}, anti to N_{i+1}."""
    n, ca, c = nca_c[..., 0, :], nca_c[..., 1, :], nca_c[..., 2, :]
    oxy = np.empty_like(c)
    oxy[..., :-1, :] = _place(n[..., 1:, :], ca[..., :-1, :], c[..., :-1, :], C_O,
                              np.full(c.shape[:-1], CA_C_O)[..., :-1], np.full(c.shape[:-1], np.pi)[..., :-1])
    # last residue: no N_{i+1}; put O trans to N_i about CA-C
    oxy[..., -1, :] = _place(n[..., -1, :], ca[..., -1, :], c[..., -1, :], C_O,
                             np.full(c.shape[:-2], CA_C_O), np.full(c.shape[:-2], np.pi))
    return oxy
