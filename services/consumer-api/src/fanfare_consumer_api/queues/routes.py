"""Queue routes of the consumer API: what browsers call with a publishable key and a
consumer token, and what storefront servers call with their secret key."""

from __future__ import annotations

from typing import Any

from litestar import Request, Router, get, post
from litestar.params import FromPath, JSONBody

from fanfare_consumer_api.auth import (
    ServerDep,
    require_secret_key,
    shopper_confirming_later,
    shopper_of,
    storefront_of,
)
from fanfare_consumer_api.limits import client_address
from fanfare_consumer_api.queues.schemas import (
    CompletedState,
    ConsumerRequest,
    DenyRequest,
    InvalidAdmission,
    Queue,
    QueueConsumerState,
    Support,
    ValidateRequest,
)
from fanfare_core.auth.tokens import fingerprint_hash
from fanfare_core.domain.queues import DenyReason, effective_status
from fanfare_core.domain.timing import format_optional_instant
from fanfare_core.http.strict_body import decode_body
from fanfare_core.service_layer.queues import ConsumerState, QueueService

SUPPORT_MESSAGE = (
    "If you need to switch devices, please contact support with your confirmation code."
)


def _state(state: ConsumerState) -> QueueConsumerState:
    return QueueConsumerState(
        queue_id=state.queue_id,
        consumer_id=state.consumer_id,
        status=state.status,
        position=state.position,
        entered_at=state.entered_at,
        admitted_at=state.admitted_at,
        admission_token=state.admission_token,
        deny_reason=state.deny_reason,
    )


def _service(request: Request[Any, Any, Any]) -> QueueService:
    service: QueueService = request.app.state.queues
    return service


@get("/{queue_id:str}", operation_id="getQueue", summary="A queue as shoppers see it")
async def get_queue(request: Request[Any, Any, Any], queue_id: FromPath[str]) -> Queue:
    storefront = await storefront_of(request)
    info, holding = await _service(request).holding(storefront.organization_id, queue_id)
    queue = info.queue
    return Queue(
        id=queue.id,
        name=queue.name,
        sequence_id=queue.sequence_id,
        capacity=queue.max_capacity,
        open_at=format_optional_instant(queue.open_at),
        close_at=format_optional_instant(queue.close_at),
        time_zone=queue.time_zone,
        status=effective_status(queue, request.app.state.clock.now()),
        consumer_count=holding,
    )


@post(
    "/{queue_id:str}/enter",
    operation_id="enterQueue",
    summary="Take a place in line",
    status_code=200,
)
async def enter_queue(
    request: Request[Any, Any, Any], queue_id: FromPath[str]
) -> QueueConsumerState:
    # Whether the session was logged out is asked of Redis while the enter waits for its
    # batch, which awaits the answer with its locks (a 401 then still comes first).
    shopper, confirming = await shopper_confirming_later(request)
    fingerprint = shopper.fingerprint
    state = await _service(request).enter(  # rate limits: counted by the enter's batch
        shopper.organization_id,
        queue_id,
        shopper.consumer_id,
        fingerprint_hash(fingerprint) if fingerprint else shopper.fingerprint_hash,
        address=client_address(request),
        confirming=confirming,
    )
    return _state(state)


@post(
    "/{queue_id:str}/leave",
    operation_id="leaveQueue",
    summary="Give up one's place",
    status_code=200,
)
async def leave_queue(
    request: Request[Any, Any, Any], queue_id: FromPath[str]
) -> QueueConsumerState:
    shopper = await shopper_of(request)
    state = await _service(request).leave(shopper.organization_id, queue_id, shopper.consumer_id)
    return _state(state)


@get("/{queue_id:str}/status", operation_id="getQueueStatus", summary="One's position and status")
async def queue_status(
    request: Request[Any, Any, Any], queue_id: FromPath[str]
) -> QueueConsumerState:
    shopper = await shopper_of(request)
    state = await _service(request).status(shopper.organization_id, queue_id, shopper.consumer_id)
    return _state(state)


@post(
    "/{queue_id:str}/admit",
    operation_id="admitConsumer",
    guards=[require_secret_key],
    summary="Admit a consumer now",
    status_code=200,
)
async def admit_consumer(
    request: Request[Any, Any, Any],
    queue_id: FromPath[str],
    server: ServerDep,
    data: JSONBody[ConsumerRequest],
) -> QueueConsumerState:
    body = await decode_body(request, ConsumerRequest)
    state = await _service(request).admit(server.organization_id, queue_id, body.consumer_id)
    return _state(state)


@post(
    "/{queue_id:str}/complete",
    operation_id="completeAdmission",
    guards=[require_secret_key],
    summary="Mark an admission completed (checkout done)",
    status_code=200,
)
async def complete_admission(
    request: Request[Any, Any, Any],
    queue_id: FromPath[str],
    server: ServerDep,
    data: JSONBody[ConsumerRequest],
) -> CompletedState:
    body = await decode_body(request, ConsumerRequest)
    state, completed_at = await _service(request).complete(
        server.organization_id, queue_id, body.consumer_id
    )
    return CompletedState(
        queue_id=state.queue_id,
        consumer_id=state.consumer_id,
        status=state.status,
        completed_at=completed_at,
    )


@post(
    "/{queue_id:str}/deny",
    operation_id="denyConsumer",
    guards=[require_secret_key],
    summary="Deny a consumer",
    status_code=200,
)
async def deny_consumer(
    request: Request[Any, Any, Any],
    queue_id: FromPath[str],
    server: ServerDep,
    data: JSONBody[DenyRequest],
) -> QueueConsumerState:
    body = await decode_body(request, DenyRequest)
    state = await _service(request).deny(
        server.organization_id, queue_id, body.consumer_id, DenyReason(body.reason)
    )
    return _state(state)


@post(
    "/{queue_id:str}/validate",
    operation_id="validateAdmission",
    guards=[require_secret_key],
    summary="Check an admission token (true, or why not)",
    status_code=200,
)
async def validate_admission(
    request: Request[Any, Any, Any],
    queue_id: FromPath[str],
    server: ServerDep,
    data: JSONBody[ValidateRequest],
) -> bool | InvalidAdmission:
    body = await decode_body(request, ValidateRequest)
    # The device the storefront sees now: in the body, or as X-Fingerprint.
    fingerprint = (
        body.fingerprint
        if isinstance(body.fingerprint, str)
        else request.headers.get("x-fingerprint")
    )
    result = await _service(request).validate(
        server.organization_id,
        queue_id,
        body.consumer_id,
        body.token,
        fingerprint_hash(fingerprint) if fingerprint else None,
    )
    if result.valid:
        return True
    return InvalidAdmission(
        valid=False,
        error=result.error or "INVALID_TOKEN",
        message=result.message or "",
        code=result.code or "",
        support=None
        if result.confirmation_code is None
        else Support(message=SUPPORT_MESSAGE, confirmation_code=result.confirmation_code),
    )


ROUTER = Router(
    path="/api/v1/queues",
    route_handlers=[
        get_queue,
        enter_queue,
        leave_queue,
        queue_status,
        admit_consumer,
        complete_admission,
        deny_consumer,
        validate_admission,
    ],
    tags=["Queues"],
)
