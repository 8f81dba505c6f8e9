"""The content base (YAML entries from the 2025 report), its loader, checker and matcher."""
