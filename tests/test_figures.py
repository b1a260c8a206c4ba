"""EpochSums: the per-figure arithmetic of the loop it replaced, one host read, varying figure sets."""
from __future__ import annotations

import torch

from g2d.figures import EpochSums


def test_sums_equal_the_per_figure_float32_sums_bit_for_bit():
    gen = torch.Generator().manual_seed(0)
    steps = [({"task": torch.rand((), generator=gen) * 3, "feat": torch.rand((), generator=gen),
               "rho.a": torch.rand((), generator=gen)}, n) for n in (32, 32, 7, 32, 1)]
    sums, by_name = EpochSums(), {}
    for figures, n in steps:
        sums.add(figures, n)
        for name, value in figures.items():  # the loop EpochSums replaces
            by_name[name] = by_name.get(name, 0) + value.detach().float() * n
    assert sums.read() == {name: float(v) for name, v in by_name.items()}


def test_no_graph_is_kept_and_a_changing_set_of_figures_sums_per_name():
    w = torch.tensor(2.0, requires_grad=True)
    sums = EpochSums()
    sums.add({"task": w * 3, "feat": w * 1}, 4)
    sums.add({"task": w * 1}, 2)
    sums.add({}, 5)
    assert sums.read() == {"task": 4 * 6.0 + 2 * 2.0, "feat": 4 * 2.0}
    assert all(not t.requires_grad for t in sums._sums.values())


def test_bf16_figures_are_summed_in_float32():
    sums = EpochSums()
    sums.add({"task": torch.tensor(1.5, dtype=torch.bfloat16), "feat": torch.tensor(0.25)}, 3)
    assert sums.read() == {"task": 4.5, "feat": 0.75}
