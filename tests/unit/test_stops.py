"""Stop-sequence matching on text streamed in pieces."""

from __future__ import annotations

import random
from collections.abc import Sequence

import pytest

from antiphon.engine.stops import StopMatcher, StopScan


def _run(stops: Sequence[str], pieces: Sequence[str]) -> tuple[str, str | None]:
    """Feed pieces until a match, then flush; return (all emitted text, matched stop)."""
    matcher = StopMatcher(stops)
    emitted: list[str] = []
    for piece in pieces:
        scan = matcher.feed(piece)
        emitted.append(scan.emit)
        if scan.stop_sequence is not None:
            assert matcher.stop_sequence == scan.stop_sequence
            return "".join(emitted), scan.stop_sequence
    emitted.append(matcher.flush())
    return "".join(emitted), matcher.stop_sequence


def _expected(stops: Sequence[str], text: str) -> tuple[str, str | None]:
    """Offline reference: earliest start wins, ties go to the longest stop."""
    found = [(text.find(stop), -len(stop), stop) for stop in stops if stop in text]
    if not found:
        return text, None
    start, _, stop = min(found)
    return text[:start], stop


# --- construction ----------------------------------------------------------------------------


def test_empty_stop_sequence_rejected() -> None:
    with pytest.raises(ValueError, match="must not be empty"):
        StopMatcher(["ok", ""])


def test_no_stop_sequences_pass_text_straight_through() -> None:
    matcher = StopMatcher([])
    assert matcher.feed("\n\nHuman:") == StopScan(emit="\n\nHuman:", stop_sequence=None)
    assert matcher.held == ""
    assert matcher.flush() == ""
    assert matcher.stop_sequence is None


def test_duplicate_stop_sequences_are_harmless() -> None:
    assert _run(["END", "END"], ["a E", "ND b"]) == ("a ", "END")


# --- streaming -------------------------------------------------------------------------------


def test_unrelated_text_streams_out_immediately() -> None:
    matcher = StopMatcher(["STOP"])
    assert matcher.feed("hello world") == StopScan("hello world", None)
    assert matcher.held == ""


def test_match_within_one_piece() -> None:
    matcher = StopMatcher(["STOP"])
    assert matcher.feed("abcSTOPdef") == StopScan("abc", "STOP")
    assert matcher.held == ""


def test_match_split_across_two_pieces() -> None:
    matcher = StopMatcher(["\n\nHuman:"])
    assert matcher.feed("Sure.\n\nHu") == StopScan("Sure.", None)
    assert matcher.held == "\n\nHu"
    assert matcher.feed("man: next") == StopScan("", "\n\nHuman:")


def test_match_split_across_three_pieces() -> None:
    matcher = StopMatcher(["</answer>"])
    assert matcher.feed("42</") == StopScan("42", None)
    assert matcher.feed("ans") == StopScan("", None)
    assert matcher.held == "</ans"
    assert matcher.feed("wer> trailing") == StopScan("", "</answer>")


def test_only_the_longest_prefix_suffix_is_held() -> None:
    matcher = StopMatcher(["abc"])
    assert matcher.feed("xxab") == StopScan("xx", None)
    assert matcher.held == "ab"


def test_partial_prefix_that_does_not_match_is_released() -> None:
    matcher = StopMatcher(["\n\nHuman:"])
    assert matcher.feed("one\n\nHu") == StopScan("one", None)
    assert matcher.feed("go") == StopScan("\n\nHugo", None)
    assert matcher.held == ""


def test_failed_prefix_can_restart_a_new_prefix() -> None:
    matcher = StopMatcher(["aab"])
    assert matcher.feed("aa") == StopScan("", None)
    assert matcher.feed("a") == StopScan("a", None)  # "aaa": keep "aa", release one "a"
    assert matcher.held == "aa"
    assert matcher.feed("b") == StopScan("", "aab")


def test_match_at_the_very_beginning() -> None:
    matcher = StopMatcher(["STOP"])
    assert matcher.feed("STOP and more") == StopScan("", "STOP")


def test_match_at_the_very_beginning_split() -> None:
    matcher = StopMatcher(["STOP"])
    assert matcher.feed("S") == StopScan("", None)
    assert matcher.feed("TOP") == StopScan("", "STOP")


def test_text_after_the_match_is_discarded() -> None:
    assert _run(["||"], ["a|", "|b", "c"]) == ("a", "||")


def test_empty_pieces_change_nothing() -> None:
    matcher = StopMatcher(["xy"])
    assert matcher.feed("") == StopScan("", None)
    assert matcher.feed("ax") == StopScan("a", None)
    assert matcher.feed("") == StopScan("", None)
    assert matcher.held == "x"


def test_feed_after_match_is_a_caller_bug() -> None:
    matcher = StopMatcher(["x"])
    matcher.feed("x")
    with pytest.raises(RuntimeError):
        matcher.feed("more")


def test_unicode_text_and_stop_sequences() -> None:
    stops = ["。終わり", "🛑"]
    assert _run(stops, ["こんにちは。終", "わり続き"]) == ("こんにちは", "。終わり")
    assert _run(stops, ["héllo wörld ", "🛑", "x"]) == ("héllo wörld ", "🛑")
    assert _run(stops, ["ça va。", "終", "了"]) == ("ça va。終了", None)


# --- several stop sequences ------------------------------------------------------------------


def test_overlapping_prefixes_in_one_piece_prefer_the_longest() -> None:
    matcher = StopMatcher(["\n\nH", "\n\nHuman:"])
    assert matcher.feed("Done.\n\nHuman: hi") == StopScan("Done.", "\n\nHuman:")


def test_overlapping_prefixes_split_waits_for_the_longer_one() -> None:
    matcher = StopMatcher(["\n\nH", "\n\nHuman:"])
    # "\n\nH" has matched, but "\n\nHuman:" starts at the same place and may still match.
    assert matcher.feed("Done.\n\nH") == StopScan("Done.", None)
    assert matcher.held == "\n\nH"
    assert matcher.feed("uman:") == StopScan("", "\n\nHuman:")


def test_overlapping_prefixes_shorter_wins_once_the_longer_is_ruled_out() -> None:
    matcher = StopMatcher(["\n\nH", "\n\nHuman:"])
    assert matcher.feed("Done.\n\nHu") == StopScan("Done.", None)
    assert matcher.feed("go") == StopScan("", "\n\nH")


def test_flush_reports_a_match_still_pending_at_end_of_generation() -> None:
    matcher = StopMatcher(["\n\nH", "\n\nHuman:"])
    assert matcher.feed("Done.\n\nHum") == StopScan("Done.", None)
    assert matcher.flush() == ""
    assert matcher.stop_sequence == "\n\nH"


def test_earliest_start_wins_within_one_piece() -> None:
    matcher = StopMatcher(["world", "o w"])
    assert matcher.feed("hello world") == StopScan("hell", "o w")


def test_earliest_start_wins_over_a_match_completed_earlier() -> None:
    # "bc" completes first, but "abcd" starts earlier and does match.
    matcher = StopMatcher(["bc", "abcd"])
    assert matcher.feed("xab") == StopScan("x", None)
    assert matcher.feed("c") == StopScan("", None)
    assert matcher.feed("d!") == StopScan("", "abcd")


def test_later_starting_match_wins_when_the_earlier_one_fails() -> None:
    matcher = StopMatcher(["bc", "abcd"])
    assert matcher.feed("xabc") == StopScan("x", None)
    assert matcher.feed("e") == StopScan("a", "bc")


def test_second_stop_sequence_alone() -> None:
    assert _run(["</s>", "\n\nUser:"], ["Hi!\n\nUs", "er: more"]) == ("Hi!", "\n\nUser:")


# --- flush -----------------------------------------------------------------------------------


def test_flush_releases_held_prefix() -> None:
    matcher = StopMatcher(["\n\nHuman:"])
    assert matcher.feed("The end.\n\nHum") == StopScan("The end.", None)
    assert matcher.flush() == "\n\nHum"
    assert matcher.held == ""
    assert matcher.stop_sequence is None


def test_flush_with_nothing_held() -> None:
    matcher = StopMatcher(["STOP"])
    matcher.feed("plain")
    assert matcher.flush() == ""


def test_flush_after_match_returns_nothing() -> None:
    matcher = StopMatcher(["STOP"])
    matcher.feed("aSTOPb")
    assert matcher.flush() == ""
    assert matcher.stop_sequence == "STOP"


def test_feed_after_flush_is_a_caller_bug() -> None:
    matcher = StopMatcher(["STOP"])
    matcher.flush()
    with pytest.raises(RuntimeError):
        matcher.feed("late")


# --- property: any split gives the offline answer --------------------------------------------


def _random_split(rng: random.Random, text: str) -> list[str]:
    cuts = sorted(rng.sample(range(1, len(text)), k=rng.randint(0, min(8, len(text) - 1))))
    bounds = [0, *cuts, len(text)]
    pieces = [text[a:b] for a, b in zip(bounds, bounds[1:])]
    if rng.random() < 0.2:  # the engine may yield empty pieces too
        pieces.insert(rng.randrange(len(pieces) + 1), "")
    return pieces


STOP_SETS: list[list[str]] = [
    ["\n\nHuman:"],
    ["\n\nHuman:", "\n\nH"],
    ["ab", "abc", "b"],
    ["bc", "abcd"],
    ["aab", "aa"],
    ["aba", "bab"],
    ["é🙂", "🙂"],
]


@pytest.mark.parametrize("stops", STOP_SETS, ids=repr)
def test_random_splits_agree_with_offline_find(stops: list[str]) -> None:
    rng = random.Random(1234)
    alphabet = "ab cd\nHuman:é🙂"
    for _ in range(400):
        length = rng.randint(1, 40)
        text = "".join(rng.choice(alphabet) for _ in range(length))
        if rng.random() < 0.5:  # make sure a good share of the texts contain a stop
            at = rng.randint(0, len(text))
            text = text[:at] + rng.choice(stops) + text[at:]
        for _ in range(5):
            pieces = _random_split(rng, text)
            assert _run(stops, pieces) == _expected(stops, text), (text, pieces)


def test_held_text_never_reaches_the_longest_stop_length() -> None:
    rng = random.Random(99)
    stops = ["\n\nHuman:", "\n\nH", "Hu"]
    matcher = StopMatcher(stops)
    for _ in range(2000):
        scan = matcher.feed(rng.choice(["\n", "\n\n", "H", "u", "man", ":x", " "]))
        if scan.stop_sequence is not None:
            break
        assert len(matcher.held) < max(map(len, stops))
