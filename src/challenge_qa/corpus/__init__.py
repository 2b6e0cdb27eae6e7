"""Articles in: reading a folder (Markdown, text, HTML, PDF, JSONL), passages, fetching, adding."""
