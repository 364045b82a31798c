"""The intent ids the code relies on by name, in one place.

The policy (``assistant.dialogue``), the admin (which keeps the essential ones from being
disabled) and the seed (which refuses a YAML without them) import these; every one of
them must exist in ``knowledge_base/data/intents.yaml``.
"""

from __future__ import annotations

OUT_OF_SCOPE = "none"  # holds out-of-scope examples: "not something 小电 does"

# Conversation control
REPEAT = "repeat"
SLOWER = "slower"
HUMAN_AGENT = "human_agent"
EMERGENCY = "emergency"
AFFIRM = "affirm"
DENY = "deny"
GREETING = "greeting"
GOODBYE = "goodbye"

# Requests the policy treats specially
PAY_BILL = "pay_bill"
QUERY_BALANCE = "query_balance"
QUERY_BILL = "query_bill"
QUERY_USAGE = "query_usage"
INVOICE = "invoice"
BILL_ESTIMATE = "bill_estimate"
TARIFF_INFO = "tariff_info"
REPORT_OUTAGE = "report_outage"
PLANNED_OUTAGE = "planned_outage"
RECONNECT = "reconnect"
CROSS_BORDER_PAYMENT = "cross_border_payment"
FAMILY_PROXY = "family_proxy"
REMINDER_SUBSCRIBE = "reminder_subscribe"
REMINDER_UNSUBSCRIBE = "reminder_unsubscribe"
UPDATE_CONTACT = "update_contact"
COMPLAINT = "complaint"
FRAUD_CHECK = "fraud_check"

# What the conversation needs to work at all: a human is always reachable, emergencies get
# the safety message, "再说一遍/说慢点" always work. An admin may edit these but not disable them.
ESSENTIAL = frozenset({HUMAN_AGENT, EMERGENCY, REPEAT, SLOWER, AFFIRM, DENY, OUT_OF_SCOPE})

# Every id above: the seed refuses intents.yaml without one of them, and a test checks the shipped file.
NAMED_IN_CODE = frozenset(value for name, value in dict(globals()).items() if name.isupper() and isinstance(value, str))
