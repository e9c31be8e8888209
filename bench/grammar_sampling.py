"""Per-token cost of sampling under a grammar on the embedded model (49k vocabulary), three ways:
no grammar; the grammar first in the sampler chain (it runs over every candidate); and what
the engine does (`GrammarSampler`: sample, check that one token, resample only if refused).

    python bench/grammar_sampling.py            # prints JSON; one thread, 120 tokens per run
"""

from __future__ import annotations

import json
import time
from pathlib import Path

import llama_cpp

from antiphon.chat.constraints import answer_grammar
from antiphon.chat.tool_calls.generic import GenericToolFormat
from antiphon.chat.tool_specs import ToolPolicy, read_tools
from antiphon.engine.base import Grammar, SamplingParams
from antiphon.engine.grammar_sampling import GrammarSampler
from antiphon.engine.llamacpp_model import LlamaModel
from antiphon.engine.model_source import resolve_sources
from antiphon.engine.sampling import build_sampler_chain, grammar_sampler
from antiphon.protocol.messages import Tool

FIXTURE = Path(__file__).parents[1] / "tests" / "fixtures" / "claude_code" / "minimal_turn.json"

PROMPT = "<|im_start|>user\nRead the file notes.txt<|im_end|>\n<|im_start|>assistant\n"


def context_for(model: LlamaModel) -> llama_cpp.llama_context_p:
    params = llama_cpp.llama_context_default_params()
    params.n_ctx, params.n_batch, params.n_threads, params.n_threads_batch = 1024, 512, 1, 1
    return llama_cpp.llama_init_from_model(model.handle, params)


def decode(context: llama_cpp.llama_context_p, tokens: list[int]) -> None:
    array = (llama_cpp.llama_token * len(tokens))(*tokens)  # kept alive through the decode
    batch = llama_cpp.llama_batch_get_one(array, len(tokens))
    assert llama_cpp.llama_decode(context, batch) == 0


def run(model: LlamaModel, grammar: Grammar | None, mode: str, seed: int) -> tuple[float, int]:
    context = context_for(model)
    prompt = model.tokenize(PROMPT, True, True)
    decode(context, prompt)
    chain = build_sampler_chain(SamplingParams(seed=seed))
    if mode == "chain":
        chained = llama_cpp.llama_sampler_chain_init(llama_cpp.llama_sampler_chain_default_params())
        llama_cpp.llama_sampler_chain_add(chained, grammar_sampler(model.vocab, grammar))
        llama_cpp.llama_sampler_chain_add(chained, chain)
        chain = chained
    checker = GrammarSampler(model.vocab, grammar, model.n_vocab) if mode == "check" else None
    spent, count = 0.0, 0
    for _ in range(120):
        started = time.perf_counter()
        if checker is not None:
            token = checker.sample(chain, context, -1)
        else:
            token = int(llama_cpp.llama_sampler_sample(chain, context, -1))
        spent += time.perf_counter() - started
        count += 1
        if model.is_end_of_generation(token):
            break
        decode(context, [token])
    llama_cpp.llama_sampler_free(chain)
    llama_cpp.llama_free(context)
    return spent, count


def main() -> None:
    model, _ = LlamaModel.load(resolve_sources(())[0])
    read_tool = json.loads(FIXTURE.read_text())["body"]["tools"][0]  # Claude Code's Read
    tools = read_tools([Tool.model_validate(read_tool)])
    grammar = answer_grammar(GenericToolFormat(), tools, ToolPolicy("any", False), None)
    results = {}
    for mode in ("none", "chain", "check"):
        spent = tokens = 0.0
        for seed in range(5):
            seconds, count = run(model, grammar, mode, seed)
            spent, tokens = spent + seconds, tokens + count
        results[mode] = {"ms_per_token": round(1000 * spent / tokens, 2), "tokens": int(tokens)}
    print(json.dumps(results, indent=2))


if __name__ == "__main__":
    main()
