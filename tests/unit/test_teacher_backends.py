"""Local teacher backends: vLLM is imported lazily with the configured tensor parallelism; transformers generates."""

from __future__ import annotations

import subprocess
import sys
import types
from pathlib import Path

import pytest

from lemma.teacher.base import Sampling
from lemma.teacher.local import HFBackend, VLLMBackend

MESSAGES = [{"role": "user", "content": "two plus two"}]


def test_api_only_runs_never_import_vllm_or_torch():
    code = ("import sys; from lemma.teacher.llm import LLMTeacher; from lemma.teacher import backends; "
            "print('vllm' in sys.modules, 'openai' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.split() == ["False", "False"]


def test_vllm_backend_builds_lazily_with_tensor_parallelism(monkeypatch):
    built: dict = {}

    class FakeLLM:
        def __init__(self, **kw):
            built.update(kw)

        def chat(self, prompts, params, use_tqdm=False):
            assert len(prompts) == len(params) and params[0].kw["seed"] == 5
            return [types.SimpleNamespace(prompt_token_ids=[1, 2, 3], outputs=[types.SimpleNamespace(
                text=f"reply {i}", finish_reason="length" if i else "stop", token_ids=[7] * (i + 1))])
                for i in range(len(prompts))]

    class FakeParams:
        def __init__(self, **kw):
            self.kw = kw

    monkeypatch.setitem(sys.modules, "vllm", types.SimpleNamespace(LLM=FakeLLM, SamplingParams=FakeParams))
    backend = VLLMBackend("nvidia/Llama-3.1-Nemotron-70B-Instruct-HF", tensor_parallel_size=8)
    assert built == {}  # nothing loaded at construction
    replies = backend.generate([MESSAGES, MESSAGES], [Sampling(0.7, 1.0, 64, 5), Sampling(0.7, 1.0, 64, 6)])
    assert built["tensor_parallel_size"] == 8 and built["model"].startswith("nvidia/")
    assert [(r.text, r.finish_reason, r.input_tokens, r.output_tokens) for r in replies] == [
        ("reply 0", "stop", 3, 1), ("reply 1", "length", 3, 2)]


def test_one_table_builds_every_backend_and_teacher_without_loading_anything():
    from lemma.config import TeacherBackend
    from lemma.teacher import TEACHERS
    from lemma.teacher.backends import BACKENDS, make_backend
    from lemma.teacher.base import LocalBackend, RemoteBackend
    from lemma.teacher.clients import OpenAIBackend

    assert set(TEACHERS) == {b.value for b in TeacherBackend}  # every choice of the schema has a builder
    assert set(BACKENDS) == set(TEACHERS) - {"symbolic"}
    cfg = types.SimpleNamespace(model="m", base_url=None, api_key_env="KEY", request_timeout_s=5.0,
                                tensor_parallel_size=2, gpu_memory_utilization=0.5, backend="")
    built = {name: make_backend(types.SimpleNamespace(**{**vars(cfg), "backend": name})) for name in BACKENDS}
    assert [type(b) for b in built.values()] == [OpenAIBackend, VLLMBackend, HFBackend]
    assert isinstance(built["openai"], RemoteBackend)
    assert isinstance(built["vllm"], LocalBackend) and isinstance(built["hf"], LocalBackend)
    assert built["vllm"].tensor_parallel_size == 2 and not built["vllm"].loaded
    with pytest.raises(ValueError, match="not an LLM backend"):
        make_backend(types.SimpleNamespace(backend="symbolic"))


def test_vllm_missing_says_how_to_install(monkeypatch):
    monkeypatch.setitem(sys.modules, "vllm", None)
    with pytest.raises(ImportError, match=r"lemma\[gpu\].*teacher=openai"):
        VLLMBackend("m").generate([MESSAGES], [Sampling(0.7, 1.0, 8, 0)])


@pytest.fixture(scope="module")
def tiny_chat_model(tmp_path_factory) -> Path:
    """A random 1-layer Llama with a word-level tokenizer and a chat template, saved like a hub checkpoint."""
    from tokenizers import Tokenizer, models, pre_tokenizers
    from transformers import LlamaConfig, LlamaForCausalLM, PreTrainedTokenizerFast

    words = ["<pad>", "<s>", "</s>", "<unk>", "user", "assistant", ":", "two", "plus", "four", "the", "answer", "is"]
    raw = Tokenizer(models.WordLevel({w: i for i, w in enumerate(words)}, unk_token="<unk>"))
    raw.pre_tokenizer = pre_tokenizers.WhitespaceSplit()
    tok = PreTrainedTokenizerFast(tokenizer_object=raw, bos_token="<s>", eos_token="</s>", pad_token="<pad>",
                                  unk_token="<unk>")
    tok.chat_template = ("{% for m in messages %}{{ m['role'] }} : {{ m['content'] }} {% endfor %}"
                         "{% if add_generation_prompt %}assistant : {% endif %}")
    model = LlamaForCausalLM(LlamaConfig(vocab_size=len(words), hidden_size=16, intermediate_size=32,
                                         num_hidden_layers=1, num_attention_heads=2, num_key_value_heads=2,
                                         max_position_embeddings=64, pad_token_id=0, bos_token_id=1, eos_token_id=2))
    path = tmp_path_factory.mktemp("tiny_chat")
    model.save_pretrained(path)
    tok.save_pretrained(path)
    return path


@pytest.mark.slow
def test_hf_backend_generates_with_a_seed(tiny_chat_model):
    backend = HFBackend(str(tiny_chat_model), device="cpu")
    a = backend.generate([MESSAGES], [Sampling(1.0, 1.0, 6, 3)])[0]
    b = backend.generate([MESSAGES], [Sampling(1.0, 1.0, 6, 3)])[0]
    assert a == b and a.input_tokens == 7 and 1 <= a.output_tokens <= 6  # "user : two plus two assistant :"
    greedy = backend.generate([MESSAGES], [Sampling(0.0, 1.0, 4, None)])[0]
    assert greedy.output_tokens <= 4 and isinstance(greedy.text, str)


def test_hf_teacher_and_student_share_one_model_that_the_run_releases(tiny_chat_model, make_cfg, tmp_path,
                                                                       monkeypatch):
    """One loading stack: the teacher's backend loads through lemma.generation into the run's engines, so a teacher
    and a student naming the same model load it once; release_for and Services.close shut it down."""
    from lemma import generation
    from lemma.engines import Engines
    from lemma.generation import SamplingSpec
    from lemma.pipeline import Services

    loads, shutdowns = [], []
    real = generation._load_hf
    monkeypatch.setattr(generation, "_load_hf", lambda *a: loads.append(a) or real(*a))
    path = str(tiny_chat_model)
    services = Services(make_cfg("teacher=hf", f"teacher.model={path}"), tmp_path / "cache",
                        engines=Engines(shutdown=shutdowns.append))
    backend = services.teacher.engine.backend
    assert isinstance(backend, HFBackend) and backend.engines is services.engines and not backend.loaded

    def both() -> None:
        reply = backend.generate([MESSAGES], [Sampling(1.0, 1.0, 3, 7)])[0]
        assert reply.input_tokens == 7 and 1 <= reply.output_tokens <= 3  # the chat template, on the shared model
        gens = generation.generate(path, ["user : two plus two"], SamplingSpec(max_new_tokens=2), device="cpu",
                                   engines=services.engines)
        assert len(gens) == 1 and backend.loaded

    both()
    assert len(loads) == 1 and len(services.engines) == 1  # shared, not loaded twice
    assert services.release_for("locate", ("teacher",)) == [] and backend.loaded  # teacher stages keep it
    assert services.release_for("train.lemma", ("trainer",)) == [f"teacher model {path}"]
    assert len(shutdowns) == 1 and not backend.loaded and len(services.engines) == 0
    both()
    services.close()  # the end of the run
    assert len(loads) == 2 and len(shutdowns) == 2 and len(services.engines) == 0 and not backend.loaded


def test_engines_keep_what_a_stage_uses_and_forget_the_other_users():
    from lemma.engines import Engines

    shut: list[str] = []
    engines = Engines(shutdown=shut.append)
    engines.get(("hf", "m"), lambda: "m-engine", user="student")
    assert engines.get(("hf", "m"), lambda: pytest.fail("loaded twice"), user="teacher") == "m-engine"
    assert engines.release(keep=("student", "trainer")) == [] and not engines.holds("teacher")
    engines.get(("hf", "m"), lambda: pytest.fail("loaded twice"), user="teacher")
    assert engines.drop("student") == [] and engines.holds("teacher") and not engines.holds("student")
    assert engines.get(("vllm", "big"), lambda: "big-engine", user="teacher") == "big-engine"  # one model at a time
    assert shut == ["m-engine"] and engines.drop("teacher") == ["teacher model big"] and len(engines) == 0
