"""Payments that must be refunded, for staff and admins (/staff/refunds).

When money arrives for a bill that is already paid, or for a payment link
that a newer one replaced, the ledger keeps it as refund_needed with the
reason (assistant.payments). Staff see it here, with what they need to
return it at the provider: the account, the amount, the provider's
transaction id and why.
"""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import Response

from assistant.formatting import yuan
from server.login import StaffLogin
from server.pages import render

router = APIRouter(tags=["客服"])
PROVIDER_LABELS = {"alipay": "支付宝", "wechatpay": "微信支付", "sandbox": "沙箱（演示）"}


@router.get("/staff/refunds", include_in_schema=False)
async def refunds_page(request: Request, login: StaffLogin) -> Response:
    refunds = await run_in_threadpool(request.app.state.services.payments.refunds_needed)
    rows = [{"refund": refund, "amount_yuan": yuan(refund.amount_fen),
             "provider_label": PROVIDER_LABELS.get(refund.provider, refund.provider)} for refund in refunds]
    return render(request, "staff/refunds.html", {"rows": rows}, login=login)
