"""TFG-Flow (Lin et al., ICLR 2025): a multimodal flow over 3D coordinates and atom types of QM9
heavy-atom molecules with training-free guidance (gradient guidance for coordinates, importance
sampling for the discrete types) towards a target value of a property predictor."""
