"""LLM endpoint settings from the environment, with the reference design's variable names."""

from __future__ import annotations

from collections.abc import Mapping
from urllib.parse import urlparse

from pydantic import SecretStr

from ..config import LlmSettings
from ..errors import UserError

NVIDIA_BASE_URL = "https://integrate.api.nvidia.com/v1"
NVIDIA_DEFAULT_MODEL = "deepseek-ai/deepseek-v4-flash"
OPENAI_DEFAULT_MODEL = "gpt-4o-mini"


def _check_url(url: str) -> str:
    parsed = urlparse(url)
    if parsed.scheme not in ("http", "https") or not parsed.netloc:
        raise UserError(f"the LLM base URL {url!r} is not an http(s) URL",
                        "set --base-url / PAPER2RUN_BASE_URL like https://integrate.api.nvidia.com/v1")
    return url.rstrip("/")


def llm_settings_from_env(
    env: Mapping[str, str], *, model: str | None = None, base_url: str | None = None, api_key: str | None = None
) -> LlmSettings:
    """Flags beat the environment. NVIDIA_API_KEY alone means NVIDIA's endpoint and default model; OPENAI_API_KEY
    alone means OpenAI's; a base URL alone means a local server that needs no key (vLLM, Ollama)."""
    key = api_key or env.get("PAPER2RUN_API_KEY") or env.get("NVIDIA_API_KEY") or env.get("OPENAI_API_KEY")
    url = base_url or env.get("PAPER2RUN_BASE_URL") or env.get("OPENAI_BASE_URL")
    chosen_model = model or env.get("PAPER2RUN_MODEL")
    if key and not url:
        url = NVIDIA_BASE_URL if env.get("NVIDIA_API_KEY") == key else None
    if url:
        url = _check_url(url)
    if (key or url) and not chosen_model:
        chosen_model = NVIDIA_DEFAULT_MODEL if (url == NVIDIA_BASE_URL) else (
            OPENAI_DEFAULT_MODEL if url is None else None)
        if chosen_model is None:
            raise UserError(f"no model is set for the endpoint {url}", "set --model or PAPER2RUN_MODEL")
    timeout = env.get("PAPER2RUN_LLM_TIMEOUT")
    try:
        timeout_s = float(timeout) if timeout else 120.0
    except ValueError:
        raise UserError(f"PAPER2RUN_LLM_TIMEOUT={timeout!r} is not a number of seconds") from None
    context = env.get("PAPER2RUN_LLM_CONTEXT")
    try:
        context_tokens = int(context) if context else None
    except ValueError:
        raise UserError(f"PAPER2RUN_LLM_CONTEXT={context!r} is not a number of tokens") from None
    return LlmSettings(api_key=SecretStr(key) if key else None, base_url=url, model=chosen_model, timeout_s=timeout_s,
                       context_tokens=context_tokens)
