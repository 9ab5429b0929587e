"""The agreement link e-mailed through a real SMTP server on loopback."""

from __future__ import annotations

import email
import socket
from collections.abc import Iterator

import pytest
from sqlalchemy import select

from bot.errors import InvalidInput
from bot.link_email import SmtpSettings, email_agreement_link
from storage.models import AuditEvent
from tests.bot.portal_server import PortalServer, running_portal

controller_module = pytest.importorskip("aiosmtpd.controller")
handlers = pytest.importorskip("aiosmtpd.handlers")


class Inbox(handlers.Sink):
    def __init__(self) -> None:
        self.messages: list[email.message.Message] = []

    async def handle_DATA(self, server, session, envelope):  # noqa: N802 - aiosmtpd's hook name
        self.messages.append(email.message_from_bytes(envelope.content))
        return "250 OK"


@pytest.fixture
def inbox() -> Iterator[tuple[Inbox, int]]:
    handler = Inbox()
    # aiosmtpd's Controller cannot report a port chosen by the system, so
    # take a free one first.
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    controller = controller_module.Controller(handler, hostname="127.0.0.1", port=port)
    controller.start()
    try:
        yield handler, port
    finally:
        controller.stop()


@pytest.fixture
def portal(tmp_path) -> Iterator[PortalServer]:
    with running_portal(f"sqlite:///{tmp_path / 'mail.db'}") as server:
        yield server


def test_link_emailed_with_pdf(portal: PortalServer, inbox: tuple[Inbox, int]) -> None:
    handler, port = inbox
    request_id, path = portal.approved_agreement()
    smtp = SmtpSettings(host="127.0.0.1", port=port, sender="plans@supplier.example")

    url = email_agreement_link(portal.runtime.workflow, smtp, request_id=request_id, to="ap@customer.example", actor="UREQUESTER")

    [message] = handler.messages
    assert message["To"] == "ap@customer.example"
    body, attachment = [part for part in message.walk() if not part.is_multipart()]
    assert url in body.get_payload(decode=True).decode()
    assert url.endswith(path)
    assert attachment.get_content_type() == "application/pdf"
    assert attachment.get_payload(decode=True).startswith(b"%PDF")
    with portal.runtime.session_factory() as session:
        event = session.scalar(select(AuditEvent).where(AuditEvent.action == "agreement.link_emailed"))
    assert event.after["to"] == "ap@customer.example"


def test_bad_address_sends_nothing(portal: PortalServer, inbox: tuple[Inbox, int]) -> None:
    handler, port = inbox
    request_id, _ = portal.approved_agreement()

    with pytest.raises(InvalidInput, match="not an e-mail address"):
        email_agreement_link(portal.runtime.workflow, SmtpSettings("127.0.0.1", port, "plans@supplier.example"), request_id=request_id, to="nobody", actor="U1")

    assert handler.messages == []


class RecordingThread:
    def __init__(self) -> None:
        self.posts: list[str] = []

    def post(self, request_id: int, text: str, *, notify_requester: bool = False) -> None:
        self.posts.append(text)


def test_link_email_post_names_system_actor(portal: PortalServer, inbox: tuple[Inbox, int]) -> None:
    _, port = inbox
    request_id, _ = portal.approved_agreement()
    thread = RecordingThread()
    portal.runtime.workflow.thread_notifier = thread

    email_agreement_link(portal.runtime.workflow, SmtpSettings("127.0.0.1", port, "plans@supplier.example"), request_id=request_id, to="ap@customer.example", actor="system:cli")

    [post] = thread.posts
    assert post.endswith("by system:cli.")
    assert "<@system:cli>" not in post
