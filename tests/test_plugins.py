"""The user's own pieces from outside the package: a config's ``plugins:`` list (a .py file and a
module), the ``g2d.plugins`` entry-point group, and Python objects in the API (an nn.Module
encoder, a torch Dataset) — trained through the CLI and the API, with named errors."""
from __future__ import annotations

import hashlib
import json
import sys
import textwrap
from pathlib import Path

import pytest
import torch
import yaml

from g2d.api import parse_config, train_student
from g2d.cli import main
from g2d.config import load_config
from g2d.plugins import load_entry_points
from g2d.validation import ConfigError, DataError

PLUGIN = textwrap.dedent('''
    """A user's encoder and data set, registered from outside the g2d package."""
    import math

    import torch
    from pydantic import Field
    from torch import nn

    from g2d.data import DATASETS, DataSplits, DatasetInfo, DatasetOptions, TensorDataset
    from g2d.encoders import ENCODERS
    from g2d.registry import Options


    class TwoLayerOptions(Options):
        width: int = Field(6, gt=0)


    class TwoLayer(nn.Module):
        def __init__(self, in_dim: int, width: int) -> None:
            super().__init__()
            self.net = nn.Sequential(nn.Flatten(), nn.Linear(in_dim, width), nn.Tanh())
            self.out_dim = width

        def forward(self, x):
            return self.net(x)


    @ENCODERS.register("{enc}", options=TwoLayerOptions)
    def two_layer(options, input_shape):
        """Flatten, Linear, tanh."""
        return TwoLayer(math.prod(input_shape), options.width)


    class BlobsOptions(DatasetOptions):
        n: int = Field(60, gt=8)

        def modality_names(self):
            return ["left", "right"]

        def default_encoders(self):
            return {{m: {{"name": "{enc}", "options": {{}}}} for m in self.modality_names()}}


    @DATASETS.register("{data}", options=BlobsOptions)
    def blobs(options):
        """Two noisy views of three classes."""
        info = DatasetInfo(("left", "right"), "classification", 3, {{"left": (4,), "right": (2, 3)}})
        gen = torch.Generator().manual_seed(0)

        def split(n):
            y = torch.arange(n) % 3
            left = torch.nn.functional.one_hot(y, 4).float() + 0.3 * torch.randn(n, 4, generator=gen)
            right = y.float()[:, None, None] + 0.5 * torch.randn(n, 2, 3, generator=gen)
            return TensorDataset({{"left": left, "right": right}}, y, info)

        return DataSplits(split(options.n), split(24), split(24), info)
''')


def write_plugin(folder: Path, tag: str) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"lab_{tag}.py"
    path.write_text(PLUGIN.format(enc=f"lab-{tag}-enc", data=f"lab-{tag}-data"))
    return path


def write_config(path: Path, plugins: list[str], data: str, **extra) -> Path:
    raw = {"plugins": plugins, "data": {"name": data, "batch_size": 16},
           "teachers": {"epochs": 1, "optim": {"lr": 0.05}}, "student": {"epochs": 2, "optim": {"lr": 0.05}},
           "method": {"name": "g2d", "options": {"phases": [1]}}, "device": "cpu", **extra}
    path.write_text(yaml.safe_dump(raw))
    return path


def test_a_plugin_file_registers_an_encoder_and_a_data_set_that_train_through_the_cli(tmp_path: Path) -> None:
    plugin = write_plugin(tmp_path / "lab", "cli")
    config = write_config(tmp_path / "lab" / "exp.yaml", ["lab_cli.py"], "lab-cli-data",
                          model={"encoders": {"right": {"name": "lab-cli-enc", "options": {"width": 5}}}})
    run = tmp_path / "run"
    assert main(["teachers", str(config), "--out", str(run), "--quiet"]) == 0
    assert main(["train", str(config), "--out", str(run), "--quiet"]) == 0
    result = json.loads((run / "students" / "g2d" / "result.json").read_text())
    assert result["selected_epoch"] in (0, 1) and "accuracy" in result["test"]
    saved = yaml.safe_load((run / "students" / "g2d" / "config.yaml").read_text())
    assert saved["plugins"] == [str(plugin.resolve())]  # resolved against the config's folder
    assert saved["model"]["encoders"]["right"] == {"name": "lab-cli-enc", "options": {"width": 5}}
    record = json.loads((run / "plugins.json").read_text())["plugins"]
    assert record == [{"spec": str(plugin.resolve()), "kind": "file", "source": str(plugin.resolve()),
                       "sha256": hashlib.sha256(plugin.read_bytes()).hexdigest(), "distribution": None}]
    assert (run / "plugins" / "lab_cli.py").read_text() == plugin.read_text()
    # the run repeats from its own config (importing the same plugin again is a no-op)
    again = load_config(run / "students" / "g2d" / "config.yaml")
    assert again.data.name == "lab-cli-data" and again.plugins == [str(plugin.resolve())]


def test_a_plugin_module_on_the_path(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    write_plugin(tmp_path, "mod")
    monkeypatch.syspath_prepend(str(tmp_path))
    config = parse_config({"plugins": ["lab_mod"], "data": {"name": "lab-mod-data"}, "method": {"name": "joint"}})
    assert config.plugins == ["lab_mod"] and config.model.encoders["left"].name == "lab-mod-enc"


def test_plugin_errors_name_the_plugin(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=r"plugins\[0\]: plugin file '.*nowhere\.py' does not exist"):
        parse_config({"plugins": [str(tmp_path / "nowhere.py")]})
    with pytest.raises(ConfigError, match=r"plugins\[1\]: no plugin module 'no_such_lab_module'"):
        parse_config({"plugins": [str(write_plugin(tmp_path, "ok")), "no_such_lab_module"]})
    broken = tmp_path / "broken.py"
    broken.write_text("raise RuntimeError('the lab server is down')\n")
    with pytest.raises(ConfigError, match=r"importing plugin '.*broken\.py' failed: RuntimeError: the lab server"):
        parse_config({"plugins": [str(broken)]})
    with pytest.raises(ConfigError, match="plugins: expected a list"):
        parse_config({"plugins": "lab.py"})
    with pytest.raises(ConfigError, match=r"Unknown data set 'lab-missing-data'"):
        parse_config({"data": {"name": "lab-missing-data"}})


def test_entry_point_group_loads_installed_plugins(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    write_plugin(tmp_path, "ep")
    (tmp_path / "lab_ep_register.py").write_text(
        "CALLS = []\n\ndef register():\n    import lab_ep\n    CALLS.append(1)\n")
    dist = tmp_path / "g2d_lab-0.3.dist-info"
    dist.mkdir()
    (dist / "METADATA").write_text("Metadata-Version: 2.1\nName: g2d-lab\nVersion: 0.3\n")
    (dist / "entry_points.txt").write_text("[g2d.plugins]\nlab = lab_ep_register:register\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    records = load_entry_points()
    assert [(r.kind, r.spec, r.distribution) for r in records] == [("entry point", "lab_ep_register:register",
                                                                     "g2d-lab 0.3")]
    assert sys.modules["lab_ep_register"].CALLS == [1] and load_entry_points() == []  # once
    assert parse_config({"data": {"name": "lab-ep-data"}, "method": {"name": "joint"}}).data.name == "lab-ep-data"


class Views(torch.utils.data.Dataset):
    """A user's own torch Dataset: (inputs dict, class) per index."""

    def __init__(self, n: int = 90, bad_index: int | None = None) -> None:
        gen = torch.Generator().manual_seed(1)
        self.y = torch.arange(n) % 3
        self.a = torch.nn.functional.one_hot(self.y, 3).float() + 0.2 * torch.randn(n, 3, generator=gen)
        self.b = torch.randn(n, 5, generator=gen)
        self.bad_index = bad_index

    def __len__(self) -> int:
        return len(self.y)

    def __getitem__(self, i: int):
        b = self.b[i] if i != self.bad_index else self.b[i][:4]
        return {"a": self.a[i], "b": b}, int(self.y[i])


class Pool(torch.nn.Module):
    """A user's encoder module (no out_dim attribute: measured on a dry forward)."""

    def __init__(self, d_in: int, d_out: int = 4, flat: bool = True) -> None:
        super().__init__()
        self.lin, self.flat = torch.nn.Linear(d_in, d_out), flat

    def forward(self, x):
        z = torch.relu(self.lin(x))
        return z if self.flat else z[:, None, :]


def api_config(data, encoders: dict) -> dict:
    return {"data": data, "model": {"encoders": encoders}, "student": {"epochs": 2, "optim": {"lr": 0.1}},
            "method": {"name": "joint"}, "device": "cpu", "analysis": {"track": False}}


def test_python_objects_in_place_of_registered_names(tmp_path: Path) -> None:
    dataset, encoder = Views(), Pool(3)
    config = parse_config(api_config({"name": dataset, "batch_size": 16}, {"a": encoder, "b": {"name": "mlp"}}))
    assert config.data.name.startswith("python:Views#") and config.model.encoders["a"].name.startswith("python:Pool#")
    assert config.modalities == ("a", "b")
    run = train_student(config, tmp_path / "run", progress=False)
    assert run.model.encoders["a"] is not encoder and run.model.encoders["a"].out_dim == 4
    assert not torch.equal(run.model.encoders["a"].lin.weight, encoder.lin.weight)  # a copy was trained
    data = json.loads((tmp_path / "run" / "data.json").read_text())
    assert data["sizes"] == {"train": 66, "val": 6, "test": 18}  # 20 % test, then 10 % of the rest per class
    splits = parse_config(api_config({"train": Views(60), "test": Views(30)}, {}))
    assert splits.data.name.startswith("python:dict#")
    again = parse_config(api_config({"name": dataset}, {"a": encoder}))
    assert again.data.name == config.data.name  # one object, one registration


def test_python_objects_get_the_same_shape_checks_and_named_errors(tmp_path: Path) -> None:
    # checked when a model is built from them (as a registered encoder's shapes are), naming the module
    with pytest.raises(ConfigError, match=r"expected an output of shape \(batch, features\) for input \(2, 3\), "
                                          r"got \(2, 1, 4\)"):
        train_student(parse_config(api_config({"name": Views()}, {"a": Pool(3, flat=False)})), tmp_path / "x",
                      progress=False)
    with pytest.raises(ConfigError, match=r"\(Pool\) failed on an input of per-sample shape \(5,\)"):
        train_student(parse_config(api_config({"name": Views()}, {"b": Pool(3)})), tmp_path / "y", progress=False)
    config = parse_config(api_config({"name": Views(bad_index=7)}, {}))
    with pytest.raises(DataError, match=r"sample 7, modality 'b': expected per-sample shape \(5,\), got \(4,\)"):
        train_student(config, tmp_path / "bad", progress=False)
    with pytest.raises(DataError, match=r"sample 0 must be \(inputs: dict modality -> tensor, target\)"):
        parse_config(api_config({"name": torch.utils.data.TensorDataset(torch.zeros(4, 2))}, {}))
    with pytest.raises(ConfigError, match=r"model.encoders.a.name: encoder 'python:Pool#999' was a Python object"):
        parse_config({"data": {"name": Views()}, "model": {"encoders": {"a": {"name": "python:Pool#999"}}}})


# ---- a plugin that exits or raises is named as the failing plugin -------------------------------

FAILING_PLUGINS = {
    "exits": ("import sys\nsys.exit(3)\n", "it called sys.exit(3)"),
    "exits-none": ("raise SystemExit\n", "it called sys.exit(None)"),
    "raises": ("raise RuntimeError('no GPU here')\n", "RuntimeError: no GPU here"),
    "imports-missing": ("import no_such_module_xyz\n", "ModuleNotFoundError"),
}


@pytest.mark.parametrize("case", list(FAILING_PLUGINS))
def test_a_plugin_that_exits_or_raises_while_importing_is_named(tmp_path, capsys, case):
    source, phrase = FAILING_PLUGINS[case]
    (tmp_path / f"bad_{case.replace('-', '_')}.py").write_text(source)
    config = tmp_path / "exp.yaml"
    config.write_text(yaml.safe_dump({"plugins": [f"bad_{case.replace('-', '_')}.py"], "device": "cpu"}))
    code = main(["train", str(config), "--out", str(tmp_path / "run"), "--quiet"])
    err = capsys.readouterr().err
    assert code == 2 and "Traceback" not in err
    assert "plugins[0]: importing plugin" in err and f"bad_{case.replace('-', '_')}.py" in err and phrase in err


@pytest.mark.parametrize("failure, phrase", [("raise SystemExit(4)", "it called sys.exit(4)"),
                                             ("raise KeyError('width')", "KeyError: 'width'")])
def test_a_plugin_piece_that_exits_or_raises_when_built_is_named(tmp_path, capsys, failure, phrase):
    name = f"breaks_{abs(hash(failure)) % 10**8}"
    (tmp_path / f"{name}.py").write_text(textwrap.dedent(f'''
        from g2d.encoders import ENCODERS

        @ENCODERS.register("{name}")
        def broken(options, input_shape):
            """Fails when built."""
            {failure}
    '''))
    raw = {"plugins": [f"{name}.py"], "device": "cpu", "teachers": {"epochs": 1}, "student": {"epochs": 1},
           "data": {"options": {"num_train": 32, "num_val": 16, "num_test": 16}},
           "model": {"encoders": {"strong": {"name": name}}}, "method": {"name": "joint"}}
    (tmp_path / "exp.yaml").write_text(yaml.safe_dump(raw))
    code = main(["train", str(tmp_path / "exp.yaml"), "--out", str(tmp_path / "run"), "--quiet"])
    err = capsys.readouterr().err
    assert code == 2 and "Traceback" not in err
    assert f"encoder {name!r} (plugin " in err and "broken) failed" in err and phrase in err


@pytest.mark.parametrize("failure, phrase", [("raise SystemExit(5)", "it called sys.exit(5)"),
                                             ("import sys; sys.exit('no data here')",
                                              "it called sys.exit('no data here')"),
                                             ("raise OSError('the share is not mounted')",
                                              "OSError: the share is not mounted"),
                                             ("return [1, 2, 3]", "returned list; expected g2d.data.DataSplits")])
def test_a_plugin_data_set_that_exits_or_raises_when_built_is_named(tmp_path, capsys, failure, phrase):
    name = f"broken_data_{abs(hash(failure)) % 10**8}"
    (tmp_path / f"{name}.py").write_text(textwrap.dedent(f'''
        from g2d.data import DATASETS, DatasetOptions

        class Opts(DatasetOptions):
            def modality_names(self):
                return ["a", "b"]

        @DATASETS.register("{name}", options=Opts)
        def broken_data(options):
            """Fails when built."""
            {failure}
    '''))
    raw = {"plugins": [f"{name}.py"], "device": "cpu", "teachers": {"epochs": 1}, "student": {"epochs": 1},
           "data": {"name": name}, "method": {"name": "joint"}}
    (tmp_path / "exp.yaml").write_text(yaml.safe_dump(raw))
    code = main(["train", str(tmp_path / "exp.yaml"), "--out", str(tmp_path / "run"), "--quiet"])
    err = capsys.readouterr().err
    assert code == 2 and "Traceback" not in err
    assert f"data set {name!r} (" in err and "broken_data" in err and phrase in err
