"""Reading and writing model checkpoints: one file per model, written whole, checked on load.

Every model family stores a dict with a ``format`` tag (e.g. ``"designer.foldingdiff/1"``); a
missing, truncated or foreign file becomes one :class:`DesignerError` line naming the file.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from designer.errors import DesignerError


def save_payload(payload: dict[str, Any], path: str | Path) -> Path:
    """``torch.save`` to a temporary file, then rename: a crash never leaves half a checkpoint."""
    import torch

    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".part")
    torch.save(payload, tmp)
    tmp.replace(path)
    return path


def read_payload(path: str | Path, expected_format: str, label: str) -> dict[str, Any]:
    """The checkpoint dict at ``path`` if it carries ``expected_format``; ``label`` names the model
    family in errors ("FoldingDiff", "Graph DiT", ...)."""
    import torch

    path = Path(path)
    if not path.exists():
        raise DesignerError(f"{label} checkpoint not found: {path}")
    try:
        payload = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as error:  # torch raises many types for truncated or foreign files
        raise DesignerError(f"cannot read {label} checkpoint {path}: {type(error).__name__}") from None
    if not isinstance(payload, dict) or payload.get("format") != expected_format:
        raise DesignerError(f"{path} is not a {label} checkpoint (expected format {expected_format})")
    return payload


def pack(checkpoint: dict[str, Any], half: tuple[str, ...] = ()) -> dict[str, Any]:
    """A compact copy of a Lightning checkpoint to commit between sessions: the optimizer moments and
    the weights whose names start with one of ``half`` (e.g. an EMA copy) in bfloat16; the trained
    weights stay float32. :func:`unpack` restores a checkpoint Lightning resumes from."""
    import torch

    def to_half(value: Any) -> Any:
        return value.bfloat16() if torch.is_tensor(value) and value.is_floating_point() and value.dim() else value

    packed = dict(checkpoint, packed=True)
    packed["state_dict"] = {k: to_half(v) if k.startswith(half) and half else v
                            for k, v in checkpoint["state_dict"].items()}
    packed["optimizer_states"] = [
        {**opt, "state": {i: {k: to_half(v) for k, v in moments.items()} for i, moments in opt["state"].items()}}
        for opt in checkpoint["optimizer_states"]]
    return packed


def unpack(path: Path, run_dir: Path) -> str:
    """The Lightning checkpoint to resume from: ``path`` itself, or a float32 copy of a packed one
    written to ``run_dir``."""
    import torch

    state = torch.load(path, map_location="cpu", weights_only=False)
    if not state.get("packed"):
        return str(path)

    def full(value: Any) -> Any:
        return value.float() if torch.is_tensor(value) and value.dtype == torch.bfloat16 else value

    state["state_dict"] = {k: full(v) for k, v in state["state_dict"].items()}
    for opt in state["optimizer_states"]:
        opt["state"] = {i: {k: full(v) for k, v in moments.items()} for i, moments in opt["state"].items()}
    state.pop("packed")
    run_dir.mkdir(parents=True, exist_ok=True)
    target = run_dir / "unpacked.ckpt"
    torch.save(state, target)
    return str(target)
