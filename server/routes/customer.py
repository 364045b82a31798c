"""Customer-facing routes: kiosk page, conversation API, speech, payment pages."""

from fastapi import APIRouter

router = APIRouter()
