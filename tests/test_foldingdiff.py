"""FoldingDiff: angle round trip, wrapping, cosine schedule, seeded sampling, PDB round trip, errors.

Uses a tiny untrained denoiser (the sampler's correctness does not depend on training) and one real
chain from the shipped data set.
"""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pytest
import torch

from designer.errors import DesignerError
from designer.generators import Generator
from designer.models.foldingdiff.angles import angle_mask, angles_to_backbone, backbone_to_angles
from designer.models.foldingdiff.data import LengthBuckets, load_chains, padded, trimmed
from designer.models.foldingdiff.model import AngleDenoiser
from designer.models.foldingdiff.noise import AngleDiffusion, cosine_alpha_bar, wrap
from designer.models.foldingdiff.sample import FoldingDiffGenerator, load, save_checkpoint


@pytest.fixture(scope="module")
def chain() -> np.ndarray:
    return load_chains().coords[0]


@pytest.fixture(scope="module")
def generator() -> FoldingDiffGenerator:
    torch.manual_seed(0)
    model = AngleDenoiser(hidden=32, layers=1, heads=4, max_offset=16, dropout=0.0)
    return FoldingDiffGenerator(model, 20, np.zeros(6), [40, 60, 128])


def test_angles_nerf_round_trip(chain: np.ndarray) -> None:
    angles = backbone_to_angles(chain)
    rebuilt = angles_to_backbone(angles)
    again = backbone_to_angles(rebuilt)
    mask = angle_mask(len(chain))
    diff = np.abs(np.angle(np.exp(1j * (angles - again))))[mask]
    assert diff.max() <= 1e-3
    ca = rebuilt[:, 1]
    assert np.allclose(np.linalg.norm(np.diff(ca, axis=0), axis=-1), 3.8, atol=0.15)
    assert np.allclose(np.linalg.norm(rebuilt[:, 3] - rebuilt[:, 2], axis=-1), 1.231, atol=1e-6)


def test_wrap() -> None:
    x = torch.tensor([0.0, math.pi, -math.pi, 3 * math.pi / 2, -7.0, 100.0])
    w = wrap(x)
    assert torch.all(w >= -math.pi) and torch.all(w < math.pi)
    assert torch.allclose(torch.sin(w), torch.sin(x), atol=1e-5)
    assert torch.allclose(torch.cos(w), torch.cos(x), atol=1e-5)
    assert w[1].item() == pytest.approx(-math.pi)


def test_cosine_schedule() -> None:
    abar = cosine_alpha_bar(1000)
    assert abar[0] == 1.0 and torch.all(abar[1:] < abar[:-1])  # strictly decreasing
    assert abar[-1] < 1e-4
    t = 500  # cosine form: abar_t = cos^2(((t/T + s)/(1+s)) pi/2) / cos^2((s/(1+s)) pi/2)
    s = 0.008
    expected = math.cos((t / 1000 + s) / (1 + s) * math.pi / 2) ** 2 / math.cos(s / (1 + s) * math.pi / 2) ** 2
    assert abar[t].item() == pytest.approx(expected, rel=1e-6)
    diffusion = AngleDiffusion(100)
    x0 = torch.zeros(4, 10, 6)
    xt = diffusion.q_sample(x0, torch.tensor([1, 10, 50, 100]), torch.randn(4, 10, 6) * 5)
    assert torch.all(xt.abs() <= math.pi)


def test_generator_protocol_and_determinism(generator: FoldingDiffGenerator) -> None:
    assert isinstance(generator, Generator) and generator.kind == "backbone"
    a = generator.sample(3, {}, seed=7, lengths=[40, 50, 45])
    b = generator.sample(3, {}, seed=7, lengths=[40, 50, 45])
    c = generator.sample(3, {}, seed=8, lengths=[40, 50, 45])
    assert [x.shape for x in a] == [(40, 4, 3), (50, 4, 3), (45, 4, 3)]
    assert all(np.array_equal(x, y) for x, y in zip(a, b, strict=True))
    assert not np.array_equal(a[0], c[0])
    ranged = generator.sample(4, {}, seed=1, lengths=(40, 60))
    assert all(40 <= len(x) <= 60 for x in ranged)


def test_bfloat16_sampling_is_seeded_and_follows_the_card() -> None:
    torch.manual_seed(0)
    model = AngleDenoiser(hidden=32, layers=1, heads=4, max_offset=16, dropout=0.0)
    assert not FoldingDiffGenerator(model, 20, np.zeros(6), [40, 60]).bfloat16
    fast = FoldingDiffGenerator(model, 20, np.zeros(6), [40, 60], card={"sampling_precision": "bf16"})
    exact = FoldingDiffGenerator(model, 20, np.zeros(6), [40, 60])
    a, b = fast.sample_angles([40, 50], seed=3), fast.sample_angles([40, 50], seed=3)
    assert all(np.array_equal(x, y) for x, y in zip(a, b, strict=True))
    c = exact.sample_angles([40, 50], seed=3)
    # same noise, different arithmetic (whether the samples are as good is the benchmark's question)
    assert not all(np.array_equal(x, y) for x, y in zip(a, c, strict=True))


def test_bad_length(generator: FoldingDiffGenerator) -> None:
    with pytest.raises(DesignerError, match="outside the range") as info:
        generator.sample(1, {}, lengths=[200])
    assert "\n" not in str(info.value)


def test_pdb_round_trip(generator: FoldingDiffGenerator, tmp_path: Path) -> None:
    from designer.candidates import Candidates
    from designer.io import read
    from designer.structure import write_backbones

    coords = generator.sample(2, {}, seed=3, lengths=[40, 41])
    cands = Candidates("backbone", ["G" * 40, "G" * 41], ["b0", "b1"], {}, objects=coords)
    write_backbones(cands, tmp_path)
    back = read(tmp_path)
    assert back.kind == "backbone" and len(back) == 2
    for x, y in zip(coords, back.objects, strict=True):
        assert np.allclose(x, y, atol=1e-3)


def test_missing_backbone_atom(tmp_path: Path, chain: np.ndarray) -> None:
    from designer.io import read
    from designer.structure import backbone_pdb

    text = backbone_pdb(chain[:5], "GGGGG", {})
    lines = [line for line in text.splitlines() if not (line.startswith("ATOM") and " CA " in line
                                                          and line[22:26].strip() == "3")]
    (tmp_path / "broken.pdb").write_text("\n".join(lines) + "\n")
    with pytest.raises(DesignerError, match="lacks backbone atom CA") as info:
        read(tmp_path / "broken.pdb")
    assert "\n" not in str(info.value)


def test_checkpoint_save_load_and_errors(generator: FoldingDiffGenerator, tmp_path: Path) -> None:
    args = {"hidden": 32, "layers": 1, "heads": 4, "max_offset": 16, "dropout": 0.0}
    path = tmp_path / "fd.pt"
    save_checkpoint(path, generator.model, args, 20, np.zeros(6), [40, 60], {})
    loaded = load(path)
    ours = generator.sample(1, {}, seed=2, lengths=[40])[0]
    assert np.array_equal(loaded.sample(1, {}, seed=2, lengths=[40])[0], ours)
    (tmp_path / "bad.pt").write_bytes(b"not a checkpoint")
    for bad in (tmp_path / "bad.pt", tmp_path / "missing.pt"):
        with pytest.raises(DesignerError) as info:
            load(bad)
        assert "\n" not in str(info.value)


def test_structure_oracles(chain: np.ndarray) -> None:
    from designer.oracles import structure

    fractions = [structure.ss_fraction(s)(chain) for s in "HE-"]
    assert sum(fractions) == pytest.approx(1.0)
    assert structure.ca_clashes(chain) == 0 and structure.ca_ca_bad(chain) == 0
    assert 8 < structure.radius_of_gyration(chain) < 30
    assert structure.tm_score(chain, chain) == pytest.approx(1.0, abs=1e-3)


def test_mpnn_self_consistency_prefers_the_designed_backbone(chain: np.ndarray) -> None:
    from designer.oracles import structure

    own, other = chain[:50], chain[-50:]
    sequence, ll = structure.mpnn_design(own)
    assert structure.mpnn_sequence_ll(own, sequence) == pytest.approx(ll, abs=1e-5)  # same seeded order
    assert structure.mpnn_sequence_ll(other, sequence) < ll - 0.5  # another fold of the same length
    with pytest.raises(DesignerError, match="sequence of 49 residues"):
        structure.mpnn_sequence_ll(own, sequence[:-1])


def test_design_sequences_to_fasta(tmp_path: Path, chain: np.ndarray, monkeypatch, capsys) -> None:
    from Bio import SeqIO

    from designer.candidates import Candidates
    from designer.structure import write_backbones
    from tests.test_cli import designer_cli

    write_backbones(Candidates("backbone", ["G" * 50], ["real"], {}, objects=[chain[:50]]), tmp_path / "bb")
    out = tmp_path / "designs.fasta"
    args = ["design-sequences", str(tmp_path / "bb"), "-o", str(out), "--per-backbone", "2", "--seed", "1"]
    code, _, err = designer_cli(monkeypatch, capsys, *args)
    assert code == 0, err
    records = list(SeqIO.parse(out, "fasta"))
    assert [r.id for r in records] == ["real-mpnn1", "real-mpnn2"]
    assert all(len(r.seq) == 50 and set(str(r.seq)) <= set("ACDEFGHIKLMNPQRSTVWY") for r in records)
    assert all("mpnn_ll=" in r.description for r in records)
    first = out.read_text()
    assert designer_cli(monkeypatch, capsys, *args)[0] == 0 and out.read_text() == first  # seeded
    code, _, err = designer_cli(monkeypatch, capsys, "design-sequences", str(tmp_path / "no.pdb"), "-o", str(out))
    assert code == 2 and "no such file" in err and err.count("\n") == 1


def test_shipped_training_loop_resumes_from_the_packed_copy(tmp_path: Path) -> None:
    import json
    import shutil

    from designer.models.foldingdiff.train import main

    config = tmp_path / "fd.toml"
    text = (f'checkpoint = "{tmp_path}/fd.pt"\nrun_dir = "{tmp_path}/run"\nresume_copy = "{tmp_path}/packed.ckpt"\n'
            'steps = 20\nbatch_size = 8\nlr = 5e-4\nmax_steps = 20\nval_every = 10\n'
            '[model]\nhidden = 32\nlayers = 1\nheads = 4\nmax_offset = 16\ndropout = 0.0\n')
    config.write_text(text)
    main(["--config", str(config)])
    # the long run switched to bfloat16 autocast mid-way: resuming a float32 state under it must work
    config.write_text(text.replace("max_steps = 20", 'max_steps = 30\nprecision = "bf16-mixed"'))
    shutil.rmtree(tmp_path / "run")  # a fresh clone: only the committed packed copy is left
    main(["--config", str(config), "--resume"])
    card = json.loads((tmp_path / "fd.json").read_text())
    assert [point["step"] for point in card["curve"]] == [10, 20, 30] and card["training"]["steps"] == 30
    assert load(tmp_path / "fd.pt").sample(1, {}, seed=0, lengths=[40])[0].shape == (40, 4, 3)


def test_length_buckets_cover_each_chain_once_and_trim_padding_exactly() -> None:
    lengths = [int(n) for n in np.random.default_rng(0).integers(40, 129, size=203)]
    buckets = LengthBuckets(lengths, batch_size=16, seed=3, span=4, drop_last=False)
    first, second = list(buckets), list(buckets)
    assert sorted(i for b in first for i in b) == list(range(203)) == sorted(i for b in second for i in b)
    assert first != second  # a new order every epoch
    assert [b for b in LengthBuckets(lengths, 16, seed=3, span=4, drop_last=False)] == first  # seeded
    spread = np.mean([np.ptp([lengths[i] for i in b]) for b in first])
    assert spread < 0.5 * np.mean([np.ptp(np.random.default_rng(1).choice(lengths, 16)) for _ in range(50)])
    # a trimmed batch gives the denoiser the same output on real residues as the 128-padded one
    chains = [np.random.default_rng(k).uniform(-math.pi, math.pi, (n, 6)).astype(np.float32) for k, n in
              enumerate((50, 61, 47))]
    x, m = padded(chains)
    rows = [(torch.from_numpy(x[k]), torch.from_numpy(m[k])) for k in range(3)]
    xt, mt = trimmed(rows)
    assert xt.shape == (3, 61, 6)
    model = AngleDenoiser(hidden=32, layers=2, heads=4, max_offset=128, dropout=0.0).eval()
    t = torch.tensor([5, 50, 200])
    with torch.no_grad():
        full = model(torch.from_numpy(x), t, ~torch.from_numpy(m).any(-1))
        cut = model(xt, t, ~mt.any(-1))
    assert torch.allclose(full[:, :61][mt.any(-1)], cut[mt.any(-1)], atol=1e-5)
