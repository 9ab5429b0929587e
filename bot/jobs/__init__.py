"""Scheduled sweeps: approval SLAs, missing authority, stalled negotiations, agreement reminders and digests."""
