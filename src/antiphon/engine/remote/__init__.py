"""Remote engines: a served model whose tokens come from upstream engine servers."""
