"""A real OpenAI-compatible HTTP server on 127.0.0.1 for tests (no network).

`FakeLLMServer(responder)` serves POST /v1/chat/completions in a background thread. The
responder gets (user prompt text, how many times this exact prompt was seen before) and returns
a `Reply`: a message text, an HTTP status with a raw body, and/or a delay (to force client
timeouts). Every request is recorded (prompt, headers) so tests can count what reached the server.
"""
from __future__ import annotations

import json
import threading
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


@dataclass
class Reply:
    content: str | None = None  # assistant message text (status 200)
    status: int = 200
    body: str | None = None  # raw body instead of a completion (errors, broken JSON)
    delay: float = 0.0


class FakeLLMServer:
    def __init__(self, responder: Callable[[str, int], Reply]):
        self.responder = responder
        self.requests: list[dict] = []
        self._seen: Counter = Counter()
        self._lock = threading.Lock()
        server = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args):  # keep test output clean
                pass

            def do_POST(self):
                length = int(self.headers.get("Content-Length", 0))
                payload = json.loads(self.rfile.read(length) or b"{}")
                if self.path.rstrip("/") != "/v1/chat/completions":
                    self._send(404, json.dumps({"error": {"message": "not found"}}))
                    return
                prompt = "\n".join(m.get("content", "") for m in payload.get("messages", []) if m.get("role") == "user")
                with server._lock:
                    attempt = server._seen[prompt]
                    server._seen[prompt] += 1
                    server.requests.append({"prompt": prompt, "headers": {k.lower(): v for k, v in self.headers.items()}, "payload": payload})
                reply = server.responder(prompt, attempt)
                if reply.delay:
                    time.sleep(reply.delay)
                if reply.body is not None or reply.status != 200:
                    body = reply.body if reply.body is not None else json.dumps({"error": {"message": "boom"}})
                    self._send(reply.status, body)
                    return
                self._send(200, json.dumps({
                    "id": "chatcmpl-test", "object": "chat.completion", "created": 0, "model": payload.get("model"),
                    "choices": [{"index": 0, "finish_reason": "stop",
                                 "message": {"role": "assistant", "content": reply.content}}],
                    "usage": {"prompt_tokens": 1, "completion_tokens": 1, "total_tokens": 2},
                }))

            def _send(self, status: int, body: str):
                data = body.encode()
                try:
                    self.send_response(status)
                    self.send_header("Content-Type", "application/json")
                    self.send_header("Content-Length", str(len(data)))
                    self.end_headers()
                    self.wfile.write(data)
                except (BrokenPipeError, ConnectionResetError):  # the client timed out and left
                    pass

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.httpd.daemon_threads = True
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.httpd.server_address[1]}/v1"

    def __enter__(self) -> FakeLLMServer:
        self.thread.start()
        return self

    def __exit__(self, *exc):
        self.httpd.shutdown()
        self.httpd.server_close()
        self.thread.join(timeout=5)
