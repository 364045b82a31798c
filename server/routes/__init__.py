"""One router per area: customer (kiosk, API, payment pages), staff, refunds for staff (the admin's are in ``server.admin``)."""
