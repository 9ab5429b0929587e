"""Whether an approver can decide now: recorded absences and what Slack reports."""

from __future__ import annotations

import logging
import re
from dataclasses import dataclass
from datetime import date, datetime

from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError
from sqlalchemy import select
from sqlalchemy.orm import Session

from storage.models import Absence

logger = logging.getLogger(__name__)

# A Slack status counts as away when its text matches this or its emoji is one of AWAY_EMOJI.
AWAY_STATUS_TEXT = re.compile(r"\b(away|vacation|holiday|out of (the )?office|ooo|leave|sick)\b", re.IGNORECASE)
AWAY_EMOJI = frozenset({":palm_tree:", ":airplane:", ":face_with_thermometer:", ":beach_with_umbrella:"})


@dataclass(frozen=True)
class Unavailable:
    user_id: str
    reason: str
    # The delegate named in a recorded absence, if any.
    delegate: str | None = None


def current_absence(session: Session, user_id: str, today: date) -> Absence | None:
    query = (
        select(Absence)
        .where(Absence.user_id == user_id, Absence.starts_on <= today, Absence.ends_on >= today)
        .order_by(Absence.id.desc())
    )
    return session.scalars(query).first()


def check_availability(
    session: Session, client: WebClient, user_id: str, *, today: date, now: datetime, signals: list[str]
) -> Unavailable | None:
    """Return why ``user_id`` cannot decide now, or None when they can.

    Checks, in order: a recorded absence, a deactivated Slack account
    (users.info ``deleted``), then the Slack signals listed in ``signals``:
    presence (users.getPresence), do-not-disturb (dnd.info) and status
    (users.profile.get). A Slack error counts as available, with a warning,
    so a Slack outage does not reroute every request.
    """
    absence = current_absence(session, user_id, today)
    if absence is not None:
        return Unavailable(user_id, f"away until {absence.ends_on.isoformat()}", absence.delegate)
    try:
        user = client.users_info(user=user_id)["user"]
        if user.get("deleted"):
            return Unavailable(user_id, "deactivated in Slack")
        if "presence" in signals and client.users_getPresence(user=user_id).get("presence") == "away":
            return Unavailable(user_id, "shown as away in Slack")
        if "dnd" in signals and _in_dnd(client.dnd_info(user=user_id).data, now):
            return Unavailable(user_id, "in do-not-disturb in Slack")
        if "status" in signals:
            profile = client.users_profile_get(user=user_id)["profile"]
            if _away_status(profile, now):
                return Unavailable(user_id, f"Slack status says {profile.get('status_text') or profile.get('status_emoji')}")
    except SlackApiError as error:
        logger.warning("checking Slack availability of %s failed: %s; treating them as available", user_id, error.response.get("error"))
    return None


def _in_dnd(info: dict, now: datetime) -> bool:
    if info.get("snooze_enabled"):
        return True
    start, end = info.get("next_dnd_start_ts"), info.get("next_dnd_end_ts")
    return bool(info.get("dnd_enabled") and start and end and start <= now.timestamp() < end)


def _away_status(profile: dict, now: datetime) -> bool:
    expiration = profile.get("status_expiration") or 0
    if expiration and expiration <= now.timestamp():
        return False
    text, emoji = profile.get("status_text") or "", profile.get("status_emoji") or ""
    return bool(AWAY_STATUS_TEXT.search(text)) or emoji in AWAY_EMOJI
