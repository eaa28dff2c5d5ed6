"""Every config composes and instantiates: each option of each group, and each experiment."""

from __future__ import annotations

import pytest
import torch
from hydra.core.hydra_config import HydraConfig
from hydra.utils import instantiate

from helpers import CONF, compose_train, options
from refnets.cli.train import ConfigError, check_accelerator
from refnets.training.checks import TOP_LEVEL_KEYS

GROUPS = ["model", "data", "trainer", "logger", "optimizer", "scheduler", "callbacks", "experiment"]
# trainer options that need hardware this machine may lack compose, but only instantiate where it exists
NEEDS_CUDA = {"cuda", "ddp"}


@pytest.mark.parametrize("group, option", [(g, o) for g in GROUPS for o in options(g)])
def test_every_option_composes_and_instantiates(group, option, tmp_path):
    cfg = compose_train([f"{group}={option}"], tmp_path)
    assert HydraConfig.get().runtime.choices[group] == option
    model = instantiate(cfg.model)
    assert hasattr(model.net, "ops") and model.net.ops == cfg.ops
    datamodule = instantiate(cfg.data)
    assert datamodule.batch_size > 0
    for name in ("logger", "callbacks"):
        for node in (cfg.get(name) or {}).values():
            instantiate(node)
    if cfg.get("scheduler"):
        optimizer = instantiate(cfg.optimizer)(params=[torch.nn.Parameter(torch.zeros(1))])
        instantiate(cfg.scheduler)(optimizer=optimizer)
    if group == "trainer" and option in NEEDS_CUDA and not torch.cuda.is_available():
        with pytest.raises(ConfigError, match=r"asks for a CUDA GPU, but torch.cuda.is_available\(\) is False"):
            check_accelerator(cfg.trainer)
    elif group == "trainer":
        instantiate(cfg.trainer, logger=False, enable_progress_bar=False)


@pytest.mark.parametrize("experiment", options("experiment"))
def test_experiment_builds_the_model_it_describes(experiment, tmp_path):
    """An experiment's model takes its data's input: one batch of the right shape goes through."""
    cfg = compose_train([f"experiment={experiment}"], tmp_path)
    model = instantiate(cfg.model)
    dm = instantiate(cfg.data)
    out = model(torch.rand(2, *dm.dims))
    assert out.shape[0] == 2
    assert model.net.num_classes == dm.num_classes


def test_ops_flag_reaches_every_layer(tmp_path):
    """ops=builtin builds torch.nn layers only; ops=custom builds refnets.nn layers where they exist."""
    import refnets.nn as rnn

    custom = instantiate(compose_train(["ops=custom"], tmp_path).model).net
    builtin = instantiate(compose_train(["ops=builtin"], tmp_path).model).net
    assert any(isinstance(m, rnn.Conv2d) for m in custom.modules())
    assert not any(type(m).__module__.startswith("refnets.nn") for m in builtin.modules())


def test_lenet5_config_defaults_are_the_models():
    """conf/model/lenet5.yaml spells out LeNet5's defaults so they can be overridden from the terminal;
    they must be the code's, never a second, different default."""
    import inspect

    from omegaconf import OmegaConf

    from refnets.models import LeNet5

    node = OmegaConf.load(CONF / "model" / "lenet5.yaml").net
    signature = inspect.signature(LeNet5).parameters
    for key in ("activation", "pooling", "num_classes", "in_channels", "init"):
        assert node[key] == signature[key].default, key


def test_top_level_keys_are_what_the_configs_compose():
    """checks.TOP_LEVEL_KEYS (anything else is refused as a key nothing reads) is exactly the top-level keys of
    conf/train.yaml and conf/eval.yaml with every experiment: a new key in the configs must be added there."""
    from hydra import compose, initialize_config_dir
    from hydra.core.global_hydra import GlobalHydra

    seen = {"train": set(), "eval": set()}
    for primary in seen:
        for experiment in [None, *options("experiment")]:
            GlobalHydra.instance().clear()
            with initialize_config_dir(config_dir=str(CONF), version_base="1.3"):
                seen[primary] |= set(compose(primary, overrides=[f"experiment={experiment}"] if experiment else []))
    assert seen["train"] | seen["eval"] == set(TOP_LEVEL_KEYS)
    assert "test" in seen["train"] - seen["eval"] and "split" in seen["eval"] - seen["train"]
