"""Kiosk front end (hall microphone/speaker loop and page) — arrives with the speech and server issues."""
