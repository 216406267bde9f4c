"""From bytes to parts: SSE framing, think formats, the splitter, the assembler, tokens."""
