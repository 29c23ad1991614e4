"""The remote request backend: any OpenAI-compatible endpoint (local vLLM / transformers: lemma.teacher.local).

The original imported vLLM even for API-only stages, made no client at all unless the model name contained "gpt-",
and kept the API key in a fixed dotfile (METHOD.md §10, defects 6, 10, 14). Here the backend is chosen by
`teacher.backend`, heavy libraries are imported only by the backend that needs them, any model name works with any
OpenAI-compatible `teacher.base_url`, and the key is read from the environment variable *named* by
`teacher.api_key_env` at request time, through the SDK's key-provider hook: it is never stored in the config, a
repr, a log line, an error message or the request cache.

Remote backends raise `TransientError` (retried by the limiter), `PermanentError` (the item fails) or
`TeacherStopped` (the stage stops: bad credentials, unknown model or URL). The SDK's own retries are switched off so
that one policy, with Retry-After and a circuit breaker, governs every attempt.
"""

from __future__ import annotations

import os
from typing import Any

from lemma.teacher.base import Messages, Reply, Sampling
from lemma.teacher.limiter import PermanentError, TeacherStopped, TransientError, parse_retry_after

class OpenAIBackend:
    """Chat completions through the official `openai` AsyncOpenAI client; one client per event loop (batch)."""

    name = "openai"
    remote = True

    def __init__(self, model: str, base_url: str | None, api_key_env: str, timeout_s: float) -> None:
        self.model = model
        self.base_url = base_url
        self.api_key_env = api_key_env
        self.timeout_s = timeout_s
        self._client: Any = None

    def __repr__(self) -> str:
        return f"OpenAIBackend(model={self.model!r}, base_url={self.base_url!r}, api_key_env={self.api_key_env!r})"

    @property
    def endpoint(self) -> str:
        return self.base_url or "https://api.openai.com/v1"

    async def _api_key(self) -> str:
        key = os.environ.get(self.api_key_env)
        if not key:
            raise TeacherStopped(f"teacher.api_key_env: the environment variable {self.api_key_env} is not set or "
                                 f"empty; export it with the key for {self.endpoint} (a local server without "
                                 "authentication accepts any non-empty value)")
        return key

    async def __aenter__(self) -> OpenAIBackend:
        from openai import AsyncOpenAI

        self._client = AsyncOpenAI(api_key=self._api_key, base_url=self.base_url, timeout=self.timeout_s,
                                   max_retries=0)
        return self

    async def __aexit__(self, *exc: object) -> None:
        client, self._client = self._client, None
        if client is not None:
            await client.close()

    async def send(self, messages: Messages, sampling: Sampling) -> Reply:
        import openai

        extra = {"seed": sampling.seed} if sampling.seed is not None else {}
        try:
            response = await self._client.chat.completions.create(
                model=self.model, messages=messages, temperature=sampling.temperature, top_p=sampling.top_p,
                max_tokens=sampling.max_tokens, **extra)
        except openai.APIStatusError as exc:
            raise self._status_error(exc) from None
        except openai.APITimeoutError:
            raise TransientError("timeout", f"no reply within teacher.request_timeout_s={self.timeout_s}s") from None
        except openai.APIConnectionError as exc:
            raise TransientError("connection", type(exc.__cause__ or exc).__name__) from None
        return _reply_of(response)

    def _status_error(self, exc: Any) -> Exception:
        status = exc.status_code
        headers = dict(exc.response.headers) if exc.response is not None else {}
        if status == 429:
            return TransientError("rate_limited", "HTTP 429", parse_retry_after(headers))
        if status >= 500 or status in (408, 409):
            return TransientError("server_error", f"HTTP {status}", parse_retry_after(headers))
        if status in (401, 403):
            return TeacherStopped(f"{self.endpoint} rejected the credentials (HTTP {status}); check that the "
                                  f"environment variable {self.api_key_env} (teacher.api_key_env) holds a valid key")
        if status == 404:
            return TeacherStopped(f"{self.endpoint} answered HTTP 404 for model {self.model!r}; check teacher.model "
                                  "and teacher.base_url (it usually ends in /v1)")
        return PermanentError(f"http_{status}", f"HTTP {status}")


def _reply_of(response: Any) -> Reply:
    choice = response.choices[0] if response.choices else None
    text = (choice.message.content or "") if choice is not None else ""
    usage = getattr(response, "usage", None)
    return Reply(text=text, finish_reason=(choice.finish_reason if choice is not None else None) or "stop",
                 input_tokens=int(getattr(usage, "prompt_tokens", 0) or 0),
                 output_tokens=int(getattr(usage, "completion_tokens", 0) or 0))
