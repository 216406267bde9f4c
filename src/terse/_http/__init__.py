"""HTTP/1.1 serving and OpenAI-shaped output, shared by `terse.testing` and the proxy.

- `terse._http.server`: an HTTP/1.1 server connection on an asyncio `Protocol`, with h11
  doing all parsing and framing (keep-alive, pipelining, ``Content-Length`` and chunked
  bodies both ways, ``Expect: 100-continue``), a request body cap, and the hostile moves
  a test double needs (cut a body short, hang up mid-stream, stall until the client
  leaves);
- `terse._http.loopback`: `LoopbackServer` runs a handler on its own event loop in a
  background thread.
- `terse._http.sse`: server-sent events, bytes out (``data: {...}``, ``data: [DONE]``,
  comments).
- `terse._http.openai`: the OpenAI chat-completions wire shapes a server sends:
  ``chat.completion.chunk`` streams (role chunk, deltas, finish, usage chunk),
  ``chat.completion`` bodies, ``usage`` objects, and ``{"error": {...}}`` bodies.

The reading side (SSE framing and JSON limits for responses terse receives) is in
`terse._wire.sse`.
"""
