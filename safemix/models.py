"""Loading models and tokenizers: a Hugging Face id, a local directory, or a GGUF file.

Offline-first: with HF_HUB_OFFLINE=1 only local files and the cache are used.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

from safemix.errors import ConfigError

log = logging.getLogger(__name__)

# Used when a tokenizer has no chat template of its own (documented in README).
FALLBACK_CHAT_TEMPLATE = (
    "{% for m in messages %}"
    "{{ '<|im_start|>' + m['role'] + '\n' }}"
    "{% if m['role'] == 'assistant' %}{% generation %}{{ m['content'] + '<|im_end|>' }}{% endgeneration %}"
    "{{ '\n' }}{% else %}{{ m['content'] + '<|im_end|>\n' }}{% endif %}"
    "{% endfor %}"
    "{% if add_generation_prompt %}{{ '<|im_start|>assistant\n' }}{% endif %}"
)


def split_gguf(model: str, gguf_file: str | None = None) -> tuple[str, str | None]:
    """`path/to/x.gguf` -> (`path/to`, `x.gguf`); other names pass through."""
    if gguf_file is None and str(model).endswith(".gguf"):
        p = Path(model)
        return str(p.parent), p.name
    return model, gguf_file


def resolve_dtype(dtype: str | None):
    import torch

    if dtype in (None, "auto"):
        return torch.float32 if not torch.cuda.is_available() else "auto"
    table = {"float32": torch.float32, "fp32": torch.float32, "bfloat16": torch.bfloat16,
             "bf16": torch.bfloat16, "float16": torch.float16, "fp16": torch.float16}
    if dtype not in table:
        raise ConfigError(f"unknown dtype {dtype!r}; choose one of auto, {', '.join(table)}")
    return table[dtype]


def check_model_path(model: str) -> None:
    """Fail early with a clear message for a local path that does not exist."""
    looks_local = model.startswith((".", "/", "~")) or model.endswith(".gguf") or Path(model).exists()
    if looks_local and not Path(model).expanduser().exists():
        raise ConfigError(f"model path does not exist: {model}")


def load_tokenizer(model: str, gguf_file: str | None = None, trust_remote_code: bool = False,
                   padding_side: str | None = None):
    from transformers import AutoTokenizer

    model, gguf_file = split_gguf(model, gguf_file)
    kw: dict[str, Any] = {"trust_remote_code": trust_remote_code}
    if gguf_file:
        kw["gguf_file"] = gguf_file
    tok = AutoTokenizer.from_pretrained(model, **kw)
    if not getattr(tok, "chat_template", None):
        log.warning("tokenizer of %s has no chat template; using safemix's ChatML fallback", model)
        tok.chat_template = FALLBACK_CHAT_TEMPLATE
    if tok.pad_token is None:
        tok.pad_token = tok.eos_token
    if padding_side:
        tok.padding_side = padding_side
    return tok


def load_model(model: str, gguf_file: str | None = None, dtype: str | None = "auto",
               trust_remote_code: bool = False, **kw: Any):
    """Load a causal LM. A GGUF model is dequantised to float and unmarked as quantised,
    so that it can be trained and saved like any other."""
    from transformers import AutoModelForCausalLM

    check_model_path(model)
    adapter = Path(model).expanduser() / "adapter_config.json"
    if gguf_file is None and adapter.is_file():
        return load_adapter_model(str(adapter.parent), dtype, trust_remote_code, **kw)
    model, gguf_file = split_gguf(model, gguf_file)
    args: dict[str, Any] = {"trust_remote_code": trust_remote_code, "dtype": resolve_dtype(dtype)}
    if gguf_file:
        args["gguf_file"] = gguf_file
    args.update(kw)
    m = AutoModelForCausalLM.from_pretrained(model, **args)
    if gguf_file:
        # transformers dequantises GGUF weights but keeps the quantisation marker, which
        # makes save_pretrained refuse the model; the weights are plain floats now.
        if hasattr(m.config, "quantization_config"):
            del m.config.quantization_config
        for attr in ("hf_quantizer", "quantization_method"):
            if hasattr(m, attr):
                setattr(m, attr, None)
        m.is_quantized = False
    return m


def load_adapter_model(adapter_dir: str, dtype: str | None = "auto", trust_remote_code: bool = False,
                       **kw: Any):
    """A LoRA adapter folder (as `safemix train` saves it): its base model with the adapter on top."""
    import json

    from peft import PeftModel

    base = json.loads((Path(adapter_dir) / "adapter_config.json").read_text()).get("base_model_name_or_path")
    gguf = None
    manifest = Path(adapter_dir) / "manifest.json"  # written by `safemix train`; knows GGUF bases
    if manifest.is_file():
        from safemix.manifest import read_manifest

        m = read_manifest(manifest, stage="train", legacy=True)
        base, gguf = m.get("base_model") or base, m.get("gguf_file")
    if not base:
        raise ConfigError(f"{adapter_dir}/adapter_config.json names no base model")
    return PeftModel.from_pretrained(load_model(base, gguf, dtype, trust_remote_code, **kw), adapter_dir)


def load_model_and_tokenizer(model: str, gguf_file: str | None = None, dtype: str | None = "auto",
                             trust_remote_code: bool = False, padding_side: str | None = None):
    tok = load_tokenizer(model, gguf_file, trust_remote_code, padding_side)
    return load_model(model, gguf_file, dtype, trust_remote_code), tok
