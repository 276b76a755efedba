"""Gumbel-Softmax flow matching + STGFlow: interpolant, schedule, velocity, seeded sampler, guidance
direction, training signal, FASTA output through the CLI, and bad input.

Uses tiny networks (trained in the test where the property needs training) and, for the CLI, the
shipped peptide checkpoint.
"""

from __future__ import annotations

import math
import sys
from pathlib import Path

import pytest
import torch
import torch.nn.functional as F

from designer.errors import DesignerError
from designer.generators import Condition, Generator
from designer.models.gumbel_flow import flow
from designer.models.gumbel_flow.data import decode, encode
from designer.models.gumbel_flow.flow import GumbelSchedule, euler_sample, interpolate, prior, velocity
from designer.models.gumbel_flow.lightning import FlowModule
from designer.models.gumbel_flow.model import Denoiser, Guide
from designer.models.gumbel_flow.sample import GuideScorer, GumbelFlowGenerator

K, LENGTH = 20, 12


def test_temperature_schedule() -> None:
    s = GumbelSchedule()
    t = torch.linspace(0, 1, 11)
    tau = s.tau(t)
    assert tau[0].item() == pytest.approx(10.0)
    assert tau[-1].item() == pytest.approx(10.0 * math.exp(-3.0), rel=1e-5)
    assert torch.all(tau[1:] < tau[:-1])
    assert torch.allclose(tau[1:] / tau[:-1], torch.full((10,), math.exp(-0.3)), rtol=1e-5)  # exponential decay


def test_interpolant_on_simplex_and_concentrates_at_vertex() -> None:
    g = torch.Generator().manual_seed(0)
    letters = torch.randint(0, K, (4000,), generator=g)
    onehot = F.one_hot(letters, K).float()

    def at(t: float, schedule: GumbelSchedule) -> torch.Tensor:
        x = interpolate(onehot, torch.full((len(onehot),), t), schedule, generator=g)
        assert torch.all(x >= 0) and torch.allclose(x.sum(-1), torch.ones(len(x)), atol=1e-5)
        return x

    s = GumbelSchedule()
    masses = [float(at(t, s)[torch.arange(len(onehot)), letters].mean()) for t in (0.0, 0.5, 1.0)]
    assert masses[0] < 1.5 / K  # t = 0: near uniform
    assert masses[0] < masses[1] < masses[2]  # mass moves toward the data vertex as tau falls
    # t -> 1 with a schedule that reaches a low temperature: each point sits at one vertex, which is
    # argmax(e_k + g / beta): the data letter with probability e^beta / (e^beta + K - 1) (Gumbel-max)
    x = at(1.0, GumbelSchedule(lam=8.0))
    assert x.max(-1).values.mean() > 0.95
    hit = (x.argmax(-1) == letters).float().mean().item()
    assert hit == pytest.approx(math.exp(2.0) / (math.exp(2.0) + K - 1), abs=0.03)
    x0 = prior((100, K), s, g)
    assert torch.allclose(x0.sum(-1), torch.ones(100), atol=1e-5) and x0.max() < 0.2


def test_velocity_tangent_and_points_to_prediction() -> None:
    g = torch.Generator().manual_seed(1)
    x = prior((8, LENGTH, K), GumbelSchedule(), g)
    x_hat = F.one_hot(torch.zeros(8, LENGTH, dtype=torch.long), K).float()
    u = velocity(x, x_hat, torch.full((8,), 0.5), GumbelSchedule())
    assert torch.allclose(u.sum(-1), torch.zeros(8, LENGTH), atol=1e-6)  # stays on the simplex's plane
    assert torch.all(u[..., 0] > 0) and torch.all(u[..., 1:] < 0)  # mass flows toward the predicted letter


def test_straight_through_forward_hard_backward_identity() -> None:
    p = torch.softmax(torch.randn(3, 5, K), -1).requires_grad_(True)
    s = flow.straight_through(p)
    assert torch.equal(s.detach(), F.one_hot(p.argmax(-1), K).float())
    (s * torch.arange(K).float()).sum().backward()
    assert torch.allclose(p.grad, torch.arange(K).float().expand(3, 5, K))


@pytest.fixture(scope="module")
def generator() -> GumbelFlowGenerator:
    torch.manual_seed(0)
    return GumbelFlowGenerator(Denoiser(K, 16, hidden=32, layers=1, heads=2, dropout=0.0), GumbelSchedule(),
                               "protein", [8, 10, 12], name="tiny", steps=20)


def test_sampler_is_seeded(generator: GumbelFlowGenerator) -> None:
    assert isinstance(generator, Generator)
    a = generator.sample(6, {}, seed=3)
    assert a == generator.sample(6, {}, seed=3)
    assert a != generator.sample(6, {}, seed=4)
    assert all(set(s) <= set("ACDEFGHIKLMNPQRSTVWY") and len(s) in (8, 10, 12) for s in a)
    assert [len(s) for s in generator.sample(3, {}, seed=0, lengths=9)] == [9, 9, 9]


def _train_k_guide() -> GuideScorer:
    """A classifier on clean one-hots: positive when at least 3 of 12 letters are K (lysine)."""
    torch.manual_seed(0)
    tokens = torch.randint(0, K, (1024, LENGTH))
    lys = "ACDEFGHIKLMNPQRSTVWY".index("K")
    tokens[:512, :4] = torch.where(torch.rand(512, 4) < 0.9, lys, tokens[:512, :4])  # enrich half of the set
    labels = ((tokens == lys).sum(1) >= 3).float()
    guide = Guide(K, hidden=16, kernel=3, layers=1, dropout=0.0)
    opt = torch.optim.Adam(guide.parameters(), lr=1e-2)
    for _ in range(150):
        loss = F.binary_cross_entropy_with_logits(guide(F.one_hot(tokens, K).float()), labels)
        opt.zero_grad()
        loss.backward()
        opt.step()
    return GuideScorer(guide.eval(), "lys", "classifier", "protein", LENGTH)


def test_guidance_raises_guide_score(generator: GumbelFlowGenerator) -> None:
    scorer = _train_k_guide()
    guided = GumbelFlowGenerator(generator.denoiser, generator.schedule, "protein", [LENGTH], scorer, name="g",
                                 steps=20, conditions={"lys": Condition("lys", "numeric", 0, 1, default=1.0)})
    plain = guided.sample(64, {}, seed=0)
    steered = guided.sample(64, {"lys": 1.0}, guidance=3.0, seed=0)
    assert plain != steered
    assert scorer.score(steered).mean() > scorer.score(plain).mean() + 0.2
    assert guided.sample(64, {"lys": 1.0}, guidance=0.0, seed=0) == plain  # guidance 0 = unguided
    with pytest.raises(DesignerError, match="no target 'qed'"):
        guided.sample(2, {"qed": 0.5})
    with pytest.raises(DesignerError, match="sampler 'rk4'"):
        guided.sample(2, {}, sampler="rk4")
    # Every sampler and STGFlow source is seeded.
    for sampler in ("euler", "renoise"):
        for draw_from in ("x_t", "x_hat"):
            runs = [guided.sample(8, {"lys": 1.0}, guidance=1.0, seed=5, sampler=sampler, draw_from=draw_from)
                    for _ in range(2)]
            assert runs[0] == runs[1]


def test_stg_tilt_keeps_distribution() -> None:
    p = torch.softmax(torch.randn(4, LENGTH, K), -1)
    tilted = flow.stg_tilt(p, lambda s, pad: s[..., 0].sum(-1), 2.0)
    assert torch.allclose(tilted.sum(-1), torch.ones(4, LENGTH), atol=1e-5)
    assert torch.all(tilted[..., 0] > p[..., 0])
    assert torch.equal(flow.stg_tilt(p, lambda s, pad: s.sum((-1, -2)), 0.0), p)


def test_stg_draws_sequences_from_x_t_as_the_paper() -> None:
    # The guide rewards letter 0 only in sequences that contain letter 1. x_t holds letter 1 everywhere,
    # x_hat never: drawing from x_t (Fig. 2) sees the reward's gradient, drawing from x_hat cannot.
    def objective(s: torch.Tensor, pad: torch.Tensor | None) -> torch.Tensor:
        return s[..., 1].sum(-1) * s[..., 0].sum(-1)

    x_hat = torch.full((2, LENGTH, K), 1.0 / (K - 1))
    x_hat[..., 1] = 0.0
    x_t = F.one_hot(torch.ones(2, LENGTH, dtype=torch.long), K).float()
    from_x_t = flow.stg_tilt(x_hat, objective, 0.1, x_t=x_t, generator=torch.Generator().manual_seed(0))
    from_x_hat = flow.stg_tilt(x_hat, objective, 0.1, generator=torch.Generator().manual_seed(0))
    assert torch.all(from_x_t[..., 0] > x_hat[..., 0])
    torch.testing.assert_close(from_x_hat, x_hat)


def test_toy_targets_are_the_harness_distributions() -> None:
    sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "benchmarks"))
    from gumbel_flow import TOY_LENGTH, toy_target

    p = toy_target("softmax-uniform", 20, seed=0)
    assert p.shape == (TOY_LENGTH, 20)
    assert abs(p.sum(1) - 1).max() < 1e-12
    # softmax of U[0, 1] logits: no letter more than e times as likely as another, unlike Dirichlet(1)
    assert (p.max(1) / p.min(1)).max() <= math.e
    d = toy_target("dirichlet", 20, seed=0)
    assert (d.max(1) / d.min(1)).max() > math.e
    assert (toy_target("softmax-uniform", 20, seed=0) == p).all()  # seeded
    with pytest.raises(ValueError, match="toy target"):
        toy_target("beta", 20, seed=0)


def test_training_lowers_cross_entropy() -> None:
    torch.manual_seed(0)
    motif = torch.tensor([0, 5, 9, 3, 17, 2, 2, 8])
    tokens = motif.repeat(64, 1)
    tokens[:, ::4] = torch.randint(0, K, (64, 2))
    pad = torch.zeros_like(tokens, dtype=torch.bool)
    module = FlowModule({"k": K, "max_len": 8, "hidden": 32, "layers": 1, "heads": 2, "dropout": 0.0})
    opt = module.configure_optimizers()
    with torch.no_grad():
        before = module.loss((tokens, pad)).item()
    for _ in range(60):
        loss = module.loss((tokens, pad))
        opt.zero_grad()
        loss.backward()
        opt.step()
    with torch.no_grad():
        after = torch.stack([module.loss((tokens, pad)) for _ in range(5)]).mean().item()
    assert after < 0.7 * before
    out = euler_sample(module.model.eval(), (32, 8, K), module.schedule, steps=30, generator=torch.Generator())
    assert (out[:, 1] == 5).float().mean() > 0.4  # the learned fixed letter comes back (chance: 0.05)
    # Predict-and-renoise: the same model, the same letter back; seeded, so a seed repeats exactly.
    renoised = [flow.renoise_sample(module.model, (32, 8, K), module.schedule, steps=30,
                                    generator=torch.Generator().manual_seed(seed)) for seed in (3, 3, 4)]
    assert (renoised[0][:, 1] == 5).float().mean() > 0.4
    assert torch.equal(renoised[0], renoised[1]) and not torch.equal(renoised[0], renoised[2])
    both = flow.renoise_sample(module.model, (32, 8, K), module.schedule, steps=30,
                               generator=torch.Generator().manual_seed(3), final="both")
    assert both.shape == (2, 32, 8) and torch.equal(both[0], renoised[0])  # "both" = draw, then argmax x


def test_bad_letter_names_position() -> None:
    with pytest.raises(DesignerError, match=r"sequence 2: letter 'X' \(position 3\)"):
        encode(["ACD", "ACXD"], "protein")
    tokens, pad = encode(["ACGT", "GG"], "dna")
    assert decode(tokens, [4, 2], "dna") == ["ACGT", "GG"] and pad.sum() == 2


SHIPPED = Path(__file__).resolve().parents[1] / "models" / "gumbel_flow" / "checkpoints" / "gumbel_flow_peptide.pt"


def _cli(monkeypatch: pytest.MonkeyPatch, *args: str) -> int:
    from designer import cli

    monkeypatch.setattr(sys, "argv", ["designer", *args])
    try:
        cli.main()
    except SystemExit as exit_:
        return exit_.code if isinstance(exit_.code, int) else 1
    return 0


@pytest.mark.skipif(not SHIPPED.exists(), reason="peptide checkpoint not trained yet")
def test_cli_generate_fasta_with_scores(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                        capsys: pytest.CaptureFixture) -> None:
    out, again, rescored = tmp_path / "amp.fasta", tmp_path / "again.fasta", tmp_path / "rescored.fasta"
    args = ["generate", "--model", "gumbel-flow-peptide", "--target", "amp", "-n", "4", "--seed", "1", "-o"]
    assert _cli(monkeypatch, *args, str(out)) == 0
    text = out.read_text()
    headers = [line for line in text.splitlines() if line.startswith(">")]
    assert headers and all("amp=" in h and "charge=" in h and "length=" in h for h in headers)
    assert _cli(monkeypatch, *args, str(again)) == 0
    assert again.read_text() == text  # same seed, same file
    assert _cli(monkeypatch, "score", str(out), "-o", str(rescored), "--oracle", "amp") == 0
    assert all("amp=" in line for line in rescored.read_text().splitlines() if line.startswith(">"))
    capsys.readouterr()
    assert _cli(monkeypatch, "generate", "--model", "gumbel-flow-peptide", "--target", "qed", "-n", "2") == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("error: unknown target 'qed'")


def test_incomplete_checkpoint_is_one_clear_error(tmp_path: Path) -> None:
    from designer.checkpoints import save_payload
    from designer.models.gumbel_flow.sample import CHECKPOINT_FORMAT, load

    path = tmp_path / "partial.pt"
    save_payload({"format": CHECKPOINT_FORMAT, "alphabet": "dna"}, path)  # no weights, no guide
    with pytest.raises(DesignerError, match="incomplete or does not match"):
        load(path)


def test_protein_set_from_debian_package(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import gzip

    from designer.models.gumbel_flow import data

    monkeypatch.setattr(data, "MMSEQS_EXAMPLE_DB", tmp_path / "absent.fasta.gz")
    with pytest.raises(DesignerError, match="apt-get install mmseqs2-examples"):
        data.load_set("uniprotkb")
    fasta = tmp_path / "DB.fasta.gz"
    with gzip.open(fasta, "wt") as handle:  # a long entry, one with a non-standard letter, two kept
        handle.write(">a\nMKV\nLLA\n>b\n" + "A" * 200 + "\n>c\nMKXL\n>d\nWYC\n")
    monkeypatch.setattr(data, "MMSEQS_EXAMPLE_DB", fasta)
    kept = data.load_set("uniprotkb", max_len=128)
    assert kept.sequences == ["MKVLLA", "WYC"] and kept.alphabet == "protein" and len(kept.split) == 2
