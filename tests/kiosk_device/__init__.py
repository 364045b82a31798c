"""The hall kiosk as a device: the microphone/speaker loop, its card reader and its screen (issue 13)."""
