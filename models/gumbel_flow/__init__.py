"""Gumbel-Softmax Flow Matching with Straight-Through Guided Flows (STGFlow).

Tang, Zhang, Tong, Chatterjee 2025 (arXiv 2503.17361): a flow on the probability simplex along a
Gumbel-Softmax interpolant with a decaying temperature, trained with cross-entropy, sampled by Euler
steps, and steered at inference time by classifiers trained on clean one-hot sequences.

- ``flow.py``: interpolant, temperature schedule, velocity field, Euler sampler, STGFlow guidance
- ``model.py``: the denoiser (transformer) and the guide networks (CNN classifier / regressor)
- ``data.py``: the shipped data sets (modlamp peptides, mavenn sort-seq DNA, UniProtKB proteins from
  Debian mmseqs2-examples)
- ``lightning.py``: training modules; ``train.py``: training from ``configs/gumbel_flow_*.toml``
- ``sample.py``: :class:`GumbelFlowGenerator`, checkpoints, the registry loaders
"""
