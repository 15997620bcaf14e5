"""Built-in Jinja2 prompt templates (installed as package data)."""
