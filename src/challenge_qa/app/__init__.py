"""The ways in: the command line, the web chat and its HTML, Markdown export, API and MCP."""
