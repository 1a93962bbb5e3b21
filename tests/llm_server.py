"""A real OpenAI-compatible HTTP server on 127.0.0.1 with scripted answers, for tests driven by the real `openai`
client through our code. Non-streaming JSON and streaming SSE; status codes, headers and delays are scripted; every
request is recorded so tests can assert on prompts."""

from __future__ import annotations

import contextlib
import json
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any


@dataclass
class Reply:
    content: str = ""
    status: int = 200
    delay_s: float = 0.0
    headers: dict[str, str] = field(default_factory=dict)
    error: str = "scripted error"
    usage: tuple[int, int] = (11, 7)
    #: Answer 400 when the request asks for any response_format (endpoints that support none).
    no_response_format: bool = False
    #: A streamed answer that ends with no event at all, as llama.cpp's server ends one whose prompt exceeds its
    #: context window (after answering 200).
    empty_stream: bool = False


def dialect_of(body: dict[str, Any]) -> str:
    """The dialects.py name of the request's structured-output form."""
    fmt = body.get("response_format")
    if not fmt:
        return "text"
    if fmt.get("type") == "json_object":
        return "json_object_schema" if "schema" in fmt else "json_object"
    return str(fmt.get("type"))


class ScriptedLlmServer:
    """Use as a context manager: `with ScriptedLlmServer([Reply(...), ...]) as server: server.base_url`."""

    def __init__(self, replies: list[Reply] | None = None, refuse: tuple[str, ...] = (),
                 props: dict[str, Any] | None = None,
                 route: Callable[[dict[str, Any]], Reply | None] | None = None) -> None:
        """`refuse`: structured-output forms (dialect names) answered like llama.cpp's server answers json_schema,
        HTTP 500 naming the field; the scripted reply stays queued for the next request. `props`: what GET /props
        answers, as llama.cpp's own server does (404 without it). `route`: answers a request from its body
        (e.g. by what its prompt asks for) before the queue is used; None leaves it to the queue."""
        self.replies: list[Reply] = list(replies or [])
        self.refuse = refuse
        self.props = props
        self.route = route
        self.gets: list[str] = []
        self.requests: list[dict[str, Any]] = []
        self.headers: list[dict[str, str]] = []
        self._lock = threading.Lock()
        server = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args: object) -> None:
                pass

            def do_GET(self) -> None:  # noqa: N802 - http.server's naming
                with server._lock:
                    server.gets.append(self.path)
                if self.path == "/props" and server.props is not None:
                    self._json(200, server.props, {})
                else:
                    self._json(404, {"error": {"message": f"no {self.path}", "type": "not_found"}}, {})

            def do_POST(self) -> None:  # noqa: N802 - http.server's naming
                length = int(self.headers.get("content-length") or 0)
                body = json.loads(self.rfile.read(length) or b"{}")
                with server._lock:
                    server.requests.append(body)
                    server.headers.append(dict(self.headers))
                    if dialect_of(body) in server.refuse:
                        self._json(500, {"error": {"message": "1 validation error: ('body', 'response_format', 'type'): "
                                                   "Input should be 'text' or 'json_object'", "type": "internal_server_error"}}, {})
                        return
                    routed = server.route(body) if server.route is not None else None
                    reply = routed or (server.replies.pop(0) if server.replies else
                                       Reply(status=500, error="no scripted reply left"))
                if reply.delay_s:
                    time.sleep(reply.delay_s)
                if reply.no_response_format and body.get("response_format"):
                    with server._lock:
                        server.replies.insert(0, reply)  # answered on the retry without response_format
                    reply = Reply(status=400, error="response_format json_schema is not supported by this server")
                if reply.status != 200:
                    self._json(reply.status, {"error": {"message": reply.error, "type": "scripted", "code": reply.status}},
                               reply.headers)
                elif body.get("stream"):
                    # the client may hang up mid-stream (a cancel): what a real server sees too
                    with contextlib.suppress(BrokenPipeError, ConnectionResetError):
                        self._sse(body, reply)
                else:
                    self._json(200, {
                        "id": "chatcmpl-1", "object": "chat.completion", "created": 0, "model": body.get("model", "m"),
                        "choices": [{"index": 0, "finish_reason": "stop",
                                     "message": {"role": "assistant", "content": reply.content}}],
                        "usage": {"prompt_tokens": reply.usage[0], "completion_tokens": reply.usage[1],
                                  "total_tokens": sum(reply.usage)},
                    }, reply.headers)

            def _json(self, status: int, payload: dict[str, Any], headers: dict[str, str]) -> None:
                data = json.dumps(payload).encode()
                self.send_response(status)
                self.send_header("content-type", "application/json")
                self.send_header("content-length", str(len(data)))
                for k, v in headers.items():
                    self.send_header(k, v)
                self.end_headers()
                self.wfile.write(data)

            def _sse(self, body: dict[str, Any], reply: Reply) -> None:
                self.send_response(200)
                self.send_header("content-type", "text/event-stream")
                self.send_header("transfer-encoding", "chunked")
                self.end_headers()

                def send(obj: Any) -> None:
                    line = f"data: {obj if isinstance(obj, str) else json.dumps(obj)}\n\n".encode()
                    self.wfile.write(f"{len(line):x}\r\n".encode() + line + b"\r\n")
                    self.wfile.flush()

                if reply.empty_stream:
                    self.wfile.write(b"0\r\n\r\n")
                    return
                base = {"id": "chatcmpl-1", "object": "chat.completion.chunk", "created": 0, "model": body.get("model", "m")}
                text = reply.content
                for i in range(0, len(text), 12):
                    send({**base, "choices": [{"index": 0, "delta": {"content": text[i:i + 12]}, "finish_reason": None}]})
                send({**base, "choices": [{"index": 0, "delta": {}, "finish_reason": "stop"}]})
                send({**base, "choices": [], "usage": {"prompt_tokens": reply.usage[0],
                                                        "completion_tokens": reply.usage[1], "total_tokens": sum(reply.usage)}})
                send("[DONE]")
                self.wfile.write(b"0\r\n\r\n")

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._server.daemon_threads = True
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self._server.server_address[1]}/v1"

    def __enter__(self) -> ScriptedLlmServer:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._server.shutdown()
        self._server.server_close()

    def user_prompt(self, index: int) -> str:
        return "\n".join(m["content"] for m in self.requests[index]["messages"] if m["role"] != "system")
