"""Tool-call formats: how tools and calls are written into a prompt, how a model's calls are
parsed back out of its text as it streams, and the grammar that makes those calls valid."""
