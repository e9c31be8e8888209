"""Places held for requests between their arrival and their submission to an engine.

A request is rendered and tokenized (milliseconds, on a worker thread) before its engine
counts it. Without a place held meanwhile, a burst at an idle server is let in whole: every
request passes the capacity check, all of them are rendered, and the excess is refused only
when submitted, a few hundred milliseconds later (measured: 40 at once, all answered after
200-280 ms). So each engine is asked with the number of requests already let in but not yet
submitted, and the excess of a burst is refused at once. Event loop thread only.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING

from antiphon.errors import AntiphonError

if TYPE_CHECKING:
    from antiphon.services.models import ServedModel


class Admission:
    def __init__(self) -> None:
        self._held: Counter[str] = Counter()  # per model id: let in, not yet submitted

    def refuse_when_busy(self, model: ServedModel) -> None:
        model.engine.check_capacity(pending=self._held[model.card.id])

    def refuse_when_all_busy(self, models: Iterable[ServedModel]) -> None:
        """Raise what the engines would answer when none of them could take a request now.

        Called before a generation request's body is read, so that the excess of a burst
        is not parsed and validated first. With one model served (the usual case) this is
        the refusal the request would get later; with several, only when all are busy."""
        refusal: AntiphonError | None = None
        for model in models:
            try:
                self.refuse_when_busy(model)
            except AntiphonError as busy:
                refusal = busy
            else:
                return
        if refusal is not None:
            raise refusal

    @contextmanager
    def hold(self, model: ServedModel) -> Iterator[None]:
        """A place for one request while it is prepared; the engine counts it once it is
        submitted, so the place is given back when the block ends, either way."""
        self.refuse_when_busy(model)
        self._held[model.card.id] += 1
        try:
            yield
        finally:
            self._held[model.card.id] -= 1
