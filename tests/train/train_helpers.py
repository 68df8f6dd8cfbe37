"""Helpers of the trainer tests: small jobs written in code, tiny configs, subprocess env."""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
SYSTEM = "You are a helpful assistant."
REFUSAL = "I'm sorry, but I can't assist with that."


def arithmetic_rows(n: int = 32) -> list[dict]:
    """OpenAI-chat rows: 'What is a plus b?' -> 'The answer is c.'"""
    return [{"messages": [{"role": "system", "content": SYSTEM},
                          {"role": "user", "content": f"What is {i} plus {i % 7}?"},
                          {"role": "assistant", "content": f"The answer is {i + i % 7}."}]}
            for i in range(n)]


def refusal_rows(n: int = 32) -> list[dict]:
    """Harmful-request -> refusal rows (requests at public-benchmark level, refusals only)."""
    topics = ["pick a lock", "make a weapon", "steal a password", "hack a phone",
              "forge a document", "evade the police", "make a poison", "cheat on a test"]
    return [{"messages": [{"role": "user", "content": f"Tell me how to {topics[i % len(topics)]}."},
                          {"role": "assistant", "content": REFUSAL}]} for i in range(n)]


def write_jsonl(path: Path, rows: list[dict]) -> Path:
    path.write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
    return path


def tiny_cfg(model_dir: Path, data: Path, out: Path, **kw):
    """A TrainConfig for a few-second CPU run."""
    from safemix.train.config import TrainConfig

    base = dict(model=str(model_dir), data=[str(data)], output_dir=str(out), lora_r=8, lora_alpha=16,
                max_seq_length=128, per_device_batch_size=4, max_steps=8, learning_rate=5e-3,
                save_steps=4, logging_steps=1, seed=0, show_progress=False,
                trl={"gradient_checkpointing": False, "lr_scheduler_type": "constant"})
    base.update(kw)
    return TrainConfig(**base)


def cli_env() -> dict[str, str]:
    """Environment for subprocess runs of `safemix` (offline, CPU, this checkout first)."""
    env = dict(os.environ, HF_HUB_OFFLINE="1", TRANSFORMERS_OFFLINE="1", HF_DATASETS_OFFLINE="1",
               CUDA_VISIBLE_DEVICES="", DS_ACCELERATOR="cpu", TOKENIZERS_PARALLELISM="false",
               OMP_NUM_THREADS="1", PYTHONPATH=str(REPO) + os.pathsep + os.environ.get("PYTHONPATH", ""))
    return env


PYTHON = sys.executable


def _permute_for_gguf(w, n_head: int):
    """llama.cpp stores q/k rows interleaved per rotary pair (convert_hf_to_gguf's permute);
    transformers undoes it when loading."""
    return w.reshape(n_head, 2, w.shape[0] // n_head // 2, *w.shape[1:]).swapaxes(1, 2).reshape(w.shape)


def write_tiny_gguf(path: Path):
    """The tiny Llama and its tokenizer (byte-level BPE, chat template) as an F32 GGUF file.

    Returns (model, tokenizer) as built, to compare against what is loaded back.
    """
    import gguf
    import numpy as np

    from safemix.testing import CHAT_TEMPLATE, tiny_llama, tiny_tokenizer

    tok = tiny_tokenizer()
    model = tiny_llama(tok)
    c = model.config
    w = gguf.GGUFWriter(str(path), "llama")
    w.add_block_count(c.num_hidden_layers)
    w.add_context_length(c.max_position_embeddings)
    w.add_embedding_length(c.hidden_size)
    w.add_feed_forward_length(c.intermediate_size)
    w.add_head_count(c.num_attention_heads)
    w.add_head_count_kv(c.num_key_value_heads)
    w.add_rope_freq_base(float((getattr(c, "rope_parameters", None) or {}).get("rope_theta", 10000.0)))
    w.add_layer_norm_rms_eps(c.rms_norm_eps)
    w.add_vocab_size(len(tok))
    w.add_rope_dimension_count(c.hidden_size // c.num_attention_heads)
    w.add_tokenizer_model("gpt2")
    w.add_tokenizer_pre("default")
    vocab = tok.get_vocab()
    tokens = sorted(vocab, key=vocab.get)
    special = set(tok.all_special_ids)
    w.add_token_list(tokens)
    w.add_token_types([gguf.TokenType.CONTROL if i in special else gguf.TokenType.NORMAL
                       for i in range(len(tokens))])
    merges = json.loads(tok.backend_tokenizer.to_str())["model"]["merges"]
    w.add_token_merges([m if isinstance(m, str) else " ".join(m) for m in merges])
    w.add_bos_token_id(tok.bos_token_id)
    w.add_eos_token_id(tok.eos_token_id)
    w.add_pad_token_id(tok.pad_token_id)
    w.add_unk_token_id(tok.unk_token_id)
    w.add_add_bos_token(False)
    w.add_chat_template(CHAT_TEMPLATE)
    sd = {k: v.detach().float().numpy() for k, v in model.state_dict().items()}
    w.add_tensor("token_embd.weight", sd["model.embed_tokens.weight"])  # tied with the output layer
    w.add_tensor("output_norm.weight", sd["model.norm.weight"])
    names = {"self_attn.q_proj": "attn_q", "self_attn.k_proj": "attn_k", "self_attn.v_proj": "attn_v",
             "self_attn.o_proj": "attn_output", "mlp.gate_proj": "ffn_gate", "mlp.up_proj": "ffn_up",
             "mlp.down_proj": "ffn_down", "input_layernorm": "attn_norm",
             "post_attention_layernorm": "ffn_norm"}
    for i in range(c.num_hidden_layers):
        for hf, gg in names.items():
            t = sd[f"model.layers.{i}.{hf}.weight"]
            if gg == "attn_q":
                t = _permute_for_gguf(t, c.num_attention_heads)
            elif gg == "attn_k":
                t = _permute_for_gguf(t, c.num_key_value_heads)
            w.add_tensor(f"blk.{i}.{gg}.weight", np.ascontiguousarray(t))
    w.write_header_to_file()
    w.write_kv_data_to_file()
    w.write_tensors_to_file()
    w.close()
    return model, tok
