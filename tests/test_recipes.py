"""Every shipped experiment converges, and its ops=custom and ops=builtin runs of one seed agree.

Converges: the training loss of the last epoch is below the first and within 10 % (or 0.01) of the
lowest epoch's; the final epoch's validation accuracy is within 1 point of the best epoch's.
Agree: the per-step training loss of the first 200 steps within 1e-3 relative (1e-6 absolute, for
losses that reach ~0), and the validation accuracy of every epoch within 0.5 points. An unstable
recipe fails the second as surely as the first: rounding differences between the two op sets are
~1e-7, and only a recipe that amplifies them parts the curves.

The experiments on MNIST-sized data run a short version (fewer epochs) to keep CI short, the rest
run as shipped. The short MNIST runs are also the CI's reproduction check: final-epoch test accuracy
at a bar stated for the short run (below the full recipe's bar, which the README's table reports from
full runs), and the builtin twin within 0.3 points. Real data is needed for those (skipped with the
reason where absent). Three recipes also run in full, ops=custom held to the README table's bar and ops=builtin
within 0.3 points of it (FULL, first).
"""

from __future__ import annotations

import pytest
import torch

from helpers import options
from recipes import FASHION_REASON, MNIST_REASON, REAL_DATA, have_fashion_mnist, have_mnist, run_curves, settles

needs_mnist = pytest.mark.skipif(not have_mnist(), reason=MNIST_REASON)
needs_fashion = pytest.mark.skipif(not have_fashion_mnist(), reason=FASHION_REASON)

# Short versions: fewer epochs (a cosine schedule still anneals over the run's own length). Without the
# best-checkpoint callback, the test set is scored by the final epoch's weights.
FINAL_EPOCH = ["callbacks.model_checkpoint=null", *REAL_DATA]
SHORT_LENET = ["trainer.max_epochs=2", *FINAL_EPOCH]
# Nielsen's ch. 1 recipe stalls for some seeds (saturated sigmoid outputs under the quadratic cost);
# in a stall the escape time hangs on single roundings, so custom and builtin part (measured:
# nielsen_ch1_100 with seed 42 after 3 epochs, 72.6 → 75.3 % custom vs 82.7 → 85.8 % builtin
# validation accuracy). nielsen_ch1's check runs seed 1, the first of the experiments' seed list (nielsen_ch1_100: see STALLS); the README
# reports the stalls. Ch. 3's cost cures the stall, so nielsen_ch3 runs with the default seed.
SHORT_NIELSEN = ["trainer.max_epochs=3", *FINAL_EPOCH]
SHORT_NIELSEN_CH1 = [*SHORT_NIELSEN, "seed=1"]
# nielsen_ch3 runs the book's η = 0.1 over 60 epochs; at that η 3 epochs gave 95.41 % test, 5 epochs are the short run
SHORT_NIELSEN_CH3 = ["trainer.max_epochs=5", *FINAL_EPOCH]

# experiment → (overrides of its short version, marks, final-epoch test accuracy the short run must reach)
RECIPES = {
    "lenet5_digits": ([], [], None),
    "lenet5_mnist": (SHORT_LENET, [needs_mnist], 0.98),
    "lenet5_classic_mnist": (SHORT_LENET, [needs_mnist], 0.98),
    # Known failure: ReLU + max-pooling on Fashion-MNIST amplify float32 rounding faster than on MNIST. With this
    # recipe (batch 32, η 0.003) the training losses part by 1e-3 at step 17: 1e-7 up to step 9, 1e-5 at step 10
    # (a discrete jump: a max-pool winner or ReLU sign flipped by a last-bit difference), then growth, 4.6 % by
    # step 200; validation accuracy 86.24 / 85.74 % after epoch 1, 88.81 / 89.15 % after epoch 2 (custom /
    # builtin). Gentler steps only postpone it: lenet5_mnist's batch 64 / η 0.001 parts at step 165 (seeds 1 and
    # 2: 113, 87), η 0.0005 at 179, batch 128 at η 0.002 / 0.001 at 71 / 108 (measured 2026-11-29, one thread,
    # first 300–500 steps); SGD with momentum 0.9 at η 0.01 parts at step 104. Each parting starts at a near-tie, not in
    # the ops: in a plain loop of this recipe the first one is at step 157, a pool2 window whose two largest conv2 outputs
    # are 1.5798451 / 1.5798442 in refnets' float32 and 1.5798447 / 1.5798450 in PyTorch's, so the two choose different
    # winners; GradientParity's float64 recheck in a real 2-epoch run: 4.05e-2 in float32 at step 550, 3e-15 in float64.
    # strict: the day it passes, the marker must go.
    "lenet5_fashion": (SHORT_LENET, [needs_fashion, pytest.mark.xfail(strict=True, reason="custom/builtin losses part by 1e-3 at step 17 (see RECIPES)")], None),
    "nielsen_ch1": (SHORT_NIELSEN_CH1, [needs_mnist], 0.92),
    # Stalls in its first epoch on seeds 1, 2 and 42 (≈ 75 % validation): no short-run bar; see STALLS.
    "nielsen_ch1_100": ([*SHORT_NIELSEN, "seed=2"], [needs_mnist], None),
    "nielsen_ch3": (SHORT_NIELSEN_CH3, [needs_mnist], 0.96),
    "lr_sweep": ([], [], None),  # its own η = 3.0; the sweep's 0.03 and 30 are the slide's failures, on purpose
    "mlp_moons": ([], [], None),
    "mlp_xor": ([], [], None),
    "perceptron_blobs": ([], [], None),
    "perceptron_xor": ([], [], None),
}
# Custom vs builtin final-epoch test accuracy: within 0.3 points, except nielsen_ch1, whose η = 3.0 on
# mini-batches of 10 moves the accuracy by up to 0.3 points from one epoch to the next (seed 1,
# validation accuracy over epochs 20–30: 95.17–95.50 %); once the two runs decorrelate (step ~975 of seed 1) they differ like two such
# epochs (measured after 3 epochs: 92.80 % custom, 93.27 % builtin; validation within 0.29 points).
TWIN_TOLERANCE = {"nielsen_ch1": 0.005}
# The perceptron rule on XOR cycles for ever (no line separates the classes): the lesson of the
# experiment, so it is held to the custom/builtin agreement only.
NEVER_SETTLES = {"perceptron_xor"}
# Recipes whose short run starts in a stall (saturated sigmoid outputs, Nielsen's learning slowdown): the
# epoch at which a run escapes, and how fast it climbs after, hang on single roundings, so the two op sets'
# validation accuracy may differ by ~8 points at any epoch of a short run. Measured for nielsen_ch1_100 after
# this round's sigmoid change (1/(1+e^-z), rounding differently from before), validation accuracy per epoch:
# seed 1, custom 74.5 / 75.5 / 75.6 %, builtin 74.3 / 83.5 / 84.2 %; seed 2, custom 75.4 / 84.9 / 86.0 %,
# builtin 75.3 / 76.3 / 86.0 %; seed 2 again in CI (another machine state, same code), custom 75.2 / 84.8 /
# 94.0 %, builtin 75.1 / 76.4 / 85.8 %. Such a recipe is held to the per-step loss agreement of its first
# 200 steps (inside the stall, where the ops are compared), to settling, and to its final epoch being within
# 1 point of its best, not to validation accuracy agreement.
STALLS = {"nielsen_ch1_100"}


def test_every_experiment_has_a_recipe_check():
    assert sorted(RECIPES) == options("experiment")


# The full recipes, as shipped, with ops=custom: the bar of the README's results table on the final epoch's
# weights (not the best checkpoint's: a recipe that reaches its bar only at a lucky epoch fails), then the same
# run with ops=builtin: its final-epoch test accuracy within 0.3 points. Those that fit in CI's time beside the
# rest of the suite (measured in CI's `pytest -n auto`, one thread beside another worker, custom + builtin:
# lenet5_mnist 189 + 112 s, lenet5_classic_mnist 186 + 128 s, nielsen_ch3 724 + 583 s); the 5-seed Nielsen
# ch. 1 rows (5 seeds × 4–7 min, twice) do not, and the README's table gives their full runs
# (nielsen_ch1_100's bar is not met: see the README).
# Longest first, and before the other slow tests (conftest.py runs the slow tests first, in file order): under
# `pytest -n auto` nielsen_ch3's two 60-epoch runs start at once while the other workers share out the rest.
FULL = {"nielsen_ch3": 0.978, "lenet5_mnist": 0.990, "lenet5_classic_mnist": 0.988}


def assert_final_near_best(experiment: str, ops: str, val_acc: list[float]) -> None:
    """The final epoch's validation accuracy is within 1 point of the best epoch's."""
    best, final = max(val_acc), val_acc[-1]
    assert final >= best - 0.01, f"{experiment} ops={ops}: final-epoch val acc {final:.4f} is more than 1 point below the best {best:.4f}"


def assert_twins_agree(experiment: str, custom: float, builtin: float) -> None:
    """Custom and builtin final-epoch test accuracy within 0.3 points (TWIN_TOLERANCE where a recipe differs)."""
    twin = TWIN_TOLERANCE.get(experiment, 0.003)
    assert abs(custom - builtin) <= twin, f"{experiment}: custom and builtin test acc differ by more than {twin}: custom {custom:.4f}, builtin {builtin:.4f}"


def _full_run(experiment: str, ops: str, output_dir) -> dict:
    """The recipe as shipped: its final epoch's metrics, after checking it converged (final val acc within 1 point of the best)."""
    curves = run_curves([f"experiment={experiment}", f"ops={ops}", *REAL_DATA], output_dir, every_step=False)
    final = curves.summary["final_epoch"]
    assert final["epoch"] + 1 == curves.summary["epochs"] and len(curves.val_acc) == curves.summary["epochs"]
    assert_final_near_best(experiment, ops, curves.val_acc)
    return final


@pytest.mark.slow
@needs_mnist
@pytest.mark.parametrize("experiment", list(FULL))
def test_full_recipe_reaches_its_bar_and_its_builtin_twin_agrees(experiment, tmp_path):
    custom = _full_run(experiment, "custom", tmp_path / "custom")
    assert custom["test/acc"] >= FULL[experiment], f"{experiment}: final-epoch test acc {custom['test/acc']:.4f} < {FULL[experiment]} ({custom})"
    builtin = _full_run(experiment, "builtin", tmp_path / "builtin")
    assert_twins_agree(experiment, custom["test/acc"], builtin["test/acc"])


@pytest.mark.slow
@pytest.mark.parametrize("experiment", [pytest.param(name, marks=marks) for name, (_, marks, _) in RECIPES.items()])
def test_experiment_converges_and_custom_and_builtin_agree(experiment, tmp_path):
    short, _, bar = RECIPES[experiment]
    test = f"test={bar is not None}"
    runs = {ops: run_curves([f"experiment={experiment}", f"ops={ops}", test, *short], tmp_path / ops) for ops in ("custom", "builtin")}
    custom, builtin = runs["custom"], runs["builtin"]
    steps = min(200, len(builtin.step_loss))
    assert steps >= min(200, len(custom.step_loss)) > 0
    torch.testing.assert_close(
        torch.tensor(custom.step_loss[:steps]), torch.tensor(builtin.step_loss[:steps]), rtol=1e-3, atol=1e-6,
        msg=lambda m: f"{experiment}: the custom and builtin training losses part within the first {steps} steps\n{m}",
    )
    if experiment not in STALLS:
        gaps = [abs(c - b) for c, b in zip(custom.val_acc, builtin.val_acc, strict=True)]
        assert max(gaps) <= 0.005, f"{experiment}: validation accuracy per epoch differs by up to {max(gaps):.4f} (custom {custom.val_acc}, builtin {builtin.val_acc})"
    if experiment in NEVER_SETTLES:
        return
    for ops, curves in runs.items():
        assert settles(curves.epoch_loss), f"{experiment} ops={ops}: the training loss per epoch does not settle: {curves.epoch_loss}"
        assert_final_near_best(experiment, ops, curves.val_acc)
    if bar is not None:
        accuracy = {ops: curves.summary["metrics"]["test/acc"] for ops, curves in runs.items()}
        assert accuracy["custom"] >= bar, f"{experiment} (short: {short}): final-epoch test acc {accuracy['custom']:.4f} < {bar}"
        assert_twins_agree(experiment, accuracy["custom"], accuracy["builtin"])
