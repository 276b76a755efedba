"""Graph DiT: graph-dependent noise, condition dropping, guidance, determinism, checkpoint errors.

A tiny model is trained inside the tests (seconds) on 40 MOSES molecules written out below.
"""

from __future__ import annotations

import itertools
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
import torch

from designer.errors import DesignerError
from designer.generators import Generator
from designer.models.graph_dit.data import MOSES_ATOMS, GraphSet, build_graph_set
from designer.models.graph_dit.lightning import GraphDiTModule, dense_batch
from designer.models.graph_dit.model import GraphDiTConfig
from designer.models.graph_dit.noise import GraphNoise, graph_marginals
from designer.models.graph_dit.sample import GraphDiTGenerator, _guide, load, save_checkpoint
from designer.models.graph_dit.train import collate, condition_meta

SMILES = [  # every 40,000th molecule of the MOSES training split
    "CCCS(=O)c1ccc2[nH]c(=NC(=O)OC)[nH]c2c1", "Cc1ccc(Nc2nc(C(=O)NCC(N)=O)cs2)cc1",
    "CC(NC1=NS(=O)(=O)c2ccccc21)C(=O)N1CCCCC1", "COc1cc(OC)cc(C(=O)Nc2ccc(F)c(F)c2F)c1",
    "COc1ccc(C(=O)C=c2[nH]c(=O)c(=Cc3ccccc3)s2)cc1", "CC(=O)c1c[nH]c(C(=O)OC(C)C(=O)c2ccc(Cl)cc2)c1",
    "CCN(Cc1ccccc1)C(=O)c1ccc(-n2nc(C)cc2C)cc1", "CNC(=O)Cc1ccc(-n2c(-c3ccccc3)nc3cccnc32)cc1",
    "CN(C)c1ccc(C(=O)Nc2ccc3c(c2)CC(=O)N3)cc1", "O=C(NCC(c1ccco1)N1CCOCC1)c1ccc(Cl)cc1",
    "NC(=O)COc1ccc(NS(=O)(=O)c2c(F)cccc2F)cc1", "COc1ccc(COc2ccccc2NC(C)=O)cc1",
    "Cc1nn(CC(=O)NC(C)(C)C)c(=O)c2c1cnn2C(C)(C)C", "CCOc1ccc(C(=O)NCc2ccc(N3CCCC3=O)cc2)cn1",
    "COC(=O)c1ccccc1NC(=O)C(C)Oc1cccc(N)c1", "NS(=O)(=O)N1CCCC1c1ccc2c(c1)OCCCO2",
    "COC(=O)C(C)CN(C)S(=O)(=O)c1cc(C)sc1C", "O=C(Nc1cccc(OCC(F)(F)F)c1)c1cc[nH]n1",
    "CCc1ccc(CS(=O)c2ccncc2N)s1", "Cc1occc1CN(C)C(=O)C1CC(=O)N(c2cc(F)cc(F)c2)C1",
    "O=C1CCc2cc(C(O)C3CCCCC3)cc(F)c2N1", "CC(C)(C)c1ncc(C(=O)NCCNc2cccc(F)c2C#N)s1",
    "O=c1cc(-c2nc(C3CC3)nn2-c2ccc(Cl)cc2)occ1O", "CCn1c(C2CC(=O)N(Cc3ccccc3)C2)n[nH]c1=O",
    "CCn1ccc(=O)n(Cc2ccccc2Br)c1=O", "CC(C)NC(=O)c1ccc(NC(=O)NCCN2CCOCC2)cc1",
    "CC(=O)NC(C)(C)c1noc(Cn2nnc(-c3ccccc3)n2)n1", "Cc1ccc(C(C)NC(=O)CC2CCCN(C(=O)NCC(C)C)C2)o1",
    "O=C(CCC1CC1)N1CCCCCC1c1ccco1", "Cc1cc(C)n(-c2ccc(C(=O)N3Cc4ccccc4C3)cc2)n1",
    "CC(C)c1csc(=NS(=O)(=O)c2ccc3c(c2)OCCO3)[nH]1", "O=C1Nc2ccccc2NC12CCN(Cc1nc3ccccc3[nH]1)CC2",
    "COc1ccc(Cn2nnnc2Cc2ccc(OC)c(F)c2)cn1", "CC(O)(CNC(=O)c1ccc(CNC(N)=O)cc1)c1ccc(F)cc1",
    "CCOC(=O)CC(C)CNC(=O)Nc1ccc(C)c(C)c1", "Cc1noc(C)c1S(=O)(=O)NCC#CCOc1cccnc1",
    "CC1CCC(NC(=O)CN2CCN(Cc3cnnn3C)CC2)CC1", "Cc1ccsc1C(=O)N1CCOCC1CC(=O)c1ccccc1",
    "Cn1c(C(N)=O)cc2cc(NC(=O)CCc3ccccc3)ccc21", "Cc1nn(-c2cccc(Cl)c2)nc1C(=O)NCc1ccsc1",
]
MAX_ATOMS = 27


@pytest.fixture(scope="module", autouse=True)
def one_thread() -> Iterator[None]:
    """Tiny tensors: one thread avoids OpenMP spin-waiting when the machine is busy."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


@pytest.fixture(scope="module")
def graphs() -> GraphSet:
    return build_graph_set(SMILES, MOSES_ATOMS, MAX_ATOMS, log_every=0)


@pytest.fixture(scope="module")
def noise(graphs: GraphSet) -> GraphNoise:
    return GraphNoise(graph_marginals(graphs.x, graphs.e, graphs.n_atoms, len(MOSES_ATOMS)), MAX_ATOMS, T=50)


def _batch(graphs: GraphSet, k: int = 8) -> dict[str, torch.Tensor]:
    cond = condition_meta(graphs)
    mean = np.array([cond[n]["mean"] for n in ("qed", "sa", "logp", "mw")], dtype=np.float32)
    std = np.array([cond[n]["std"] for n in ("qed", "sa", "logp", "mw")], dtype=np.float32)
    return collate(list(range(k)), graphs, mean, std)


@pytest.fixture(scope="module")
def generator(graphs: GraphSet, noise: GraphNoise, tmp_path_factory: pytest.TempPathFactory) -> GraphDiTGenerator:
    """A tiny model trained for a few dozen steps, saved and loaded back through the checkpoint."""
    torch.manual_seed(0)
    config = GraphDiTConfig(n_atom_types=len(MOSES_ATOMS), max_atoms=MAX_ATOMS, hidden=32, depth=2, heads=2)
    module = GraphDiTModule(config, noise, lr=3e-3, warmup_steps=1)
    optimizer = torch.optim.AdamW(module.model.parameters(), lr=3e-3)
    batch = _batch(graphs, len(graphs))
    for _ in range(40):
        loss, _, _ = module.loss(batch)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
    sizes = np.bincount(graphs.n_atoms, minlength=MAX_ATOMS + 1)
    meta = {"atoms": list(MOSES_ATOMS), "conditions": condition_meta(graphs),
            "n_atoms_dist": (sizes / sizes.sum()).tolist(), "trained_on": "40 MOSES molecules (test)", "metrics": {}}
    path = tmp_path_factory.mktemp("graph_dit") / "tiny.pt"
    save_checkpoint(path, module.model, noise, meta)
    return load(path)


def _one_graph(graphs: GraphSet, noise: GraphNoise, k: int = 2) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    b = _batch(graphs, k)
    return dense_batch(b["x"], b["e"], b["n_atoms"], noise)


def test_union_matrix_blocks_are_row_stochastic(noise: GraphNoise) -> None:
    fx, fe, n = noise.fx, noise.fe, noise.n
    U = noise.U
    blocks = [(0, fx)] + [(fx + k * fe, fx + (k + 1) * fe) for k in range(n)]
    for r0, r1 in blocks:
        for c0, c1 in blocks:
            torch.testing.assert_close(U[r0:r1, c0:c1].sum(1), torch.ones(r1 - r0))
    for t in (0, 10, noise.T):
        Q = noise.matrix(noise.alpha_bar[t])
        assert (Q >= 0).all()
        for r0, r1 in blocks:  # diagonal blocks of Q̄_t are transition matrices of one atom / one slot
            torch.testing.assert_close(Q[r0:r1, r0:r1].sum(1), torch.ones(r1 - r0))


def test_noised_distributions_are_normalised_and_converge_to_graph_dependent_limit(graphs: GraphSet,
                                                                                   noise: GraphNoise) -> None:
    X, E, mask = _one_graph(graphs, noise)
    token = noise.token(X, E)
    limit_x, _ = noise.limit(X, E, mask)
    distances = []
    for t in (0, 10, 25, 40, 49, 50):
        px, pe = noise.split(noise._times(token, noise.alpha_bar[t].expand(2), mask), mask)
        torch.testing.assert_close(px.sum(-1), torch.ones_like(px[..., 0]))
        torch.testing.assert_close(pe.sum(-1), torch.ones_like(pe[..., 0]))
        distances.append(float((px - limit_x).abs()[mask].max()))
    assert distances[0] > 0.5 and distances[-1] < 1e-6
    assert all(a >= b - 1e-6 for a, b in itertools.pairwise(distances))
    # Graph-dependent: the limit of an atom depends on its bonds, unlike the independent ablation.
    n0 = int(mask[0].sum())
    expected = (noise.m_x + (E[0, 0, :n0] @ noise.m_ex).sum(0)) / n0
    torch.testing.assert_close(limit_x[0, 0], expected)
    assert not torch.allclose(limit_x[0, 0], noise.m_x, atol=1e-3)
    independent = GraphNoise(noise.state(), noise.n, T=noise.T, independent=True)
    ix, ie = independent.limit(X, E, mask)
    torch.testing.assert_close(ix[mask], noise.m_x.expand_as(ix[mask]))
    pair = E.sum(-1) > 0
    torch.testing.assert_close(ie[pair], noise.m_e.expand_as(ie[pair]))


def test_normalised_joint_noise_keeps_each_part_with_alpha_bar(graphs: GraphSet, noise: GraphNoise) -> None:
    X, E, mask = _one_graph(graphs, noise)
    normalised = GraphNoise(noise.state(), noise.n, T=noise.T, normalised=True)
    token = noise.token(X, E)
    pair = E.sum(-1) > 0
    for t in (5, 25, 45):
        a = noise.alpha_bar[t]
        probs = normalised._times(token, a.expand(2), mask)
        atom, bonds = probs[..., : noise.fx], probs[..., noise.fx:].reshape(*E.shape)
        # Already a distribution per part (no renormalisation needed) ...
        torch.testing.assert_close(atom[mask].sum(-1), torch.ones(int(mask.sum())))
        torch.testing.assert_close(bonds[pair].sum(-1), torch.ones(int(pair.sum())))
        # ... that keeps the clean value with probability ≥ ᾱ_t, while the paper's joint noise keeps far less.
        keep = (atom * X).sum(-1)[mask]
        assert (keep >= a - 1e-6).all()
        jx, _ = noise.split(noise._times(token, a.expand(2), mask), mask)
        assert (jx * X).sum(-1)[mask].mean() < keep.mean()
    # The limit (ᾱ = 0) is the same graph-dependent distribution as the paper's.
    torch.testing.assert_close(normalised.limit(X, E, mask)[0][mask], noise.limit(X, E, mask)[0][mask])
    # The posterior stays a distribution and the option survives a checkpoint round trip.
    X_t, E_t = normalised.apply_noise(X, E, mask, torch.full((2,), 30), generator=torch.Generator().manual_seed(1))
    px, _ = normalised.posterior(X_t, E_t, X, E, mask, 30, 20)
    torch.testing.assert_close(px.sum(-1), torch.ones_like(px[..., 0]))
    assert GraphNoise.from_state(normalised.state()).normalised


def test_noised_graphs_stay_symmetric_and_masked(graphs: GraphSet, noise: GraphNoise) -> None:
    X, E, mask = _one_graph(graphs, noise, k=8)
    gen = torch.Generator().manual_seed(0)
    for t in (1, 20, 50):
        X_t, E_t = noise.apply_noise(X, E, mask, torch.full((8,), t), generator=gen)
        assert torch.equal(E_t, E_t.transpose(1, 2))
        assert (E_t.diagonal(dim1=1, dim2=2) == 0).all()
        assert (X_t[~mask] == 0).all() and (X_t[mask].sum(-1) == 1).all()
    X_0, _ = noise.apply_noise(X, E, mask, torch.zeros(8), generator=gen)
    # t = 0 is already slightly noisy (β_0 > 0, amplified by the per-part normalisation): mostly intact.
    assert (X_0.argmax(-1)[mask] == X.argmax(-1)[mask]).float().mean() > 0.95


def test_posterior_is_a_distribution(graphs: GraphSet, noise: GraphNoise) -> None:
    X, E, mask = _one_graph(graphs, noise)
    X_t, E_t = noise.apply_noise(X, E, mask, torch.full((2,), 30), generator=torch.Generator().manual_seed(1))
    px, pe = noise.posterior(X_t, E_t, X, E, mask, 30, 29)
    torch.testing.assert_close(px.sum(-1), torch.ones_like(px[..., 0]))
    torch.testing.assert_close(pe.sum(-1), torch.ones_like(pe[..., 0]))
    # Knowing x_0 exactly at t = 1 puts (almost) all mass back on x_0.
    X_1, E_1 = noise.apply_noise(X, E, mask, torch.ones(2), generator=torch.Generator().manual_seed(2))
    px, _ = noise.posterior(X_1, E_1, X, E, mask, 1, 0)
    assert (px.argmax(-1)[mask] == X.argmax(-1)[mask]).all()


def test_condition_dropping(generator: GraphDiTGenerator, graphs: GraphSet, noise: GraphNoise) -> None:
    model = generator.model.eval()
    X, E, mask = _one_graph(graphs, noise)
    t = torch.full((2,), 0.5)
    cat = torch.ones(2, 1, dtype=torch.long)
    low, high = torch.full((2, 4), -2.0), torch.full((2, 4), 2.0)
    dropped = torch.ones(2, 5, dtype=torch.bool)
    kept = torch.zeros(2, 5, dtype=torch.bool)
    with torch.no_grad():
        a, _ = model(X, E, mask, t, low, cat, dropped)
        b, _ = model(X, E, mask, t, high, cat, dropped)
        c, _ = model(X, E, mask, t, low, cat, kept)
        d, _ = model(X, E, mask, t, high, cat, kept)
    torch.testing.assert_close(a, b)  # a dropped condition's value is ignored
    assert not torch.allclose(c, d)  # a kept one is used
    # Targets not given are dropped; given ones are kept.
    _, _, drop = generator.encode_targets({"qed": 0.8, "brenk_free": "yes"}, 3)
    assert drop.tolist() == [[False, True, True, True, False]] * 3
    with pytest.raises(DesignerError, match="unknown target"):
        generator.encode_targets({"homo": 1.0}, 1)


def test_guidance_scale_zero_is_unconditional(generator: GraphDiTGenerator, graphs: GraphSet,
                                              noise: GraphNoise) -> None:
    p = torch.softmax(torch.randn(3, 5), -1)
    q = torch.softmax(torch.randn(3, 5), -1)
    torch.testing.assert_close(_guide(p, q, 0.0), q)
    torch.testing.assert_close(_guide(p, q, 1.0), p)
    X, E, mask = _one_graph(graphs, noise)
    numeric, categorical, drop = generator.encode_targets({"qed": 0.9}, 2)
    args = (generator.model, X, E, mask, 30, 29, numeric, categorical)
    guided = generator.reverse_probs(*args, drop, guidance=0.0)
    uncond = generator.reverse_probs(*args, torch.ones_like(drop), guidance=2.0)
    torch.testing.assert_close(guided, uncond)
    a = generator.sample(4, {"qed": 0.9}, guidance=0.0, seed=3, steps=5)
    b = generator.sample(4, {}, seed=3, steps=5)
    assert a == b


def test_same_seed_same_output(generator: GraphDiTGenerator) -> None:
    assert isinstance(generator, Generator)
    first = generator.sample_graphs(3, {"qed": 0.8}, seed=7, steps=5)
    again = generator.sample_graphs(3, {"qed": 0.8}, seed=7, steps=5)
    other = generator.sample_graphs(3, {"qed": 0.8}, seed=8, steps=5)
    assert all(np.array_equal(x, y) and np.array_equal(e, f) for (x, e), (y, f) in zip(first, again, strict=True))
    assert not all(np.array_equal(e, f) for (_, e), (_, f) in zip(first, other, strict=True))
    smiles = generator.sample(3, {"qed": 0.8}, seed=7, steps=5)
    assert len(smiles) == 3 and all(s is None or isinstance(s, str) for s in smiles)


def test_bad_checkpoint_raises_designer_error(tmp_path: Path) -> None:
    with pytest.raises(DesignerError, match="not found"):
        load(tmp_path / "missing.pt")
    corrupt = tmp_path / "corrupt.pt"
    corrupt.write_bytes(b"\x80\x02 not a checkpoint")
    with pytest.raises(DesignerError, match="cannot read"):
        load(corrupt)
    foreign = tmp_path / "foreign.pt"
    torch.save({"state_dict": {}}, foreign)
    with pytest.raises(DesignerError, match="not a Graph DiT checkpoint"):
        load(foreign)


def test_packed_resume_copy_round_trips(tmp_path: Path) -> None:
    from designer.checkpoints import pack, unpack

    layer = torch.nn.Linear(4, 3)
    optimizer = torch.optim.AdamW(layer.parameters(), amsgrad=True)
    layer(torch.randn(2, 4)).sum().backward()
    optimizer.step()
    weight = layer.weight.detach()
    checkpoint = {"state_dict": {"model.weight": weight.clone(), "ema.weight": weight.clone()},
                  "optimizer_states": [optimizer.state_dict()], "global_step": 5}
    packed = pack(checkpoint, half=("ema.",))
    assert packed["state_dict"]["ema.weight"].dtype == torch.bfloat16
    assert packed["state_dict"]["model.weight"].dtype == torch.float32  # trained weights keep full precision
    torch.save(packed, tmp_path / "run.ckpt")
    restored = torch.load(unpack(tmp_path / "run.ckpt", tmp_path), weights_only=False)
    assert "packed" not in restored and restored["global_step"] == 5
    torch.testing.assert_close(restored["state_dict"]["model.weight"], checkpoint["state_dict"]["model.weight"])
    torch.testing.assert_close(restored["state_dict"]["ema.weight"], checkpoint["state_dict"]["ema.weight"],
                               atol=1e-2, rtol=1e-2)
    moments = restored["optimizer_states"][0]["state"][0]
    assert all(v.dtype == torch.float32 for v in moments.values())
    assert unpack(tmp_path / "unpacked.ckpt", tmp_path) == str(tmp_path / "unpacked.ckpt")  # not packed: as is


def test_exporter_keeps_a_seeded_validation_curve_across_resumes(graphs: GraphSet, noise: GraphNoise,
                                                                 tmp_path: Path) -> None:
    from designer.models.graph_dit.train import Exporter

    torch.manual_seed(0)
    config = GraphDiTConfig(n_atom_types=len(MOSES_ATOMS), max_atoms=MAX_ATOMS, hidden=32, depth=1, heads=2)
    module = GraphDiTModule(config, noise)
    sizes = np.bincount(graphs.n_atoms, minlength=MAX_ATOMS + 1)
    meta = {"atoms": list(MOSES_ATOMS), "conditions": condition_meta(graphs),
            "n_atoms_dist": (sizes / sizes.sum()).tolist(), "metrics": {}}
    validation = [_batch(graphs, 16)]
    exporter = Exporter(tmp_path / "model.pt", 10, noise, meta, validation=validation)
    # the validation loss draws t, noise and drops from a fixed seed: same weights, same number
    assert exporter.validation_loss(module) == exporter.validation_loss(module)
    exporter.last_loss = 3.0
    exporter.export(module, 10)
    state = exporter.state_dict()
    state["minutes"] = 30.0  # as if the first run had trained for half an hour

    resumed = Exporter(tmp_path / "model.pt", 10, noise, dict(meta), validation=validation)
    resumed.load_state_dict(state)
    resumed.last_loss = 2.5
    with torch.no_grad():  # the EMA weights moved: the validation loss must follow them
        for p in module.ema.parameters():
            p.add_(0.05 * torch.randn_like(p))
    resumed.export(module, 20)
    training = load(tmp_path / "model.pt").meta["training"]
    assert [p["step"] for p in training["curve"]] == [10, 20]
    assert training["curve"][0]["val_loss"] != training["curve"][1]["val_loss"]
    assert training["minutes"] >= 30.0 and training["steps"] == 20 and training["final_loss"] == 2.5


def test_learning_rate_warms_up_then_decays_linearly_when_asked(noise: GraphNoise) -> None:
    config = GraphDiTConfig(n_atom_types=len(MOSES_ATOMS), max_atoms=MAX_ATOMS, hidden=16, depth=1, heads=2)
    constant = GraphDiTModule(config, noise, warmup_steps=10)
    assert constant.lr_factor(0) == pytest.approx(0.1) and constant.lr_factor(5000) == 1.0
    decayed = GraphDiTModule(config, noise, warmup_steps=10, decay=(100, 200, 0.1))
    factors = [decayed.lr_factor(s) for s in (50, 100, 150, 200, 1000)]
    assert factors == pytest.approx([1.0, 1.0, 0.55, 0.1, 0.1])
