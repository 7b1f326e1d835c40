"""The settings layer (one default per key: the schema's), the paths module and the workflow-script helper."""
from __future__ import annotations

import dataclasses
import logging
import os
import sys
import types

import pytest
import yaml

from jazz_solo import paths, settings, sweep
from jazz_solo.config import DEFAULT_CONFIG_PATH, PROJECT_ROOT, SCHEMA_PATH, config_hash, load_config, with_defaults
from jazz_solo.settings import GenSettings, Settings, TrainSettings


def _defaults(schema, prefix=""):
    """Every (key path, default) of the schema."""
    for key, sub in (schema.get("properties") or {}).items():
        if "default" in sub:
            yield f"{prefix}{key}", sub["default"]
        yield from _defaults(sub, f"{prefix}{key}.")


def _keys(config, prefix=""):
    for key, value in config.items():
        yield f"{prefix}{key}"
        if isinstance(value, dict) and key not in ("sweep", "demo"):
            yield from _keys(value, f"{prefix}{key}.")


def test_every_default_exists_once():
    """config.yaml names no key the schema has a default for, and the package has no default of
    its own: every section class is built from the filled config with nothing missing."""
    schema_defaults = dict(_defaults(yaml.safe_load(SCHEMA_PATH.read_text())))
    assert {"evaluate.dead_air_threshold_ms", "generate.top_p", "pretrain.val_windows"} <= set(schema_defaults)
    user = yaml.safe_load(DEFAULT_CONFIG_PATH.read_text())
    assert not set(_keys(user)) & set(schema_defaults)
    s = Settings.from_config(load_config())
    assert s.evaluate.dead_air_threshold_ms == schema_defaults["evaluate.dead_air_threshold_ms"]
    assert s.gen.top_p == schema_defaults["generate.top_p"] == GenSettings.defaults().top_p
    assert s.lora.val_windows is None and s.pretrain.val_windows == 512  # lora: every val window
    for section in (s.data, s.model, s.pretrain, s.lora, s.generate, s.evaluate, s.select):
        assert all(f.default is dataclasses.MISSING for f in dataclasses.fields(section))


def test_settings_are_frozen_and_keep_the_config_values():
    s = Settings.from_config(load_config())
    with pytest.raises(dataclasses.FrozenInstanceError):
        s.generate.top_p = 0.5
    assert type(s.evaluate.dead_air_threshold_ms) is int  # as written: hashes of settings do not move
    assert s.model.shape() == {k: v for k, v in load_config()["model"].items() if k != "checkpoint"}


def test_a_schema_key_without_a_field_is_an_error():
    config = load_config()
    config["select"]["new_key"] = 1
    with pytest.raises(ValueError, match="no setting field for new_key"):
        Settings.from_config(config)


def test_partial_training_sections_take_their_own_sections_defaults():
    assert TrainSettings.from_config({"max_steps": 3}).weight_decay == 0.01  # pretrain's
    lora = TrainSettings.from_config({"max_steps": 3, "r": 2}, "lora")
    assert (lora.max_steps, lora.weight_decay, lora.val_windows) == (3, 0.0, None)


def test_partial_sections_take_the_schema_defaults():
    model = settings.ModelSettings.from_config({"n_layer": 1})
    assert (model.n_layer, model.n_embd, model.checkpoint) == (1, 128, None)
    assert settings.LoraSettings.from_config({"r": 2}).target_modules == "all-linear"
    with pytest.raises(ValueError, match="missing corpus, target"):
        settings.DataSettings.from_config({"split_pitch": 60})  # no schema default: a config must name them


def test_as_config_gives_back_the_config_so_hashes_do_not_move():
    """Provenance hashes and bundle.json are made from the typed settings: each section as the
    config holds it, an unset optional key (lora.val_windows) absent, for the whole config and for
    a candidate's (wildcards written in)."""
    config = load_config(PROJECT_ROOT / "tests" / "configs" / "tiny.yaml")
    for resolved in (config, sweep.resolve(config, sweep.combinations(config, "gen")[-1])):
        s = Settings.from_config(resolved)
        assert s.as_config(*settings.CANDIDATE_SECTIONS) == {k: resolved[k] for k in settings.CANDIDATE_SECTIONS}
        assert s.candidate_hash() == config_hash({k: resolved[k] for k in settings.CANDIDATE_SECTIONS})
    assert "val_windows" not in Settings.from_config(config).lora.as_config()


def test_gen_view_and_updated_sections():
    s = Settings.from_config(load_config())
    assert GenSettings.of(s.data, s.generate) == s.gen == GenSettings.from_config(load_config())
    assert type(GenSettings.of(s.data, s.generate.updated({"temperature": 1})).temperature) is float
    data = s.data.updated({"split_pitch": 64, "not_a_setting": 1})  # a record may hold more keys
    assert data.split_pitch == 64 and data.window_seconds == s.data.window_seconds


def test_auto_listening_guidance_follows_the_sequence_format():
    """The schema's "auto" is the weight measured for each format; a number is taken as given,
    and a sweep path keeps "auto" or the number as written."""
    assert with_defaults({})["generate"]["listening_guidance"] == "auto"
    assert GenSettings.defaults().listening_guidance == settings.AUTO_LISTENING_GUIDANCE["windowed"] == 0.5
    assert GenSettings.defaults(sequence="causal").listening_guidance == settings.AUTO_LISTENING_GUIDANCE["causal"] == 1.0
    assert GenSettings.defaults(sequence="causal", listening_guidance=0.25).listening_guidance == 0.25
    causal = Settings.from_config(load_config()).data.updated({"sequence": "causal"})
    assert GenSettings.of(causal, Settings.from_config(load_config()).generate).listening_guidance == 1.0
    param, config = sweep.BY_NAME["listening_guidance"], with_defaults({})
    assert sweep.parse_value(param, "auto", config) == "auto" and sweep.parse_value(param, "1.0", config) == 1.0
    assert sweep.format_value("auto") == "auto" and sweep.format_value(1.0) == "1.0"
    with pytest.raises(TypeError, match="no field"):
        GenSettings.defaults(sequense="causal")


def test_with_defaults_keeps_the_schema_order_and_the_users_values():
    filled = with_defaults({"generate": {"top_p": 0.5}, "data": {"target": ["t"], "corpus": ["c"]}})
    assert filled["generate"]["top_p"] == 0.5 and filled["generate"]["temperature"] == 1.0
    assert list(filled["data"])[:3] == ["corpus", "target", "split_ratios"]
    assert "sweep" not in filled and "demo" not in filled


def test_paths_follow_the_sweep_params():
    w = {p.name: f"v{i}" for i, p in enumerate(sweep.PARAMS)}
    data = "/".join(f"{p.name}~{w[p.name]}" for p in sweep.stage_params("data"))
    assert paths.file("reference", w) == f"results/data/{data}/reference.json"
    assert paths.file("base_model", w, root="r") == f"r/base/{data}/model"
    assert paths.file("metrics", w) == f"results/gen/{sweep.instance('gen', w)}/metrics.json"
    assert paths.file("metrics", "some/candidate") == "results/gen/some/candidate/metrics.json"
    assert "{split_pitch}" in paths.file("adapter") and paths.file("adapter").startswith("results/train/")
    assert paths.log("tokenize", "data") == f"results/logs/tokenize/{sweep.pattern('data')}.log"
    assert paths.benchmark("ingest") == "results/benchmarks/ingest.tsv"


def test_existing_finds_every_instance_and_in_results_names_archive_members(tmp_path):
    w = {p.name: "x" for p in sweep.PARAMS}
    for name in ("metrics", "reval_metrics"):
        target = tmp_path / paths.file(name, w, root=".")
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text("{}")
    assert paths.existing("metrics", tmp_path) == [tmp_path / paths.file("metrics", w, root=".")]
    assert paths.existing("reval_metrics", tmp_path) == [tmp_path / "best/reval/metrics.json"]
    assert paths.in_results("bundle") == "best/bundle.json"
    with pytest.raises(ValueError, match="every train instance"):
        paths.in_results("adapter")


def test_a_new_sweep_param_reaches_every_path_of_its_stage(monkeypatch):
    extra = sweep.SweepParam("sequence", "data", "data", "sequence")
    monkeypatch.setattr(sweep, "PARAMS", (*sweep.PARAMS, extra))
    assert "sequence~{sequence}" in paths.folder("data")
    assert "sequence~{sequence}" in paths.folder("gen") and "sequence~{sequence}" in paths.log("pretrain", "data")


@pytest.fixture
def script_common(monkeypatch):
    monkeypatch.syspath_prepend(str(PROJECT_ROOT / "workflow_scripts"))
    import _common

    return _common


def _smk(tmp_path, rule="demo_rule"):
    return types.SimpleNamespace(log=[str(tmp_path / "job.log")], rule=rule, threads=1, wildcards={},
                                 config=load_config())


def test_job_sends_logging_and_stderr_to_the_rule_log(tmp_path, script_common):
    with script_common.job(_smk(tmp_path)) as run:
        logging.getLogger("jazz_solo.x").info("a record")
        print("a stderr line", file=sys.stderr)
        os.write(2, b"a C-level line\n")
        assert run.settings.select.rule == "realism"
    text = (tmp_path / "job.log").read_text()
    assert "INFO a record" in text and "a stderr line" in text and "a C-level line" in text


def test_job_turns_errors_into_one_line(tmp_path, script_common, capfd):
    with pytest.raises(SystemExit) as exit_info:
        with script_common.job(_smk(tmp_path, "tokenize")):
            raise ValueError("pieces.tsv: missing column(s) split")
    assert exit_info.value.code == 1
    err = capfd.readouterr().err
    assert err.strip() == "jazz-solo tokenize: pieces.tsv: missing column(s) split"
    assert "ERROR pieces.tsv: missing column(s) split" in (tmp_path / "job.log").read_text()


def test_defaults_need_no_data_paths():
    assert settings.defaults().data.corpus == [] and settings.defaults().generate.seed == 7


def test_job_keeps_the_traceback_of_an_unexpected_error_in_the_log(tmp_path, script_common):
    with pytest.raises(KeyError):
        with script_common.job(_smk(tmp_path)):
            raise KeyError("no such column")
    text = (tmp_path / "job.log").read_text()
    assert "unexpected error" in text and "Traceback" in text and "KeyError: 'no such column'" in text
