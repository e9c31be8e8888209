"""OpenAI SDK compatibility: `/v1/chat/completions` and OpenAI-shaped `/v1/models`, as a
translation at the edge into and out of the native Messages request and response; nothing
below `http/` knows OpenAI exists."""
