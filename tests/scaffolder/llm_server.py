"""An OpenAI-compatible chat-completions server on 127.0.0.1 that replies from a script.

The real `openai` client talks HTTP to it, so retries, timeouts and dropped connections are the
SDK's own behaviour, not a mock's. A responder maps each request to an Action; requests are kept
for assertions (what the model was asked, how often).
"""

from __future__ import annotations

import json
import re
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

TABLE_IN_PROMPT = re.compile(r"^name: (\w+)$", re.M)


@dataclass
class Action:
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


class ScriptedLLM:
    def __init__(self, responder: Responder) -> None:
        self.responder = responder
        self.requests: list[dict[str, Any]] = []
        self._lock = threading.Lock()
        server = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args: Any) -> None:
                pass

            def do_POST(self) -> None:
                length = int(self.headers.get("Content-Length", 0))
                request = json.loads(self.rfile.read(length) or b"{}")
                with server._lock:
                    server.requests.append(request)
                action = server.responder(request)
                if action.delay:
                    time.sleep(action.delay)
                if action.drop:
                    self.close_connection = True
                    self.connection.shutdown(2)
                    return
                if action.status != 200:
                    body = json.dumps({"error": {"message": f"scripted {action.status}", "type": "scripted"}})
                else:
                    body = json.dumps(
                        {
                            "id": "chatcmpl-scripted",
                            "object": "chat.completion",
                            "created": int(time.time()),
                            "model": request.get("model", "scripted"),
                            "choices": [
                                {
                                    "index": 0,
                                    "message": {"role": "assistant", "content": action.content},
                                    "finish_reason": action.finish_reason,
                                }
                            ],
                            "usage": {
                                "prompt_tokens": sum(len(m["content"]) for m in request["messages"]) // 4,
                                "completion_tokens": len(action.content or "") // 4,
                                "total_tokens": 0,
                            },
                        }
                    )
                data = body.encode()
                try:
                    self.send_response(action.status)
                    self.send_header("Content-Type", "application/json")
                    self.send_header("Content-Length", str(len(data)))
                    self.end_headers()
                    self.wfile.write(data)
                except (BrokenPipeError, ConnectionResetError):
                    pass  # the client gave up (its timeout): nothing to answer

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.httpd.daemon_threads = True
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.httpd.server_address[1]}/v1"

    def __enter__(self) -> ScriptedLLM:
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()

    def count(self, table: str) -> int:
        return sum(1 for r in self.requests if table_of(r) == table)
