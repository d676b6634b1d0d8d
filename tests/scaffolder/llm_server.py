"""Loopback HTTP servers on 127.0.0.1 that the real `openai` client and databricks-sdk talk to.

`LoopbackEndpoint` records every request (method, path, headers, JSON body) and answers it from a
route function; `ScriptedLLM` is the OpenAI-compatible chat-completions server built on it that
replies from a script, per table and per attempt. Retries, timeouts and dropped connections are
the SDK's own behaviour, not a mock's; what the server recorded is what the client sent.
"""

from __future__ import annotations

import json
import re
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

TABLE_IN_PROMPT = re.compile(r"^name: (\w+)$", re.M)


@dataclass(frozen=True)
class Seen:
    method: str
    path: str
    headers: dict[str, str]
    body: Any


@dataclass
class Reply:
    status: int = 200
    body: Any = None
    headers: dict[str, str] = field(default_factory=dict)
    delay: float = 0.0  # seconds before answering (a slow model, a client timeout)
    drop: bool = False  # close the connection without an answer


Route = Callable[[Seen], Reply]


def chat_completion(content: str | None, model: str = "loopback", finish_reason: str = "stop", prompt: int = 1) -> dict:
    """A chat-completions response body."""
    return {
        "id": "chatcmpl-loopback",
        "object": "chat.completion",
        "created": int(time.time()),
        "model": model,
        "choices": [{"index": 0, "message": {"role": "assistant", "content": content}, "finish_reason": finish_reason}],
        "usage": {"prompt_tokens": prompt, "completion_tokens": len(content or "") // 4, "total_tokens": 0},
    }


class LoopbackEndpoint:
    def __init__(self, route: Route) -> None:
        self.route = route
        self.seen: list[Seen] = []
        self._lock = threading.Lock()
        endpoint = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args: Any) -> None:
                pass

            def _answer(self) -> None:
                length = int(self.headers.get("Content-Length", 0))
                raw = self.rfile.read(length) if length else b""
                try:
                    body: Any = json.loads(raw) if raw else None
                except ValueError:
                    body = raw.decode(errors="replace")
                seen = Seen(self.command, self.path, {k.lower(): v for k, v in self.headers.items()}, body)
                with endpoint._lock:
                    endpoint.seen.append(seen)
                reply = endpoint.route(seen)
                if reply.delay:
                    time.sleep(reply.delay)
                if reply.drop:
                    self.close_connection = True
                    self.connection.shutdown(2)
                    return
                data = json.dumps(reply.body if reply.body is not None else {}).encode()
                try:
                    self.send_response(reply.status)
                    self.send_header("Content-Type", "application/json")
                    self.send_header("Content-Length", str(len(data)))
                    for name, value in reply.headers.items():
                        self.send_header(name, value)
                    self.end_headers()
                    self.wfile.write(data)
                except (BrokenPipeError, ConnectionResetError):
                    pass  # the client gave up (its timeout): nothing to answer

            do_GET = do_POST = _answer

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.httpd.daemon_threads = True
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.httpd.server_address[1]}"

    def __enter__(self) -> LoopbackEndpoint:
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()

    def to(self, path: str) -> list[Seen]:
        """The requests whose path starts with `path`."""
        return [s for s in self.seen if s.path.startswith(path)]


@dataclass
class Action:
    """What the scripted model does with one request."""

    content: str | None = ""
    status: int = 200
    finish_reason: str = "stop"
    delay: float = 0.0
    drop: bool = False


Responder = Callable[[dict[str, Any]], Action]


def table_of(request: dict[str, Any]) -> str:
    """The table a prompt is about (the tables.yml entry quoted in the first user message)."""
    match = TABLE_IN_PROMPT.search(request["messages"][1]["content"])
    return match.group(1) if match else ""


class ScriptedLLM(LoopbackEndpoint):
    """An OpenAI-compatible chat-completions server that answers each request from a script."""

    def __init__(self, responder: Responder) -> None:
        def route(seen: Seen) -> Reply:
            request = seen.body
            action = responder(request)
            if action.status != 200:
                body = {"error": {"message": f"scripted {action.status}", "type": "scripted"}}
            else:
                prompt = sum(len(m["content"]) for m in request["messages"]) // 4
                body = chat_completion(action.content, request.get("model", "scripted"), action.finish_reason, prompt)
            return Reply(action.status, body, delay=action.delay, drop=action.drop)

        super().__init__(route)

    @property
    def requests(self) -> list[dict[str, Any]]:
        """The JSON bodies of the chat requests, in arrival order."""
        return [s.body for s in self.seen]

    @property
    def base_url(self) -> str:
        return f"{self.url}/v1"

    def __enter__(self) -> ScriptedLLM:
        super().__enter__()
        return self

    def count(self, table: str) -> int:
        return sum(1 for r in self.requests if table_of(r) == table)
