"""Property ↔ SMILES transformers (Luu, Wysokowski & Buehler 2023): forward models (SMILES →
properties, served as learned oracles), inverse models (properties → SMILES, autoregressive with
classifier-free guidance) on QM9 and MOSES."""
