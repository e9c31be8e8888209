"""A served model's window (training context, --min-ctx extension with YaRN, --ctx, the KV
budget) and its output limit."""

from __future__ import annotations

import pytest

from antiphon.engine.model_limits import (
    ContextWindow,
    fit_to_budget,
    output_limit,
    plan_context_window,
)


def test_a_short_training_context_is_extended_to_min_ctx_with_yarn() -> None:
    window = plan_context_window(8192, None, 32768, rope_scalable=True)
    assert window == ContextWindow(32768, 8192, 4.0) and window.extended
    assert window.describe() == "32768-token window (trained on 8192, extended ×4 with YaRN)"
    assert window.max_input_tokens == 32767


def test_a_long_training_context_is_used_whole_with_no_cap() -> None:
    window = plan_context_window(131072, None, 32768, rope_scalable=True)
    assert window == ContextWindow(131072, 131072) and not window.extended
    assert window.describe() == "131072-token window"


def test_ctx_sets_the_window_exactly_and_scales_only_past_the_training_context() -> None:
    assert plan_context_window(8192, 2048, 32768, True) == ContextWindow(2048, 8192)
    assert plan_context_window(8192, 12288, 32768, True) == ContextWindow(12288, 8192, 1.5)
    assert plan_context_window(131072, 4096, 32768, True) == ContextWindow(4096, 131072)


def test_min_ctx_zero_never_extends() -> None:
    assert plan_context_window(8192, None, 0, True) == ContextWindow(8192, 8192)


def test_a_model_without_rope_stays_at_its_training_context() -> None:
    assert plan_context_window(2048, None, 32768, rope_scalable=False) == ContextWindow(2048, 2048)
    exact = plan_context_window(2048, 4096, 32768, rope_scalable=False)
    assert exact == ContextWindow(4096, 2048) and not exact.extended
    assert "no RoPE to scale" in exact.describe()


def test_an_unknown_training_context_is_not_extended() -> None:
    assert plan_context_window(0, None, 32768, True) == ContextWindow(4096, 4096)


def test_a_budget_below_a_default_window_shortens_it_and_keeps_yarn_where_needed() -> None:
    window = ContextWindow(32768, 8192, 4.0)
    assert fit_to_budget(window, 65536, exact=False) == window
    assert fit_to_budget(window, 16384, exact=False) == ContextWindow(16384, 8192, 2.0)
    assert fit_to_budget(window, 4096, exact=False) == ContextWindow(4096, 8192)
    assert fit_to_budget(ContextWindow(131072, 131072), 20000, False) == ContextWindow(20000, 131072)


def test_a_budget_below_an_exact_window_is_an_error() -> None:
    with pytest.raises(ValueError, match="less than the 32768-token context window"):
        fit_to_budget(ContextWindow(32768, 8192, 4.0), 16384, exact=True)


def test_output_limit_configured_recommended_or_a_quarter_of_the_window() -> None:
    extended = ContextWindow(32768, 8192, 4.0)
    assert output_limit(extended, None, 4096) == 4096  # the embedded model's own
    assert output_limit(extended, 1000, 4096) == 1000  # the operator's wins
    assert output_limit(ContextWindow(131072, 131072), None, None) == 32768
    assert output_limit(ContextWindow(32768, 32768), None, None) == 8192
    assert output_limit(ContextWindow(8192, 8192), None, None) == 4096
    assert output_limit(ContextWindow(2048, 8192), 100_000, None) == 2047  # never past the window
