"""Per-request metering: rate-limit and spend-limit admission, output charging, usage.

The HTTP layer makes one `RequestMeter` per model request; the use case calls `admit` with
the prompt's exact token count before queuing it, `on_output` as tokens are generated and
`finish` once with the final usage, whether the request succeeded or failed midway.
"""

from __future__ import annotations

import logging
from collections import Counter

from antiphon.errors import BillingError, Overloaded, RateLimited
from antiphon.ids import utc_now
from antiphon.services.keys import Principal
from antiphon.services.limit_policy import LimitPolicy
from antiphon.services.rate_limits import LimitScope, RateLimiter, RateLimitSnapshot
from antiphon.services.spend import SpendTracker
from antiphon.services.usage import TokenUsage, UsageRecorder, usage_record

log = logging.getLogger(__name__)
# Output tokens are charged in steps of this many, not one bucket call per token.
OUTPUT_CHARGE_STEP = 32


class RequestMeter:
    def __init__(self, metering: Metering, principal: Principal | None, request_id: str, service_tier: str) -> None:
        self._metering = metering
        self._principal = principal
        self._request_id = request_id
        self._tier = service_tier
        self._scopes: tuple[LimitScope, ...] = ()
        self._charged_output = 0
        self._finished = False
        self.snapshot: RateLimitSnapshot | None = None  # for the response's headers

    @property
    def workspace_id(self) -> str | None:
        return self._principal.workspace_id if self._principal else None

    async def admit(self, input_tokens: int) -> None:
        """Raise BillingError (spend limit) or RateLimited, or take the request's share."""
        metering, workspace = self._metering, self.workspace_id
        if workspace is not None:
            limit = await metering.policy.spend_limit_cents(workspace)
            if limit is not None:
                spent = await metering.spend.month_to_date_cents(workspace, utc_now())
                if spent >= limit:
                    metering.refusals["spend_limit"] += 1
                    raise BillingError(
                        f"This workspace has reached its monthly spend limit of "
                        f"${limit / 100:.2f} (spent ${spent / 100:.2f}). Raise the limit "
                        "through the Admin API or wait for the next month."
                    )
        if self._tier == "batch":  # batches have their own queue, not the per-minute limits
            return
        self._scopes = await metering.policy.scopes(workspace)
        if not self._scopes:
            return
        try:
            self.snapshot = await metering.limiter.admit(self._scopes, input_tokens)
        except RateLimited:  # the 429 carries the headers too
            metering.refusals["rate_limit"] += 1
            self.snapshot = await metering.limiter.snapshot(self._scopes)
            self._scopes = ()  # nothing was charged, so nothing to charge later
            raise

    async def on_output(self, generated: int) -> None:
        if self._scopes and generated - self._charged_output >= OUTPUT_CHARGE_STEP:
            await self._charge(generated)

    async def _charge(self, generated: int) -> None:
        step = generated - self._charged_output
        if step > 0:
            self._charged_output = generated
            try:
                await self._metering.limiter.charge_output(self._scopes, step)
            except Overloaded:  # the buckets' store is down: the answer still goes out
                log.warning("could not charge %d output tokens to the rate limits", step)

    async def finish(self, model: str, usage: TokenUsage) -> None:
        """Charge the rest of the output and record the usage; only the first call counts."""
        if self._finished:
            return
        self._finished = True
        if self._scopes:
            await self._charge(usage.output)
        if usage.spent:
            principal = self._principal
            self._metering.recorder.record(usage_record(
                self._request_id, model, principal.key_id if principal else None,
                self.workspace_id, self._tier, usage, utc_now(),
            ))


class Metering:
    def __init__(
        self, limiter: RateLimiter, policy: LimitPolicy, recorder: UsageRecorder, spend: SpendTracker
    ) -> None:
        self.limiter = limiter
        self.policy = policy
        self.recorder = recorder
        self.spend = spend
        self.refusals: Counter[str] = Counter()  # by reason, for /metrics

    def meter(self, principal: Principal | None, request_id: str, service_tier: str = "standard") -> RequestMeter:
        return RequestMeter(self, principal, request_id, service_tier)
