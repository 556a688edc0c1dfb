"""Span names, attribute keys and values that fanscope emits.

This module and ``docs/conventions.md`` are the contract between the SDK and the analyzer:
every key and every value with a fixed set of values is a constant here and documented there
(``VALUES`` lists the values of each such key), and the analyzer reads nothing that is not
listed. ``tests/test_conventions.py`` checks both directions, and that a run of the SDK through
every path emits only what is documented. Keys we own start with ``fanscope.``; the error type
uses the OpenTelemetry general ``error.type`` attribute.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Final

# -- span roles ------------------------------------------------------------------------------

ROLE: Final = "fanscope.role"
"""str: what the span is to fanscope: one of the ``ROLE_*`` values below."""

ROLE_FANOUT: Final = "fanout"
"""A fan-out: one span that owns N branch spans."""
ROLE_BRANCH: Final = "branch"
"""One unit of concurrent work, the child of a fan-out (or a lone bounded call)."""
ROLE_FANIN: Final = "fanin"
"""The join and combine step after the branches (ordering, reduce, vote count)."""
ROLE_STEP: Final = "step"
"""An ordinary sequential step marked with ``@traced``."""
ROLE_QUEUE: Final = "queue"
"""Time a branch spent waiting for a slot (behind a cap or a rate limit), or work submitted
to a thread pool spent waiting for a free worker."""
ROLE_EXPORT: Final = "export"
"""A drop record: spans that an exporter dropped, written in a trace of its own."""
ROLE_HEDGE: Final = "hedge"
"""A hedged attempt: the second attempt of a branch that ran past its hedge delay."""

KIND: Final = "fanscope.kind"
"""str: a fan-out's shape: ``map``, ``section`` or ``vote``; copied to its branches and fan-in."""

KIND_MAP: Final = "map"
KIND_SECTION: Final = "section"
KIND_VOTE: Final = "vote"

FUNCTION: Final = "fanscope.function"
"""str: qualified name of the decorated function (``module.qualname``)."""

# -- fan-out ---------------------------------------------------------------------------------

FANOUT_SIZE: Final = "fanscope.fanout.size"
"""int: number of branches the fan-out started."""
FANOUT_MAX_CONCURRENCY: Final = "fanscope.fanout.max_concurrency"
"""int: the cap in force for the fan-out's branches when it started (absent when unbounded)."""
FANOUT_CAP_CHANGES: Final = "fanscope.fanout.cap_changes"
"""int[]: an adaptive cap's value after each change while the fan-out ran, in order (absent
when it did not change)."""
FANOUT_CAP_CHANGED_AT: Final = "fanscope.fanout.cap_changed_at_s"
"""float[]: seconds after the fan-out's start when each of ``cap_changes`` took effect."""
FANOUT_ON_ERROR: Final = "fanscope.fanout.on_error"
"""str: the failure policy: one of the ``ON_ERROR_*`` values."""
ON_ERROR_RAISE: Final = "raise"
"""The first failure cancels the other branches and raises ``FanoutError``."""
ON_ERROR_COLLECT: Final = "collect"
"""Every branch runs; the result is an ``Outcome`` per input."""
ON_ERROR_SKIP: Final = "skip"
"""Every branch runs; the result keeps the successful values."""
FANOUT_MIN_SUCCESSES: Final = "fanscope.fanout.min_successes"
"""int: branches that must succeed for the fan-out to succeed (absent when not set)."""
FANOUT_SUCCEEDED: Final = "fanscope.fanout.succeeded"
"""int: branches that ended with outcome ``ok``."""
FANOUT_FAILED: Final = "fanscope.fanout.failed"
"""int: branches that ended with outcome ``error`` or ``timeout``."""
FANOUT_CANCELLED: Final = "fanscope.fanout.cancelled"
"""int: branches that ended with outcome ``cancelled``."""
FANOUT_DEADLINE: Final = "fanscope.fanout.deadline_s"
"""float: the overall deadline of the fan-out, in seconds (absent when not set)."""
FANOUT_HEDGES: Final = "fanscope.fanout.hedges"
"""int: hedged attempts the fan-out sent (absent when none)."""
FANOUT_HEDGES_WON: Final = "fanscope.fanout.hedges_won"
"""int: hedges that answered before the attempt they hedged (absent when none)."""
FANOUT_HEDGES_DENIED: Final = "fanscope.fanout.hedges_denied"
"""int: hedges due but not sent, the hedge bucket being empty (absent when none)."""

# -- hedges ----------------------------------------------------------------------------------

HEDGE_OUTCOME: Final = "fanscope.hedge.outcome"
"""str: on a hedge span: one of the ``HEDGE_OUTCOME_*`` values."""
HEDGE_OUTCOME_WON: Final = "won"
"""The hedge answered first; the attempt it hedged was cancelled."""
HEDGE_OUTCOME_LOST: Final = "lost"
"""The hedged attempt answered first; the hedge was cancelled."""
HEDGE_OUTCOME_FAILED: Final = "failed"
"""The hedge raised; the branch went on with the attempt it hedged."""
HEDGE_OUTCOME_CANCELLED: Final = "cancelled"
"""The branch ended before either attempt answered (its fan-out cancelled it, say)."""
HEDGE_DELAY: Final = "fanscope.hedge.delay_s"
"""float: on a hedge span: seconds the hedged attempt had run when the hedge was sent."""
HEDGE_LOSER_CALLS: Final = "fanscope.hedge.loser_calls"
"""int: on a hedge span: model calls of the attempt that did not win (absent when none)."""
HEDGE_LOSER_USD: Final = "fanscope.hedge.loser_usd"
"""float: on a hedge span: USD of the priced calls of the attempt that did not win."""
HEDGE_LOSER_UNPRICED_CALLS: Final = "fanscope.hedge.loser_unpriced_calls"
"""int: on a hedge span: calls of the losing attempt with no known cost (absent when 0)."""
HEDGE_WINNER: Final = "fanscope.hedge.winner"
"""str: on a branch whose last attempt was hedged: one of the ``HEDGE_WINNER_*`` values."""
HEDGE_WINNER_PRIMARY: Final = "primary"
"""The attempt that was hedged answered first."""
HEDGE_WINNER_HEDGE: Final = "hedge"
"""The hedge answered first."""

# -- branch ----------------------------------------------------------------------------------

BRANCH_INDEX: Final = "fanscope.branch.index"
"""int: position of the branch in the fan-out's input (0-based)."""
BRANCH_NAME: Final = "fanscope.branch.name"
"""str: the keyword name of a named ``gather`` branch (``news``), absent otherwise."""
BRANCH_OUTCOME: Final = "fanscope.branch.outcome"
"""str: how the branch ended: one of the ``OUTCOME_*`` values."""
BRANCH_ATTEMPTS: Final = "fanscope.branch.attempts"
"""int: attempts made (1 when the first attempt settled it)."""
BRANCH_MAX_CONCURRENCY: Final = "fanscope.branch.max_concurrency"
"""int: on a lone call (no fan-out): the cap of the function called, absent when unbounded."""
BRANCH_TIMEOUT: Final = "fanscope.branch.timeout_s"
"""float: the per-attempt timeout in seconds (absent when not set)."""
CANCEL_REASON: Final = "fanscope.cancel.reason"
"""str: why the fan-out stopped a branch that was still running: one of the ``CANCEL_*``
values (on cancelled branches, and on branches the deadline ended, whose outcome is
``timeout``)."""
CANCEL_SIBLING_FAILED: Final = "sibling failed"
"""``on_error="raise"``: another branch failed."""
CANCEL_NOT_ENOUGH_SUCCESSES: Final = "not enough successes"
"""``min_successes`` can no longer be reached."""
CANCEL_DEADLINE: Final = "deadline"
"""The fan-out's ``deadline`` passed (the branch's outcome is ``timeout``)."""
CANCEL_CALLER: Final = "caller cancelled"
"""The code that awaited the fan-out (or the lone call) was cancelled."""
CANCEL_VOTE_DECIDED: Final = "vote decided"
"""The vote was decided; this voter could not change the result."""
CANCEL_FANOUT_CLOSED: Final = "fan-out closed"
"""The fan-out ended while the branch still ran: an ``as_completed`` loop left early."""
CANCEL_INPUT_FAILED: Final = "input failed"
"""Reading the fan-out's input (an iterable or async iterable) raised."""

OUTCOME_OK: Final = "ok"
OUTCOME_ERROR: Final = "error"
OUTCOME_TIMEOUT: Final = "timeout"
OUTCOME_CANCELLED: Final = "cancelled"

# -- waiting in line -------------------------------------------------------------------------

QUEUE_WAIT: Final = "fanscope.queue.wait_s"
"""float: seconds the branch waited for a slot in all (cap and rate limit, every attempt)."""
QUEUE_LIMITER: Final = "fanscope.queue.limiter"
"""str: the limiter the branch waited on (the function's name, or a shared limiter's name)."""
QUEUE_REASON: Final = "fanscope.queue.reason"
"""str: on a queue span: ``cap`` (concurrency cap), ``rate`` (rate limit) or ``pool`` (every
worker of a thread pool was busy)."""
QUEUE_REASON_CAP: Final = "cap"
QUEUE_REASON_RATE: Final = "rate"
QUEUE_REASON_POOL: Final = "pool"
QUEUE_REASON_BUDGET: Final = "budget"
"""A model call waited for calls in flight to settle before its worst case fit a budget."""
QUEUE_SPAN_NAME: Final = "queue wait"
"""Span name of a queue span."""
QUEUE_SHARED: Final = "fanscope.queue.shared"
"""bool: the limiter waited on is shared with other processes (``Limiter(backend=...)``): the
slots or the rate may have been taken by calls outside this trace; absent means false."""
QUEUE_MAX_WORKERS: Final = "fanscope.queue.max_workers"
"""int: on a ``pool`` queue span: the ``max_workers`` of the pool the job waited for."""

# -- limiters (on a branch: every limiter its call goes through) -------------------------------

LIMITER_NAMES: Final = "fanscope.limiter.names"
"""str[]: the limiters the call takes before each attempt, in order (the function's own, then a
shared one); set on a lone call with any limiter, and on a branch whose limiters include a
rate limit. The arrays below are parallel to it."""
LIMITER_MAX_CONCURRENCY: Final = "fanscope.limiter.max_concurrency"
"""int[]: each limiter's cap (0: none)."""
LIMITER_RATE: Final = "fanscope.limiter.rate"
"""double[]: each limiter's rate limit, requests per period (0: none); bursts of that many."""
LIMITER_PER: Final = "fanscope.limiter.per_s"
"""double[]: each limiter's rate-limit period in seconds (0: none)."""

# -- budgets and permits (fanscope.sdk.budget, fanscope.sdk.permits) --------------------------

BUDGET_NAME: Final = "fanscope.budget.name"
"""str: on a fan-out (or the span current when a ``with budget`` block ends): the budget's name."""
BUDGET_LIMIT_USD: Final = "fanscope.budget.limit_usd"
"""float: the budget's limit in USD (absent: it has none)."""
BUDGET_SPENT_USD: Final = "fanscope.budget.spent_usd"
"""float: USD the calls under it spent (settled; a call whose outcome is unknown counts at its
worst case)."""
BUDGET_LIMIT_TOKENS: Final = "fanscope.budget.limit_tokens"
"""float: the budget's limit in tokens (absent: it has none)."""
BUDGET_SPENT_TOKENS: Final = "fanscope.budget.spent_tokens"
"""float: tokens the calls under it used."""
BUDGET_REFUSED: Final = "fanscope.budget.refused"
"""int: model calls the budget refused (not made)."""
EVENT_BUDGET_STOP: Final = "fanscope.budget.stop"
"""Event name, on the branch span: a model call was not made, its worst case did not fit."""
EVENT_BUDGET_ENDED: Final = "fanscope.budget.ended"
"""Event name, on the span current when a ``with fanscope.budget(...)`` block (or a lone call's
budget) ended: what the budget allowed, spent and refused (the ``fanscope.budget.*`` keys)."""
BUDGET_UNIT: Final = "fanscope.budget.unit"
"""str (event): ``usd`` or ``tokens``: the limit that refused."""
BUDGET_UNIT_USD: Final = "usd"
BUDGET_UNIT_TOKENS: Final = "tokens"
BUDGET_NEEDED: Final = "fanscope.budget.needed"
"""float (event): the refused call's worst case, in that unit."""
EVENT_PERMIT_RESERVED: Final = "fanscope.permit.reserved"
"""Event name, on the GenAI span (timestamped when the permits were taken): its worst case."""
EVENT_PERMIT_SETTLED: Final = "fanscope.permit.settled"
"""Event name, on the GenAI span: what the call really used; the rest was given back."""
PERMIT_HOLDERS: Final = "fanscope.permit.holders"
"""str[] (event): the limiters and budgets the call was reserved against, outermost first."""
PERMIT_INPUT_TOKENS: Final = "fanscope.permit.input_tokens"
"""int (event): input tokens (reserved: an upper bound; settled: the real count)."""
PERMIT_OUTPUT_TOKENS: Final = "fanscope.permit.output_tokens"
"""int (event): output tokens (reserved: ``max_tokens``; settled: the real count)."""
PERMIT_USD: Final = "fanscope.permit.usd"
"""float (event): USD (absent when no budget counts USD)."""
PERMIT_WAIT: Final = "fanscope.permit.wait_s"
"""float (event, reserved): seconds the call waited for its permits (absent: none)."""
PERMIT_WAITED_ON: Final = "fanscope.permit.waited_on"
"""str (event, reserved): the limiter or budget it waited on."""
PERMIT_WORST_CASE_KEPT: Final = "fanscope.permit.worst_case_kept"
"""bool (event, settled): the call did not finish (cancelled, timed out, cut off), so what it
could have used stays spent: its whole worst case, or, when its answer had started, the known
input and ``max_tokens`` of output."""

# -- adaptive limits (span events) ------------------------------------------------------------

EVENT_LIMIT: Final = "fanscope.limit.changed"
"""Event name: an adaptive limit changed (on the span of the call whose answer decided it)."""
LIMIT_NAME: Final = "fanscope.limit.name"
"""str (event): the limiter whose cap changed."""
LIMIT_OLD: Final = "fanscope.limit.old"
"""int (event): the cap before."""
LIMIT_NEW: Final = "fanscope.limit.new"
"""int (event): the cap after."""
LIMIT_REASON: Final = "fanscope.limit.reason"
"""str (event): one of the ``LIMIT_REASON_*`` values."""
LIMIT_REASON_GROW: Final = "grow"
"""Answers came back unloaded while the cap was in use."""
LIMIT_REASON_OVERLOAD: Final = "overload"
"""A 429 or 529 answer."""
LIMIT_REASON_TIMEOUT: Final = "timeout"
"""A call got no answer in time."""
LIMIT_REASON_LATENCY: Final = "latency"
"""Latency rose past the tolerance over the no-load latency."""
LIMIT_LATENCY: Final = "fanscope.limit.latency_s"
"""float (event): the recent (smoothed) latency when the cap changed."""

# -- retries (span events on the branch) -----------------------------------------------------

EVENT_RETRY: Final = "fanscope.retry"
"""Event name: an attempt failed and another will follow after a delay."""
RETRY_ATTEMPT: Final = "fanscope.retry.attempt"
"""int (event): the attempt that failed (1-based)."""
RETRY_DELAY: Final = "fanscope.retry.delay_s"
"""float (event): seconds slept before the next attempt."""
RETRY_AFTER: Final = "fanscope.retry.retry_after_s"
"""float (event): the retry-after the error carried, when it carried one."""
ERROR_TYPE: Final = "error.type"
"""str: fully qualified class name of the exception (OpenTelemetry general attribute); for
fanscope's own exceptions, one of the ``ERROR_TYPE_*`` values."""
ERROR_TYPE_TIMEOUT: Final = "TimeoutError"
"""An attempt ran past the function's ``timeout``."""
ERROR_TYPE_DEADLINE: Final = "fanscope.DeadlineExceeded"
"""A branch still ran when its fan-out's ``deadline`` passed."""
ERROR_TYPE_FANOUT: Final = "fanscope.FanoutError"
"""A fan-out failed (on its span, and on a branch that ran a fan-out that failed)."""
ERROR_TYPE_NOT_ENOUGH_SUCCESSES: Final = "fanscope.NotEnoughSuccesses"
"""Fewer branches (or voters) succeeded than needed."""
ERROR_TYPE_NO_CONSENSUS: Final = "fanscope.NoConsensus"
"""A vote ended without a winner."""

# -- data flow -------------------------------------------------------------------------------

DATAFLOW_INPUTS: Final = "fanscope.dataflow.inputs"
"""str[]: keyed fingerprints (16 hex chars) of the step's inputs; never their content."""
DATAFLOW_OUTPUTS: Final = "fanscope.dataflow.outputs"
"""str[]: keyed fingerprints (16 hex chars) of the step's output; never its content."""
DATAFLOW_PARTIAL: Final = "0000000000000000"
"""Value, first in ``fanscope.dataflow.inputs``: the inputs may miss an earlier output (the
step is compared with nothing: treated as possibly depending on every earlier step)."""

# -- vote fan-in -----------------------------------------------------------------------------

VOTE_N: Final = "fanscope.vote.n"
"""int: voters started."""
VOTE_QUORUM: Final = "fanscope.vote.quorum"
"""int (double when weighted): agreeing votes that decide the vote (absent when not set)."""
VOTE_AGGREGATION: Final = "fanscope.vote.aggregation"
"""str: one of the ``AGGREGATION_*`` values, or the name of the callable passed."""
AGGREGATION_MAJORITY: Final = "majority"
AGGREGATION_PLURALITY: Final = "plurality"
AGGREGATION_UNANIMOUS: Final = "unanimous"
VOTE_WINNER: Final = "fanscope.vote.winner"
"""str: short, truncated representation of the winning answer's key (absent: no winner)."""
VOTE_DECIDED_BY: Final = "fanscope.vote.decided_by"
"""str: the rule that picked the winner: one of the ``DECIDED_BY_*`` values (absent when there
is no winner)."""
DECIDED_BY_QUORUM: Final = "quorum"
DECIDED_BY_MAJORITY: Final = "majority"
DECIDED_BY_PLURALITY: Final = "plurality"
DECIDED_BY_UNANIMOUS: Final = "unanimous"
DECIDED_BY_AGGREGATE: Final = "aggregate"
"""A callable ``aggregate`` returned the winner."""
DECIDED_BY_TIE_BREAKER: Final = "tie_breaker"
VOTE_COUNTS: Final = "fanscope.vote.counts"
"""str[]: ``"<answer>=<count>"`` per distinct answer, most votes first (answers truncated)."""
VOTE_AGREEMENT: Final = "fanscope.vote.agreement"
"""float: votes for the winner divided by votes cast (0.0 when there is no winner)."""
VOTE_STOPPED_EARLY: Final = "fanscope.vote.stopped_early"
"""bool: the vote was decided, and voters cancelled, before every voter answered."""
VOTE_CANCELLED: Final = "fanscope.vote.cancelled"
"""int: voters cancelled because the vote was decided."""

# -- cost --------------------------------------------------------------------------------------
# On a GenAI span: the OpenTelemetry proposal's names (semantic-conventions-genai PR #443, not
# merged yet: docs/conventions.md says what was chosen and why). On fanscope's own spans the
# roll-up has names of its own, so that summing every span's gen_ai.usage.cost.amount still
# counts each call once (as the proposal asks: cost only on inference spans).

COST_AMOUNT: Final = "gen_ai.usage.cost.amount"
"""double (GenAI span): what the call cost, in ``gen_ai.usage.cost.currency``; absent when it
could not be priced (then ``fanscope.cost.unknown`` says why)."""
COST_CURRENCY: Final = "gen_ai.usage.cost.currency"
"""str (GenAI span): the ISO 4217 code of the amount: always ``USD``."""
CURRENCY_USD: Final = "USD"
COST_SOURCE: Final = "gen_ai.usage.cost.source"
"""str (GenAI span): ``local``: fanscope priced the usage from its price table."""
COST_SOURCE_LOCAL: Final = "local"
COST_UNKNOWN: Final = "fanscope.cost.unknown"
"""str (GenAI span): why the call has no cost: one of the ``COST_UNKNOWN_*`` values."""
COST_UNKNOWN_MODEL: Final = "unknown model"
"""Neither the user's prices nor the price table know the model."""
COST_UNKNOWN_TIER: Final = "unknown tier"
"""The model is priced, but not in the call's service tier or speed (``priority``, ``fast``)."""
COST_NO_TABLE: Final = "no price table"
"""The price table is not installed (``pip install 'fanscope[prices]'``) and the user gave no
price for the model."""
COST_UNPRICED_USAGE: Final = "unpriced usage"
"""The call used a kind of token (a 1-hour cache write, a web search) with no price for it."""
COST_ESTIMATED: Final = "fanscope.cost.estimated"
"""bool (GenAI span): the usage was estimated (the call ended before the API reported it)."""

COST_USD: Final = "fanscope.cost.usd"
"""double (fanscope spans): USD of the priced GenAI calls under the span, each counted once."""
COST_CALLS: Final = "fanscope.cost.calls"
"""int (fanscope spans): GenAI calls under the span (absent when none)."""
COST_UNPRICED_CALLS: Final = "fanscope.cost.unpriced_calls"
"""int (fanscope spans): calls under the span whose cost is unknown (so ``fanscope.cost.usd`` is
a lower bound); absent when 0."""
COST_ESTIMATED_CALLS: Final = "fanscope.cost.estimated_calls"
"""int (fanscope spans): calls under the span whose usage was estimated; absent when 0."""
COST_INPUT_TOKENS: Final = "fanscope.cost.input_tokens"
"""int (fanscope spans): input tokens of the calls under the span, cached ones included."""
COST_OUTPUT_TOKENS: Final = "fanscope.cost.output_tokens"
"""int (fanscope spans): output tokens of the calls under the span."""

# -- exporting (drop records) -----------------------------------------------------------------

EXPORT_SPAN_NAME: Final = "fanscope export"
"""Span name of a drop record (role ``export``)."""
EXPORT_DROPPED: Final = "fanscope.export.dropped_spans"
"""int: spans that the exporter named in ``fanscope.export.destination`` dropped."""
EXPORT_DESTINATION: Final = "fanscope.export.destination"
"""str: where the dropped spans were going (``file /path/traces.jsonl``, ``OTLP http://...``)."""

# -- call sites (OpenTelemetry code.* attributes) --------------------------------------------

CODE_FUNCTION: Final = "code.function.name"
"""str: ``module.qualname`` of the function holding the call that led to the span: the
function the parent span belongs to (``docs/dataflow.md``)."""
CODE_FILE: Final = "code.file.path"
"""str: that function's file, relative to the project (POSIX separators)."""
CODE_LINE: Final = "code.line.number"
"""int: the line of the call in that file."""
CODE_COLUMN: Final = "code.column.number"
"""int: the call's column, 1-based (UTF-8 bytes, as Python's ``ast`` counts them, plus one)."""
CALLSITE_EXECUTION: Final = "fanscope.callsite.execution"
"""int: which execution of the calling line made the span, when user code lies between that
line and the span (a helper, a lambda, a pool): spans of one execution share the number;
absent when the line itself made the span (each execution makes one)."""
CALLSITE_NEAREST: Final = "fanscope.callsite.nearest"
"""bool: ``true`` when the parent span's function was not on the calling stack (another
thread or task, a parent span of another instrumentation): ``code.*`` then name the nearest
calling line outside fanscope and libraries, which says nothing about data flow."""
CALLSITE_STARTED: Final = "fanscope.callsite.started"
"""bool: ``true`` when the span ran in a ``threading.Thread`` or an asyncio task made in the
parent span's function: ``code.*`` then name the line that made the thread or the task (its
``Thread(target=...)``, ``create_task(...)``, ``gather(...)``), which ran the call
concurrently with the code after that line; absent otherwise."""

# -- the values of each key that has a fixed set of them -------------------------------------

VALUES: Final[Mapping[str, tuple[str, ...]]] = {
    ROLE: (ROLE_FANOUT, ROLE_BRANCH, ROLE_QUEUE, ROLE_FANIN, ROLE_STEP, ROLE_EXPORT, ROLE_HEDGE),
    KIND: (KIND_MAP, KIND_SECTION, KIND_VOTE),
    FANOUT_ON_ERROR: (ON_ERROR_RAISE, ON_ERROR_COLLECT, ON_ERROR_SKIP),
    BRANCH_OUTCOME: (OUTCOME_OK, OUTCOME_ERROR, OUTCOME_TIMEOUT, OUTCOME_CANCELLED),
    CANCEL_REASON: (
        CANCEL_SIBLING_FAILED,
        CANCEL_NOT_ENOUGH_SUCCESSES,
        CANCEL_DEADLINE,
        CANCEL_CALLER,
        CANCEL_VOTE_DECIDED,
        CANCEL_FANOUT_CLOSED,
        CANCEL_INPUT_FAILED,
    ),
    QUEUE_REASON: (QUEUE_REASON_CAP, QUEUE_REASON_RATE, QUEUE_REASON_POOL, QUEUE_REASON_BUDGET),
    BUDGET_UNIT: (BUDGET_UNIT_USD, BUDGET_UNIT_TOKENS),
    HEDGE_OUTCOME: (
        HEDGE_OUTCOME_WON,
        HEDGE_OUTCOME_LOST,
        HEDGE_OUTCOME_FAILED,
        HEDGE_OUTCOME_CANCELLED,
    ),
    HEDGE_WINNER: (HEDGE_WINNER_PRIMARY, HEDGE_WINNER_HEDGE),
    LIMIT_REASON: (
        LIMIT_REASON_GROW,
        LIMIT_REASON_OVERLOAD,
        LIMIT_REASON_TIMEOUT,
        LIMIT_REASON_LATENCY,
    ),
    VOTE_AGGREGATION: (AGGREGATION_MAJORITY, AGGREGATION_PLURALITY, AGGREGATION_UNANIMOUS),
    VOTE_DECIDED_BY: (
        DECIDED_BY_QUORUM,
        DECIDED_BY_MAJORITY,
        DECIDED_BY_PLURALITY,
        DECIDED_BY_UNANIMOUS,
        DECIDED_BY_AGGREGATE,
        DECIDED_BY_TIE_BREAKER,
    ),
    COST_CURRENCY: (CURRENCY_USD,),
    COST_SOURCE: (COST_SOURCE_LOCAL,),
    COST_UNKNOWN: (COST_UNKNOWN_MODEL, COST_UNKNOWN_TIER, COST_NO_TABLE, COST_UNPRICED_USAGE),
    ERROR_TYPE: (
        ERROR_TYPE_TIMEOUT,
        ERROR_TYPE_DEADLINE,
        ERROR_TYPE_FANOUT,
        ERROR_TYPE_NOT_ENOUGH_SUCCESSES,
        ERROR_TYPE_NO_CONSENSUS,
    ),
}
"""Every value fanscope writes for these keys. Two are open: ``error.type`` also takes the
class name of any other exception, and ``fanscope.vote.aggregation`` the name of a callable."""
OPEN_VALUES: Final = frozenset({ERROR_TYPE, VOTE_AGGREGATION})
