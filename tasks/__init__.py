"""Built-in task YAMLs (installed as package data)."""
