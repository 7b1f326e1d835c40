"""Incremental decoding with a KV cache: prefill a prompt once, then one token per row per step.

Two interchangeable decoders with the same methods (``prefill``/``prefill_rows``, ``step``, ``keep``,
``rewind``):

* :class:`CachedDecoder` - the transformers forward with its ``DynamicCache``; works for any causal
  LM (also an unmerged peft model).
* :class:`FusedLlamaDecoder` - the same Llama computation for our models, written as a lean
  per-step loop over the model's own weights: q/k/v and gate/up projections fused into one matrix
  each, a preallocated KV buffer written in place (no ``torch.cat`` of the whole cache per layer per
  step), rotary tables computed once by the model's own rotary module, and no per-call module and
  mask machinery. On the demo model a step is dominated by that overhead, not by arithmetic, so
  this is what makes the cache pay off on a small CPU (see bench/bench_generate.py); the test
  suite checks its logits against the transformers forward.

:func:`make_decoder` picks the fused one when the model is a plain Llama with default RoPE.
"""
from __future__ import annotations

import inspect
from collections.abc import Sequence
from typing import Any

import torch
import torch.nn.functional as F
from transformers import LlamaForCausalLM
from transformers.activations import ACT2FN
from transformers.models.llama.modeling_llama import apply_rotary_pos_emb

# transformers 5 names the KV cache argument/output `cache` (`past_key_values` is a deprecated alias
# that warns); older releases only know `past_key_values`.
_CACHE_KW = "cache" if "cache" in inspect.signature(LlamaForCausalLM.forward).parameters else "past_key_values"


class CachedDecoder:
    """The transformers forward + ``DynamicCache``. The prompt is shared by the batch, so it is run
    once (batch 1) and the cache repeated; :meth:`keep` drops finished rows from the cache."""

    def __init__(self, model: torch.nn.Module) -> None:
        self.model = model
        self.device = next(model.parameters()).device
        self.cache: Any = None

    def _forward(self, input_ids: torch.Tensor) -> torch.Tensor:
        kwargs = {_CACHE_KW: self.cache}
        out = self.model(input_ids=input_ids.to(self.device), use_cache=True, logits_to_keep=1, **kwargs)
        self.cache = getattr(out, _CACHE_KW)
        return out.logits[:, -1].float().cpu()

    def prefill(self, prompt: Sequence[int], batch: int) -> torch.Tensor:
        """Next-token logits (batch, vocab) after ``prompt``, as float32 on CPU; starts a fresh cache."""
        return self.prefill_rows([prompt], batch)

    @torch.inference_mode()
    def prefill_rows(self, prompts: Sequence[Sequence[int]], batch: int) -> torch.Tensor:
        """As :meth:`prefill` for several prompts of one length, each shared by ``batch`` rows:
        logits (len(prompts) * batch, vocab), prompt-major (rows of prompt 0 first)."""
        self.cache = None
        logits = self._forward(torch.tensor([list(p) for p in prompts]))
        if batch > 1:
            self.cache.batch_repeat_interleave(batch)
        return logits.repeat_interleave(batch, dim=0)

    @torch.inference_mode()
    def step(self, toks: torch.Tensor) -> torch.Tensor:
        """Feed one token per (kept) row; next-token logits (rows, vocab)."""
        return self._forward(toks.reshape(-1, 1))

    def keep(self, rows: Sequence[int]) -> None:
        """Keep only these rows (positions in the current batch)."""
        self.cache.batch_select_indices(torch.tensor(list(rows), device=self.device))

    def rewind(self, n: int) -> None:
        """Forget the last ``n`` tokens fed (a tentative step that was not taken)."""
        self.cache.crop(-int(n))  # a negative length drops that many (transformers 4 and 5 alike)


def _rope_type(config: Any) -> str:
    params = getattr(config, "rope_parameters", None) or getattr(config, "rope_scaling", None) or {}
    return params.get("rope_type", params.get("type", "default"))


def fusable(model: torch.nn.Module) -> bool:
    """A plain Llama causal LM (merged adapter or base) with default RoPE and no sliding window."""
    if type(model) is not LlamaForCausalLM:
        return False
    cfg = model.config
    return _rope_type(cfg) == "default" and not getattr(cfg, "sliding_window", None) and not getattr(
        cfg, "mlp_bias", False
    )


class FusedLlamaDecoder:
    """Lean incremental forward of a :class:`LlamaForCausalLM` (see module doc). Inference only:
    the weights are read once at construction (later changes to the model are not seen)."""

    def __init__(self, model: LlamaForCausalLM, capacity: int = 1024) -> None:
        if not fusable(model):
            raise ValueError("FusedLlamaDecoder needs a plain LlamaForCausalLM with default RoPE")
        cfg = model.config
        self.model = model
        self.device = next(model.parameters()).device
        self.heads = cfg.num_attention_heads
        self.kv_heads = cfg.num_key_value_heads
        self.head_dim = getattr(cfg, "head_dim", None) or cfg.hidden_size // cfg.num_attention_heads
        self.scaling = self.head_dim**-0.5
        self.eps = cfg.rms_norm_eps
        self.act = ACT2FN[cfg.hidden_act]
        self.embed = model.model.embed_tokens.weight
        self.final_norm = model.model.norm.weight
        self.head_w = model.lm_head.weight
        self.layers = []
        with torch.no_grad():
            for layer in model.model.layers:
                att, mlp = layer.self_attn, layer.mlp
                qkv = [att.q_proj, att.k_proj, att.v_proj]
                self.layers.append(
                    dict(
                        ln1=layer.input_layernorm.weight,
                        ln2=layer.post_attention_layernorm.weight,
                        wqkv=torch.cat([m.weight for m in qkv]).contiguous(),
                        bqkv=torch.cat([m.bias for m in qkv]) if att.q_proj.bias is not None else None,
                        wo=att.o_proj.weight,
                        bo=att.o_proj.bias,
                        wgu=torch.cat([mlp.gate_proj.weight, mlp.up_proj.weight]).contiguous(),
                        wdown=mlp.down_proj.weight,
                    )
                )
        self.split = [self.heads * self.head_dim, self.kv_heads * self.head_dim, self.kv_heads * self.head_dim]
        self.rotary = model.model.rotary_emb
        self.capacity = 0
        self.length = 0
        self.k: list[torch.Tensor] = []
        self.v: list[torch.Tensor] = []
        self._tables(capacity)

    def _tables(self, capacity: int) -> None:
        positions = torch.arange(capacity, device=self.device)[None]
        cos, sin = self.rotary(self.embed[:1][None], positions)
        self.cos, self.sin = cos, sin  # (1, capacity, head_dim)
        self.capacity = capacity

    def _rms(self, x: torch.Tensor, weight: torch.Tensor) -> torch.Tensor:
        dtype = x.dtype
        x = x.float()
        x = x * torch.rsqrt(x.pow(2).mean(-1, keepdim=True) + self.eps)
        return weight * x.to(dtype)

    def _grow(self, needed: int) -> None:
        if needed <= self.capacity:
            return
        new_cap = max(needed, 2 * self.capacity)
        self._tables(new_cap)
        for buf in (self.k, self.v):
            for i, old in enumerate(buf):
                grown = old.new_zeros(old.shape[0], old.shape[1], new_cap, old.shape[3])
                grown[:, :, : self.length] = old[:, :, : self.length]
                buf[i] = grown

    def _forward(self, ids: torch.Tensor) -> torch.Tensor:
        batch, n = ids.shape
        start = self.length
        self._grow(start + n)
        x = F.embedding(ids, self.embed)
        cos = self.cos[:, start : start + n]
        sin = self.sin[:, start : start + n]
        for i, w in enumerate(self.layers):
            h = self._rms(x, w["ln1"])
            q, k, v = F.linear(h, w["wqkv"], w["bqkv"]).split(self.split, dim=-1)
            q = q.view(batch, n, self.heads, self.head_dim).transpose(1, 2)
            k = k.view(batch, n, self.kv_heads, self.head_dim).transpose(1, 2)
            v = v.view(batch, n, self.kv_heads, self.head_dim).transpose(1, 2)
            q, k = apply_rotary_pos_emb(q, k, cos, sin)
            self.k[i][:, :, start : start + n] = k
            self.v[i][:, :, start : start + n] = v
            attn = F.scaled_dot_product_attention(
                q,
                self.k[i][:, :, : start + n],
                self.v[i][:, :, : start + n],
                is_causal=n > 1,  # prefill (start is 0 then); a single new token sees everything cached
                scale=self.scaling,
                enable_gqa=self.kv_heads != self.heads,
            )
            x = x + F.linear(attn.transpose(1, 2).reshape(batch, n, -1), w["wo"], w["bo"])
            gate, up = F.linear(self._rms(x, w["ln2"]), w["wgu"]).chunk(2, dim=-1)
            x = x + F.linear(self.act(gate) * up, w["wdown"])
        self.length = start + n
        last = self._rms(x[:, -1], self.final_norm)
        return F.linear(last, self.head_w).float().cpu()

    def prefill(self, prompt: Sequence[int], batch: int) -> torch.Tensor:
        """Next-token logits (batch, vocab) after ``prompt``; starts a fresh cache for ``batch`` rows."""
        return self.prefill_rows([prompt], batch)

    @torch.inference_mode()
    def prefill_rows(self, prompts: Sequence[Sequence[int]], batch: int) -> torch.Tensor:
        """As :meth:`prefill` for several prompts of one length, each shared by ``batch`` rows:
        logits (len(prompts) * batch, vocab), prompt-major (rows of prompt 0 first)."""
        n = len(prompts[0])
        if any(len(p) != n for p in prompts):
            raise ValueError("prefill_rows needs prompts of one length")
        cap = max(self.capacity, n + 512)
        shape = (len(prompts), self.kv_heads, cap, self.head_dim)
        self.k = [self.embed.new_zeros(shape) for _ in self.layers]
        self.v = [self.embed.new_zeros(shape) for _ in self.layers]
        self.length = 0
        if cap > self.capacity:
            self._tables(cap)
        logits = self._forward(torch.tensor([list(p) for p in prompts], device=self.device))
        if batch > 1:  # each prompt is shared by its rows: compute once, copy the cache per row
            self.k = [k.repeat_interleave(batch, dim=0) for k in self.k]
            self.v = [v.repeat_interleave(batch, dim=0) for v in self.v]
        return logits.repeat_interleave(batch, dim=0)

    @torch.inference_mode()
    def step(self, toks: torch.Tensor) -> torch.Tensor:
        """Feed one token per (kept) row; next-token logits (rows, vocab)."""
        return self._forward(toks.reshape(-1, 1).to(self.device))

    def rewind(self, n: int) -> None:
        """Forget the last ``n`` tokens fed (their cache slots are overwritten by the next ones)."""
        self.length -= int(n)

    def keep(self, rows: Sequence[int]) -> None:
        """Keep only these rows (positions in the current batch)."""
        idx = torch.tensor(list(rows), device=self.device)
        self.k = [k.index_select(0, idx) for k in self.k]
        self.v = [v.index_select(0, idx) for v in self.v]


def make_decoder(model: torch.nn.Module) -> CachedDecoder | FusedLlamaDecoder:
    """The fused decoder for a plain Llama, else the transformers forward with its cache."""
    return FusedLlamaDecoder(model) if fusable(model) else CachedDecoder(model)
