"""Offline model-based optimisation of sequences: tasks with hidden true objectives, and optimizers
that propose designs from a fixed data set of scored sequences (BDI and baselines)."""
