"""Places are held for requests on their way to an engine, so that a burst is measured against
capacity as it arrives, not when its requests reach the engine after rendering."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import pytest

from antiphon.errors import Overloaded
from antiphon.services.admission import Admission


@dataclass
class CountingEngine:
    capacity: int
    in_flight: int = 0

    def check_capacity(self, pending: int = 0) -> None:
        if self.in_flight + pending >= self.capacity:
            raise Overloaded("busy", retry_after_seconds=1.0)


@dataclass
class Card:
    id: str


@dataclass
class Model:
    card: Card
    engine: CountingEngine


def model(name: str, capacity: int) -> Any:
    return Model(Card(name), CountingEngine(capacity))


def test_held_places_count_against_capacity_until_released() -> None:
    admission, served = Admission(), model("m", capacity=2)
    with admission.hold(served), admission.hold(served):
        with pytest.raises(Overloaded):  # two on their way fill it, though none is submitted
            with admission.hold(served):
                pass
    with admission.hold(served):  # given back either way
        served.engine.in_flight = 1  # one submitted, one held: full
        with pytest.raises(Overloaded):
            admission.refuse_when_busy(served)


def test_a_place_is_given_back_when_preparing_fails() -> None:
    admission, served = Admission(), model("m", capacity=1)
    with pytest.raises(ValueError):
        with admission.hold(served):
            raise ValueError("a 400 found while rendering")
    admission.refuse_when_busy(served)  # free again


def test_refused_before_the_body_only_when_every_model_is_busy() -> None:
    admission, busy, free = Admission(), model("a", capacity=0), model("b", capacity=1)
    admission.refuse_when_all_busy([busy, free])
    with pytest.raises(Overloaded):
        admission.refuse_when_all_busy([busy])
