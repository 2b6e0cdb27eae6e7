"""Articles in: reading a folder (Markdown, text, HTML, PDF, JSONL), fetching pages, adding."""
