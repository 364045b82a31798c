"""One router per area: customer (kiosk, API, payment pages), admin, staff."""
