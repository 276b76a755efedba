"""Run directories: the resolved config, candidates chunk by chunk as they are produced, exports and
``summary.json``. Each finished chunk is written whole (temporary file, then rename), so a run
killed at any moment loses at most the chunk in progress, and ``--resume`` redoes only that one.
"""

from __future__ import annotations

import json
import math
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

from designer.candidates import Candidates
from designer.errors import DesignerError

CONFIG_FILE = "config.toml"
CHUNK_DIR = "chunks"


def _json_value(value: Any) -> Any:
    if isinstance(value, float | np.floating):
        return None if math.isnan(value) else float(value)
    if isinstance(value, np.integer):
        return int(value)
    return value


class RunStore:
    """The files of one run under ``directory``."""

    def __init__(self, directory: str | Path) -> None:
        self.directory = Path(directory)

    @property
    def chunk_dir(self) -> Path:
        return self.directory / CHUNK_DIR

    def start(self, config_text: str, *, resume: bool, same: Callable[[str, str], bool] | None = None,
              fingerprint: dict[str, str] | None = None) -> bool:
        """Create the run, or check that ``--resume`` continues the same config (``same(old, new)``
        decides; default: identical text) over the same inputs (``fingerprint``: file hashes);
        True if created now. A resumed run keeps the new config text."""
        config_path = self.directory / CONFIG_FILE
        prints_path = self.directory / "fingerprint.json"
        if config_path.exists():
            if not resume:
                raise DesignerError(f"{self.directory} already holds a run; pass --resume to continue it, "
                                    "or choose another output directory")
            old = config_path.read_text()
            if not (same or str.__eq__)(old, config_text):
                raise DesignerError(f"{self.directory} was started with a different config; resume it with "
                                    f"the config in {config_path}, or choose another output directory")
            before = json.loads(prints_path.read_text()) if prints_path.exists() else {}
            changed = [key for key, value in (fingerprint or {}).items() if key in before and before[key] != value]
            if changed:
                raise DesignerError(f"{self.directory}: {', '.join(changed)} changed since the run started "
                                    "(its results would mix two inputs); start a new run in another directory")
            config_path.write_text(config_text)
        elif resume:
            raise DesignerError(f"{self.directory}: no run to resume (no {CONFIG_FILE})")
        created = not config_path.exists()
        self.chunk_dir.mkdir(parents=True, exist_ok=True)
        if created:
            config_path.write_text(config_text)
            if fingerprint:
                prints_path.write_text(json.dumps(fingerprint, indent=1) + "\n")
        return created

    def log_session(self, seconds: float) -> float:
        """Append this session's wall time; returns the run's total over all sessions."""
        path = self.directory / "sessions.jsonl"
        with open(path, "a") as handle:
            handle.write(json.dumps({"elapsed_s": round(seconds, 3)}) + "\n")
        return sum(json.loads(line)["elapsed_s"] for line in path.read_text().splitlines() if line.strip())

    def discard(self) -> None:
        """Remove a run that never finished a chunk (a failed start must not block the corrected rerun)."""
        if self.done():
            return
        import shutil

        for name in (CONFIG_FILE, CHUNK_DIR, "failed", "fingerprint.json", "sessions.jsonl"):
            path = self.directory / name
            if path.is_dir():
                shutil.rmtree(path)
            else:
                path.unlink(missing_ok=True)
        if self.directory.exists() and not any(self.directory.iterdir()):
            self.directory.rmdir()

    def done(self) -> set[int]:
        """Indices of the chunks already written."""
        return {int(p.stem) for p in self.chunk_dir.glob("*.jsonl")}

    def write_chunk(self, index: int, candidates: Candidates, meta: dict[str, Any]) -> None:
        """Write chunk ``index`` atomically: a header line with ``meta``, then one line per candidate."""
        from rdkit import Chem

        lines = [json.dumps({"chunk": index, "kind": candidates.kind, "alphabet": candidates.alphabet, **meta})]
        valid = candidates.valid
        for i in range(len(candidates)):
            record: dict[str, Any] = {"id": candidates.ids[i], "item": candidates.items[i],
                                      "reason": candidates.reasons[i], "valid": bool(valid[i]),
                                      "scores": {k: _json_value(v[i]) for k, v in candidates.columns.items()}}
            obj = candidates.objects[i] if candidates.objects is not None else None
            if candidates.kind == "molecule" and obj is not None and obj.GetNumConformers():
                record["molblock"] = Chem.MolToMolBlock(obj)
            elif candidates.kind == "backbone" and obj is not None:
                record["coords"] = np.round(np.asarray(obj), 3).tolist()
            lines.append(json.dumps(record))
        target = self.chunk_dir / f"{index:06d}.jsonl"
        tmp = target.with_suffix(".part")
        tmp.write_text("\n".join(lines) + "\n")
        tmp.replace(target)

    def read_chunks(self) -> tuple[Candidates | None, list[dict[str, Any]]]:
        """All written chunks in order: the candidates and each chunk's header."""
        from rdkit import Chem

        tables, headers = [], []
        for path in sorted(self.chunk_dir.glob("*.jsonl")):
            lines = path.read_text().splitlines()
            header = json.loads(lines[0])
            records = [json.loads(line) for line in lines[1:]]
            headers.append(header)
            names = list(dict.fromkeys(k for r in records for k in r["scores"]))
            columns = {n: np.array([r["scores"].get(n) for r in records], dtype=object) for n in names}
            columns = {n: (v.astype(float) if all(x is None or isinstance(x, int | float) for x in v) else v)
                       for n, v in columns.items()}
            items = [r["item"] for r in records]
            ids = [r["id"] for r in records]
            reasons = [r["reason"] for r in records]
            if header["kind"] == "molecule":
                table = Candidates.from_smiles(items, ids)
                for i, r in enumerate(records):
                    if "molblock" in r:
                        table.objects[i] = Chem.MolFromMolBlock(r["molblock"], removeHs=False)  # type: ignore[index]
                    if r.get("valid") is False:  # e.g. a salt with no organic parent: it parses, but was ruled out
                        table.objects[i] = None  # type: ignore[index]
                table.reasons = reasons
                table.columns = columns
            elif header["kind"] == "sequence":
                table = Candidates("sequence", items, ids, columns, reasons, header.get("alphabet"))
            else:
                objects = [np.asarray(r["coords"]) if "coords" in r else None for r in records]
                table = Candidates("backbone", items, ids, columns, reasons, objects=objects)
            tables.append(table)
        tables = [t for t in tables if len(t)] or tables[:1]
        return (Candidates.concat(tables) if tables else None), headers

    def write_summary(self, summary: dict[str, Any]) -> Path:
        path = self.directory / "summary.json"
        path.write_text(json.dumps(summary, indent=2, default=_json_value) + "\n")
        return path
