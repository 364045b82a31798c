"""Speech in and out, offline: audio handling, recognisers, voices.

Every front end (file, kiosk microphone, phone line, browser) hands audio
to the same small interfaces here; engines sit behind them.
"""
