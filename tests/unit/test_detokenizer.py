from antiphon.engine.detokenizer import Detokenizer, Utf8Assembler

PIECES = {1: b"Hel", 2: b"lo ", 3: "é".encode()[:1], 4: "é".encode()[1:], 5: b"STOP", 6: b"!"}


def test_utf8_split_across_pieces_is_held_until_complete() -> None:
    assembler = Utf8Assembler()
    snowman = "☃".encode()
    assert assembler.feed(snowman[:1]) == ""
    assert assembler.feed(snowman[1:2]) == ""
    assert assembler.feed(snowman[2:]) == "☃"


def test_incomplete_utf8_at_the_end_becomes_a_replacement_character() -> None:
    assembler = Utf8Assembler()
    assert assembler.feed("é".encode()[:1]) == ""
    assert assembler.flush() == "\ufffd"


def test_detokenizer_joins_split_characters_and_stops_before_the_stop_sequence() -> None:
    detokenizer = Detokenizer(PIECES.__getitem__, ["STOP"])
    out = [detokenizer.add(token) for token in (1, 2, 3, 4, 5, 6)[:5]]
    assert "".join(d.text for d in out) == "Hello é"
    assert out[2].text == ""  # first half of é
    assert out[-1].stop_sequence == "STOP"


def test_stop_sequence_split_across_tokens_is_never_emitted() -> None:
    pieces = {1: b"answer S", 2: b"TO", 3: b"P tail"}
    detokenizer = Detokenizer(pieces.__getitem__, ["STOP"])
    emitted = [detokenizer.add(token) for token in (1, 2, 3)]
    assert "".join(d.text for d in emitted) == "answer "
    assert emitted[-1].stop_sequence == "STOP"


def test_finish_releases_a_held_prefix_that_never_completed() -> None:
    pieces = {1: b"abc ST"}
    detokenizer = Detokenizer(pieces.__getitem__, ["STOP"])
    assert detokenizer.add(1).text == "abc "
    tail = detokenizer.finish()
    assert tail.text == "ST" and tail.stop_sequence is None
