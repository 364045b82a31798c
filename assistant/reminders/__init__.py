"""Daily bill reminders (issue 14).

- ``rules``: the kinds of reminder, each a set-based SQL query of who is due (rules are data:
  table ``reminderrule``, seeded from ``knowledge_base/data/reminder_rules.yaml``);
- ``run``: the daily run, in chunks of 户号 shared out to runners, idempotent per
  (account, rule, period) through the outbox's unique key;
- ``texts``: what each message says (SMS at most 70 characters, spoken, family, kiosk);
- ``outbox``: delivery (queued → sending → sent / failed), retries, rate limits, quiet hours;
- ``senders``: SMS (HTTP gateway, FAKE in demo mode), Asterisk call files, kiosk notices;
- ``preferences``: channels, times, quiet hours and consent, edited by voice, staff or admins;
- ``scheduler``: the same run and drain inside the service, one worker at a time;
- ``demo_accounts``: generated demo accounts at scale.
"""
