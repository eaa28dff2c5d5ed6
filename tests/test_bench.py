"""refnets-bench: every id is measured and reported with the fields the README's speed table needs;
the two paths are timed interleaved; bad input and a missing GPU end in a clear message."""

from __future__ import annotations

import contextlib
import io
import json
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch
from hydra.utils import instantiate

from refnets.bench import epoch, suite
from refnets.bench.cases import Case
from refnets.bench.memory import peak_step_bytes
from refnets.bench.suite import IDS, MEMORY, Options, measure_case
from refnets.bench.timing import interleaved, summary
from refnets.cli.bench import main
from refnets.data import DatasetNotFoundError

SRC = Path(__file__).resolve().parents[1] / "src"
TOP_LEVEL = ("command", "device", "device_name", "cpu", "gpu", "torch", "threads", "threads_source", "cores", "rows", "peak_memory")
ROW = ("id", "batch", "what", "custom", "builtin", "custom_ms", "builtin_ms", "ratio", "custom_range_ms", "builtin_range_ms", "target", "pass")


@pytest.fixture(scope="module")
def quick_run(tmp_path_factory) -> tuple[dict, str]:
    """One --quick run of every id (the test mode: batch 4, 3 repeats, six-step epochs on synthetic data):
    the JSON report and what was printed."""
    path = tmp_path_factory.mktemp("bench") / "bench.json"
    with contextlib.redirect_stdout(io.StringIO()) as printed:
        main(["--quick", "--threads", "1", "--json", str(path)])
    return json.loads(path.read_text()), printed.getvalue()


@pytest.fixture(scope="module")
def quick_report(quick_run) -> dict:
    return quick_run[0]


def test_quick_run_prints_a_row_per_id(quick_run):
    report, printed = quick_run
    lines = printed.splitlines()
    for row in report["rows"] + report["peak_memory"]:
        ratio = f"{row['ratio']:.2f}×" if row["kind"] == "memory" else f"{row['ratio']:.3f}×"
        assert any(line.startswith(f"{row['id']} ") and ratio in line for line in lines), row["id"]
    timed = [r for r in report["rows"] if r["target"] is not None]
    assert f"{sum(r['pass'] for r in timed)} of {len(timed)} rows within their target" in printed


def test_quick_run_reports_every_id_with_its_fields(quick_report):
    assert set(TOP_LEVEL) <= set(quick_report)
    assert quick_report["command"] == f"refnets-bench --quick --threads 1 --json {quick_report['command'].split()[-1]}"
    assert quick_report["threads"] == 1 and quick_report["device"] == "cpu" and quick_report["torch"] == torch.__version__
    assert (quick_report["quick"], quick_report["repeats"], quick_report["epoch_repeats"]) == (True, 3, 1)
    rows = quick_report["rows"]
    assert [r["id"] for r in rows] == [i for i in IDS if i != MEMORY]  # each once (--quick: one batch), in the table's order
    for r in rows:
        assert set(ROW) <= set(r), r["id"]
        assert r["custom_ms"] > 0 and r["builtin_ms"] > 0
        assert r["ratio"] == pytest.approx(r["custom_ms"] / r["builtin_ms"])
        for side in ("custom", "builtin"):  # the median lies within the side's min–max
            lo, hi = r[f"{side}_range_ms"]
            assert lo <= r[f"{side}_ms"] <= hi
        assert r["pass"] == (None if r["target"] is None else r["ratio"] <= r["target"])
    targets = {r["id"]: r["target"] for r in rows}
    assert targets["lenet5.step"] == 1.10 and targets["conv2d.lenet1"] == 1.0 and targets["conv2d.lenet2"] == 1.3
    assert targets["sigmoid"] == 1.5 and targets["relu"] == 1.2 and targets["im2col"] is None


def test_epoch_rows_run_the_same_steps_on_both_sides(quick_report):
    """Both sides of an epoch row train the same number of batches; --quick says its data are synthetic."""
    for r in (r for r in quick_report["rows"] if r["kind"] == "epoch"):
        assert r["steps"] == {"custom": 6, "builtin": 6}, r["id"]
        assert r["data"].startswith("synthetic (--quick")
        assert r["custom_ms_per_step"] == pytest.approx(r["custom_ms"] / 6)
    sides = {r["id"]: (r["custom"], r["builtin"]) for r in quick_report["rows"]}
    assert sides["epoch.lenet5"] == ("refnets-train ops=custom", "refnets-train ops=builtin")
    assert sides["overhead.lightning"] == ("refnets-train ops=builtin", "plain PyTorch loop ops=builtin")


def test_epoch_falls_back_to_synthetic_data_of_fashion_mnists_size(monkeypatch, tmp_path):
    """Without the real files the epoch rows run on random images, 60 000 + 10 000 as Fashion-MNIST, and say so."""

    def not_found(*args, **kwargs):
        raise DatasetNotFoundError("no Fashion-MNIST here")

    monkeypatch.setattr(epoch, "locate", not_found)
    cfg, data = epoch.compose_recipe("custom", tmp_path, quick=False)
    assert data.startswith("synthetic (Fashion-MNIST's files not found; 60000 + 10000")
    datamodule = instantiate(cfg.data)
    assert isinstance(datamodule, epoch.SyntheticFashionMNIST) and datamodule.batch_size == 32
    (x, y), (x_test, y_test) = datamodule.load()
    assert x.shape == (60000, 1, 28, 28) and x.dtype == torch.uint8 and x_test.shape == (10000, 1, 28, 28)


def test_plain_loop_starts_from_the_classifiers_weights(tmp_path):
    """overhead.lightning's plain loop builds the same net with the same initial weights as refnets-train's Classifier."""
    cfg, _ = epoch.compose_recipe("builtin", tmp_path, quick=True)
    torch.manual_seed(cfg.seed)
    classifier_net = instantiate(cfg.model).net
    torch.manual_seed(cfg.seed)
    plain_net = instantiate(cfg.model.net)
    assert type(plain_net) is type(classifier_net) and plain_net.ops == "builtin"
    for (name, a), (_, b) in zip(classifier_net.state_dict().items(), plain_net.state_dict().items()):
        assert torch.equal(a, b), name


def test_peak_memory_of_a_lenet5_step_for_both_paths(quick_report):
    (memory,) = quick_report["peak_memory"]
    assert memory["id"] == MEMORY and memory["batch"] == suite.QUICK_BATCH and "profile_memory" in memory["measures"]
    assert memory["custom_mib"] > 0 and memory["builtin_mib"] > 0


def test_peak_step_bytes_is_the_most_storage_held_at_once():
    """Two 1 MiB tensors alive together, then freed: the peak is 2 MiB, not the 3 MiB allocated in all."""

    def step() -> None:
        a = torch.ones(256, 1024)  # 1 MiB of float32
        b = a * 2  # a second MiB while a lives
        del a, b
        torch.ones(256, 1024)  # a third, after both are freed

    peak = peak_step_bytes(step, "cpu")
    assert 2 * 2**20 <= peak < 2 * 2**20 + 2**16  # 64 KiB allowance for the profiler's and torch's small allocations


def test_only_runs_the_ids_asked_for(tmp_path):
    path = tmp_path / "only.json"
    main(["--quick", "--threads", "1", "--only", "relu", "linear", "--json", str(path)])
    report = json.loads(path.read_text())
    assert [r["id"] for r in report["rows"]] == ["linear", "relu"] and report["peak_memory"] == []


def test_unknown_id_is_refused_naming_the_known_ones(capsys):
    with pytest.raises(SystemExit) as exit:
        main(["--only", "relu", "lenet7.step"])
    err = capsys.readouterr().err
    assert exit.value.code == 2
    assert "--only: unknown id(s) lenet7.step; known ids: lenet5.step," in err and "overhead.lightning" in err


@pytest.mark.parametrize("argv, message", [(["--repeats", "0"], "--repeats: expected a positive integer, got '0'"),
                                           (["--threads", "two"], "--threads: expected a positive integer, got 'two'"),
                                           (["--json", "no/such/folder/b.json"], "--json: the folder of 'no/such/folder/b.json' does not exist"),
                                           (["--json", "."], "--json: '.' is a folder; give a file name, e.g. 'bench.json'")])
def test_bad_arguments_are_refused_before_measuring(argv, message, capsys, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    with pytest.raises(SystemExit) as exit:
        main(argv)
    assert exit.value.code == 2 and message in capsys.readouterr().err


def test_compile_without_a_step_case_is_refused(capsys):
    """--compile only times the step cases; with --only relu it was silently ignored (no compiled row, exit 0)."""
    with pytest.raises(SystemExit) as exit:
        main(["--quick", "--threads", "1", "--compile", "--only", "relu"])
    out, err = capsys.readouterr()
    assert exit.value.code == 2 and "relu" not in out
    assert "--compile times only the step cases (lenet5.step, lenet5_classic.step, mlp.step), and --only relu selects none" in err


def test_a_json_file_that_cannot_be_written_is_refused_before_measuring(capsys, tmp_path):
    """The folder exists but the file cannot be made (here: a name longer than the file system allows): refused
    at once, not after the whole run with an OSError traceback and the report lost."""
    path = tmp_path / ("b" * 300 + ".json")
    with pytest.raises(SystemExit) as exit:
        main(["--quick", "--threads", "1", "--only", "relu", "--json", str(path)])
    out, err = capsys.readouterr()
    assert exit.value.code == 2 and f"--json: cannot write {str(path)!r}: File name too long" in err
    assert "relu" not in out  # nothing was measured


def test_json_check_leaves_an_existing_file_and_makes_none(tmp_path, monkeypatch):
    """The writability check neither truncates a file that is there nor leaves one behind when the run fails."""
    existing = tmp_path / "old.json"
    existing.write_text("{}")
    monkeypatch.setattr("refnets.cli.bench.run", lambda *a, **k: (_ for _ in ()).throw(RuntimeError("stop")))
    for path in (existing, tmp_path / "new.json"):
        with pytest.raises(RuntimeError, match="stop"):
            main(["--quick", "--threads", "1", "--only", "relu", "--json", str(path)])
    assert existing.read_text() == "{}" and not (tmp_path / "new.json").exists()


@pytest.mark.skipif(torch.cuda.is_available(), reason="CUDA is available here: --device cuda measures instead of refusing")
def test_device_cuda_without_cuda_refuses_clearly():
    env = {**os.environ, "PYTHONPATH": f"{SRC}{os.pathsep}{os.environ.get('PYTHONPATH', '')}"}
    result = subprocess.run([sys.executable, "-c", "from refnets.cli.bench import main; main()", "--device", "cuda"],
                            env=env, capture_output=True, text=True, timeout=120)
    assert result.returncode == 2
    assert "--device cuda: torch.cuda.is_available() is False on this machine" in result.stderr
    assert "Traceback" not in result.stderr + result.stdout


def test_interleaved_alternates_the_sides_every_round():
    """Both sides run in every round, first one then the other, the order reversed each round; warm-up
    rounds run untimed."""
    calls = []

    def side(name: str, seconds: float):
        return lambda: calls.append(name) or seconds

    samples = interleaved({"custom": side("c", 2.0), "builtin": side("b", 1.0)}, repeats=4, warmup=1)
    assert calls == ["c", "b"] + ["c", "b", "b", "c", "c", "b", "b", "c"]
    assert samples == {"custom": [2.0] * 4, "builtin": [1.0] * 4}


def test_a_case_is_measured_interleaved():
    """measure_case times its two sides in alternating rounds, not one side's repeats after the other's."""
    calls = []

    def side(n, device, ops, compiled):
        def work():
            calls.append(ops)
            time.sleep(1e-3)

        return work

    fake = Case("fake", "sleeps 1 ms", 1.5, (4,), "op", side)
    (row,) = measure_case(fake, 4, Options(repeats=3, warmup=0))
    k = row["calls_per_sample"]
    timed = calls[2:]  # after one calibration call of each side
    rounds = [timed[i : i + 2 * k] for i in range(0, len(timed), 2 * k)]
    assert rounds == [["custom"] * k + ["builtin"] * k, ["builtin"] * k + ["custom"] * k, ["custom"] * k + ["builtin"] * k]
    assert row["ratio"] == pytest.approx(1.0, rel=0.5)


def test_summary_is_the_ratio_of_medians_with_ranges():
    row = summary([0.001, 0.002, 0.100], [0.001, 0.001, 0.001], target=1.5)
    assert row["custom_ms"] == pytest.approx(2.0) and row["ratio"] == pytest.approx(2.0)  # the 100 ms outlier does not move it
    assert row["custom_range_ms"] == pytest.approx([1.0, 100.0]) and row["pass"] is False


def test_compile_failure_is_reported_in_the_row(monkeypatch):
    """--compile on a machine where torch.compile fails: the step's rows carry the error, the eager row its timing."""

    def broken_compile(fn, *args, **kwargs):
        def compiled(*a, **k):
            raise RuntimeError("inductor: no C++ compiler found\nmore detail")

        return compiled

    monkeypatch.setattr(torch, "compile", broken_compile)
    case = next(c for c in suite.CASES if c.id == "mlp.step")
    eager, compiled, vs_eager = measure_case(case, 4, Options(repeats=1, warmup=0, quick=True, compile=True))
    assert eager["id"] == "mlp.step" and eager["ratio"] > 0
    assert compiled["id"] == "mlp.step.compiled" and vs_eager["id"] == "mlp.step.compiled_vs_eager"
    for row in (compiled, vs_eager):
        assert "ratio" not in row
        assert row["error"] == ("ops=custom: RuntimeError: inductor: no C++ compiler found; "
                                "ops=builtin: RuntimeError: inductor: no C++ compiler found")
