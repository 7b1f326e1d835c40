"""The Music Transformer wrapper: config sizes, recorded data settings, the KV-cache decoders over
several layers, base save/load, adapter loading."""
from __future__ import annotations

import dataclasses
import json

import pytest
import torch

from jazz_solo.data import durations, tokens
from jazz_solo.generation.generate import GenSettings, settings_for_model
from jazz_solo.generation.kv_decode import CachedDecoder, FusedLlamaDecoder
from jazz_solo.training.lora import save_adapter, wrap
from jazz_solo.training.model import (
    RECORD_KEY,
    adapter_base_dir,
    build_model,
    check_data,
    load_base,
    load_for_inference,
    model_config,
    recorded_base_data,
    recorded_data,
    save_base,
)
from jazz_solo.settings import LoraSettings, ModelSettings

TINY = ModelSettings.from_config({"n_layer": 2, "n_embd": 32, "n_head": 4, "intermediate_size": 64, "dropout": 0.0})
LORA = LoraSettings.from_config({"r": 4, "alpha": 8, "dropout": 0.0, "target_modules": ["q_proj", "v_proj"]})


def test_config_sizes_and_vocabulary():
    cfg = model_config(dataclasses.replace(TINY, n_layer=3))
    assert cfg.vocab_size == durations.VOCAB_SIZE == 537  # the default: duration vocabulary
    assert model_config(TINY, {"vocabulary": "performance"}).vocab_size == tokens.VOCAB_SIZE == 392
    assert (cfg.num_hidden_layers, cfg.hidden_size, cfg.num_attention_heads) == (3, 32, 4)
    assert cfg.tie_word_embeddings and cfg.pad_token_id == tokens.PAD
    with pytest.raises(ValueError, match="model.n_embd"):
        model_config(dataclasses.replace(TINY, n_embd=30))


def test_data_settings_are_recorded_and_a_mismatch_is_refused(tmp_path):
    """The base's config.json and the adapter record the data settings; generating or training with
    another vocabulary or split pitch stops with one line naming the model."""
    data = {"vocabulary": "performance", "split_pitch": 55, "window_seconds": 8.0, "hop_seconds": 4.0}
    save_base(build_model(TINY, seed=0, data=data), tmp_path / "base")
    saved = json.loads((tmp_path / "base" / "config.json").read_text())[RECORD_KEY]
    assert saved == {"vocabulary": "performance", "sequence": "windowed", "split_pitch": 55, "window_seconds": 8.0}
    model = load_base(tmp_path / "base")
    assert recorded_data(model) == saved == recorded_base_data(tmp_path / "base")
    check_data(saved, {"vocabulary": "performance", "split_pitch": 55}, "m")
    with pytest.raises(ValueError, match=r"^m: model trained for data.vocabulary = 'performance', but .* 'duration'"):
        check_data(saved, {"vocabulary": "duration", "split_pitch": 55}, "m")
    with pytest.raises(ValueError, match="data.split_pitch = 55"):
        settings_for_model(GenSettings.defaults(vocabulary="performance", split_pitch=60), model, "m")
    with pytest.raises(ValueError, match="unknown vocabulary 'remi'"):
        build_model(TINY, data={"vocabulary": "remi"})
    # a base from before vocabularies were recorded (392 ids) reads as the performance vocabulary
    cfg = json.loads((tmp_path / "base" / "config.json").read_text())
    del cfg[RECORD_KEY]
    (tmp_path / "base" / "config.json").write_text(json.dumps(cfg))
    assert recorded_base_data(tmp_path / "base") == {"vocabulary": "performance", "sequence": "windowed"}
    # a record from before sequence formats reads as windowed, and a causal use of it is refused
    cfg[RECORD_KEY] = {"vocabulary": "duration", "split_pitch": 60}
    (tmp_path / "base" / "config.json").write_text(json.dumps(cfg))
    old = recorded_base_data(tmp_path / "base")
    assert old["sequence"] == "windowed"
    with pytest.raises(ValueError, match=r"data.sequence = 'windowed', but .* 'causal'"):
        check_data(old, {"vocabulary": "duration", "sequence": "causal", "split_pitch": 60}, "m")


def test_pitch_class_embeddings_relate_octaves_and_keep_the_rest():
    plain = build_model(dataclasses.replace(TINY, note_embeddings="random"), seed=0)
    model = build_model(dataclasses.replace(TINY, note_embeddings="pitch_class"), seed=0)
    w = model.get_input_embeddings().weight.detach()
    cos = torch.nn.functional.cosine_similarity

    def on(p: int) -> torch.Tensor:
        return w[tokens.NOTE_ON + p]

    # C4 starts nearer C5 than its neighbour C#4, and a NOTE_OFF near its own NOTE_ON
    assert cos(on(60), on(72), dim=0) > cos(on(60), on(61), dim=0) + 0.3
    assert cos(on(60), w[tokens.NOTE_OFF + 60], dim=0) > cos(on(60), w[tokens.NOTE_OFF + 61], dim=0)
    # every other token and every other weight are the random model's, and the head stays tied
    same = w[tokens.TIME_SHIFT :] == plain.get_input_embeddings().weight[tokens.TIME_SHIFT :]
    assert bool(same.all())
    assert torch.equal(model.model.layers[0].mlp.up_proj.weight, plain.model.layers[0].mlp.up_proj.weight)
    assert model.lm_head.weight.data_ptr() == model.get_input_embeddings().weight.data_ptr()
    # seeded: the same model twice
    again = build_model(dataclasses.replace(TINY, note_embeddings="pitch_class"), seed=0).get_input_embeddings().weight
    assert torch.equal(w, again.detach())


@pytest.mark.parametrize("kind", ["fused", "cached"])
def test_decoders_match_the_full_forward_over_layers_with_a_rewind(kind):
    """jazz_solo.generation.kv_decode on a 2-layer model (test_generate checks 1 layer): each decoder gives the
    logits of a plain full forward after a prefill, steps, and tentative steps taken back
    (``rewind``, as the causal soloist does when a step is not kept)."""
    model = build_model(TINY, seed=0).eval()
    decoder = FusedLlamaDecoder(model, capacity=16) if kind == "fused" else CachedDecoder(model)  # 16: buffers grow
    gen = torch.Generator().manual_seed(1)
    seq = torch.randint(0, tokens.EOS, (12,), generator=gen).tolist()
    logits = decoder.prefill(seq, 1)
    with torch.inference_mode():
        for step in range(8):
            full = model(input_ids=torch.tensor([seq])).logits[:, -1]
            assert torch.allclose(logits, full, atol=1e-5), step
            if step % 3 == 1:  # a step fed and taken back leaves no trace
                decoder.step(torch.tensor([tokens.SEP]))
                decoder.rewind(1)
            seq.append(int(torch.randint(0, tokens.EOS, (1,), generator=gen)))
            logits = decoder.step(torch.tensor([seq[-1]]))


def test_base_round_trip_and_clear_error(tmp_path):
    model = build_model(TINY, seed=1)
    save_base(model, tmp_path / "model")
    loaded = load_base(tmp_path / "model")
    ids = torch.randint(0, tokens.EOS, (1, 10))
    with torch.no_grad():
        assert torch.allclose(model.eval()(input_ids=ids).logits, loaded(input_ids=ids).logits, atol=1e-6)
    with pytest.raises(FileNotFoundError, match="no config.json"):
        load_base(tmp_path / "missing")


def test_adapter_records_base_relative_and_loads_for_inference(tmp_path):
    save_base(build_model(TINY, seed=1), tmp_path / "base" / "model")
    peft_model = wrap(load_base(tmp_path / "base" / "model"), LORA, seed=2)
    with torch.no_grad():  # make the adapter non-trivial (B starts at zero)
        for name, p in peft_model.named_parameters():
            if "lora_B" in name:
                p.normal_(0, 0.5)
    save_adapter(peft_model, tmp_path / "train" / "run" / "adapter", tmp_path / "base" / "model")
    cfg = json.loads((tmp_path / "train" / "run" / "adapter" / "adapter_config.json").read_text())
    assert cfg["base_model_name_or_path"] == "../../../base/model"
    assert adapter_base_dir(tmp_path / "train" / "run" / "adapter") == (tmp_path / "base" / "model").resolve()

    ids = torch.randint(0, tokens.EOS, (1, 10))
    merged = load_for_inference(tmp_path / "train" / "run" / "adapter")
    with torch.no_grad():
        expected = peft_model.eval()(input_ids=ids).logits
        assert torch.allclose(merged(input_ids=ids).logits, expected, atol=1e-4)
        base_only = load_base(tmp_path / "base" / "model")(input_ids=ids).logits
    assert not torch.allclose(base_only, expected, atol=1e-3)


def test_unknown_lora_target_module_is_a_config_error():
    with pytest.raises(ValueError, match="lora.target_modules"):
        wrap(build_model(TINY, seed=0), dataclasses.replace(LORA, target_modules=["no_such_proj"]), seed=0)
