"""``payplan demo``: replay real receivables history through the whole workflow.

Everything runs locally: a SQLite file, the offline summary, and a stand-in
for the Slack Web API on loopback that records what the bot posts. Requests
are opened, decided and accepted by sending Slack-shaped, signed payloads
through the same Bolt listeners that serve real Slack traffic, and the
customer page is driven over its HTTP interface.
"""

from __future__ import annotations

import re
import secrets
from dataclasses import dataclass
from datetime import datetime, time, timedelta, timezone
from decimal import Decimal
from pathlib import Path

from rich.console import Console
from rich.table import Table
from slack_bolt import BoltRequest
from sqlalchemy import func, select
from starlette.testclient import TestClient

from bot import slack_payloads
from bot.clock import FixedClock
from bot.config import Settings
from bot.demo_payments import print_plans, replay_payments
from bot.ids import Action, Callback
from bot.jobs.demo import run_scheduler_demo
from bot.messages import request_label
from bot.runtime import Runtime, build_runtime
from bot.server import build_asgi_app
from bot.slack_stub import SlackStub
from storage.db import upgrade_database
from storage.importer import import_invoices
from bot.review import required_acknowledgements
from storage.models import ApprovalStep, AuditEvent, PlanRequest, TermRevision
from storage.repository import PastDueEpisode, past_due_episodes

BUNDLED_CSV = Path(__file__).resolve().parent.parent / "examples" / "data" / "ibm-accounts-receivable.csv"
DEMO_CHANNEL = "C0DEMOCHAN1"
REQUESTER = "U0DEMOAM001"
APPROVERS = {
    "collections_manager": ["U0DEMOCM001"],
    "finance_controller": ["U0DEMOFC001"],
    "revenue_operations_lead": ["U0DEMORO001"],
    "legal_compliance": ["U0DEMOLC001"],
    "credit_analyst": ["U0DEMOCA001"],
}
REQUEST_COUNT = 24
# Installment counts cycle so that some plans exceed the first tier's limit.
INSTALLMENT_CYCLE = (3, 6, 9, 4, 12, 6)
REASONS = (
    ("cash_flow", "Customer says a large receivable of theirs is late; asks to spread the balance."),
    ("hardship", "Owner reports a medical illness in the family and reduced trading hours."),
    ("dispute", "Customer disputes one invoice but will pay the rest in installments."),
    ("other", "Customer moved to electronic billing and missed the paper reminders."),
)
TABLE_WIDTH = 150
LINK_PATTERN = re.compile(r"/agreements/([A-Za-z0-9_.\-]+)")


@dataclass
class DemoRow:
    request_id: int
    account_id: str
    as_of: str
    balance: Decimal
    risk_grade: str
    route: list[str]
    decision: str
    status: str


def run_demo(*, db_path: Path, csv_path: Path | None, console: Console) -> list[DemoRow]:
    """Run the demo and print its table; return the rows for callers that check them."""
    csv_path = csv_path or BUNDLED_CSV
    if db_path.exists():
        db_path.unlink()
        console.print(f"Replaced the earlier demo database {db_path}.")

    signing_secret = secrets.token_hex(16)
    bot_token = "xoxb-payplan-demo"
    with SlackStub(expected_token=bot_token) as stub:
        settings = Settings(
            DATABASE_URL=f"sqlite:///{db_path}",
            SLACK_BOT_TOKEN=bot_token,
            SLACK_SIGNING_SECRET=signing_secret,
            SLACK_API_URL=stub.base_url,
            PAYPLAN_SLACK_CHANNEL=DEMO_CHANNEL,
            PAYPLAN_APPROVERS=APPROVERS,
            OPENAI_API_KEY=None,
            PAYPLAN_LLM_ENABLED=False,
            PAYPLAN_PORTAL_SECRET=secrets.token_hex(16),
            PAYPLAN_PUBLIC_URL="http://127.0.0.1:3000",
            PAYPLAN_POLICY=None,
        )
        upgrade_database(settings.database_url)
        clock = FixedClock(datetime(2013, 1, 1, tzinfo=timezone.utc))
        runtime = build_runtime(settings, clock=clock, process_before_response=True)

        with runtime.session_factory.begin() as session:
            report = import_invoices(session, csv_path)
        console.print(
            f"Imported {report.invoices_added} invoices for {report.accounts_added} accounts from {csv_path.name} "
            f"({report.skipped} rows skipped)."
        )
        with runtime.session_factory() as session:
            episodes = choose_episodes(past_due_episodes(session), REQUEST_COUNT)

        replay = _Replay(runtime, stub, clock, signing_secret)
        request_ids = [replay.open_request(index, episode) for index, episode in enumerate(episodes)]
        rejected = replay.pick_rejection(request_ids)
        negotiated, withdrawn = replay.pick_negotiation(request_ids, exclude={rejected})
        if negotiated is not None:
            replay.negotiate(negotiated)
        if withdrawn is not None:
            replay.withdraw(withdrawn)
        for request_id in request_ids:
            replay.decide(request_id, reject=request_id == rejected)
        for request_id in request_ids:
            replay.accept_if_sent(request_id)
        run_scheduler_demo(runtime, settings, clock, {episode.account_id for episode in episodes}, REQUESTER, console)

        behaviours = replay_payments(runtime, clock, console)
        rows = _rows(runtime, request_ids)
        _print_table(console, rows, runtime.policy.currency)
        print_plans(runtime, behaviours, console)
        posted = len(stub.calls("chat.postMessage"))
        updated = len(stub.calls("chat.update"))
        with runtime.session_factory() as session:
            audit_count = session.scalar(select(func.count()).select_from(AuditEvent))
        runtime.engine.dispose()

    console.print(f"Database: {db_path.resolve()}")
    console.print(f"Slack messages posted: {posted} (and {updated} updated in place), to a local stand-in for Slack.")
    console.print(f"Audit events recorded: {audit_count}.")
    return rows


def choose_episodes(episodes: list[PastDueEpisode], count: int) -> list[PastDueEpisode]:
    """Pick ``count`` episodes spread evenly over the range of balances, smallest first."""
    ordered = sorted(episodes, key=lambda episode: (episode.open_balance, episode.account_id))
    if len(ordered) <= count:
        return ordered
    last = len(ordered) - 1
    return [ordered[index * last // (count - 1)] for index in range(count)]


class _Replay:
    """Sends the Slack payloads and customer page requests of one demo run."""

    def __init__(self, runtime: Runtime, stub: SlackStub, clock: FixedClock, signing_secret: str) -> None:
        assert runtime.slack_app is not None
        self.runtime = runtime
        self.stub = stub
        self.clock = clock
        self.signing_secret = signing_secret
        self.portal = TestClient(build_asgi_app(slack_app=None, workflow=runtime.workflow))
        self.as_of: dict[int, datetime] = {}

    def open_request(self, index: int, episode: PastDueEpisode) -> int:
        moment = datetime.combine(episode.as_of, time(15, 0), tzinfo=timezone.utc)
        self.clock.set(moment)
        category, reason = REASONS[index % len(REASONS)]
        down_payment = (episode.open_balance / 10).quantize(Decimal("0.01")) if index % 3 == 0 else Decimal("0.00")
        state = slack_payloads.request_modal_state(
            account_id=episode.account_id,
            reason_category=category,
            reason_text=reason,
            down_payment=str(down_payment),
            installments=INSTALLMENT_CYCLE[index % len(INSTALLMENT_CYCLE)],
            first_due_date=(episode.as_of + timedelta(days=30)).isoformat(),
        )
        view_id = f"V0DEMO{index:05d}"
        payload = slack_payloads.view_submission_payload(Callback.REQUEST_MODAL, state, user_id=REQUESTER, view_id=view_id)
        self._dispatch(slack_payloads.interaction_body(payload))
        with self.runtime.session_factory() as session:
            request_id = session.scalar(select(PlanRequest.id).where(PlanRequest.idempotency_key == view_id))
        if request_id is None:
            raise RuntimeError(f"the demo request for account {episode.account_id} was not created; run with --verbose")
        self.as_of[request_id] = moment
        return request_id

    def pick_rejection(self, request_ids: list[int]) -> int | None:
        """Choose the pending request with the worst risk grade (ties: the largest balance) to reject."""
        with self.runtime.session_factory() as session:
            candidates = []
            for request_id in request_ids:
                request = session.get(PlanRequest, request_id)
                assert request is not None
                if request.status == "pending_approval":
                    revision = request.revisions[-1]
                    assert revision.assessment is not None
                    candidates.append((revision.assessment.risk_grade, revision.balance, request_id))
        return max(candidates)[2] if candidates else None

    def pick_negotiation(self, request_ids: list[int], *, exclude: set[int | None]) -> tuple[int | None, int | None]:
        """Choose the first two pending requests: one to renegotiate and one to withdraw."""
        with self.runtime.session_factory() as session:
            statuses = {request_id: session.get(PlanRequest, request_id).status for request_id in request_ids}  # type: ignore[union-attr]
        pending = [request_id for request_id in request_ids if request_id not in exclude and statuses[request_id] == "pending_approval"]
        return (pending[0] if pending else None), (pending[1] if len(pending) > 1 else None)

    def negotiate(self, request_id: int) -> None:
        """Have the first approver ask for a larger down payment, and the requester revise the terms to match."""
        self.clock.set(self.as_of[request_id] + timedelta(hours=4))
        step = self._pending_step(request_id)
        assert step is not None
        approver = APPROVERS[step.tier][0]
        with self.runtime.session_factory() as session:
            revision = session.get(TermRevision, step.revision_id)
            assert revision is not None
            down = (revision.balance / 4).quantize(Decimal("0.01"))
            terms = slack_payloads.terms_modal_state(
                down_payment=str(down),
                installments=revision.installment_count,
                frequency=revision.frequency,
                first_due_date=revision.first_due_date.isoformat(),
            )
        self._click(Action.REQUEST_CHANGES, str(step.id), approver, step.slack_ts)
        state = slack_payloads.changes_modal_state("Ask for a quarter of the balance down; the rest of the terms can stay.", terms)
        self._submit(Callback.CHANGES_MODAL, state, approver, str(step.id), f"V0DEMOCHG{step.id:04d}")
        with self.runtime.session_factory() as session:
            request = session.get(PlanRequest, request_id)
            assert request is not None
            revision_number, root_ts = request.current_revision, request.slack_ts
        self._click(Action.REVISE, str(request_id), REQUESTER, root_ts)
        self._submit(Callback.REVISE_MODAL, terms, REQUESTER, f"{request_id}:{revision_number}", f"V0DEMOREV{request_id:04d}")

    def withdraw(self, request_id: int) -> None:
        """Have the requester withdraw a request, as when the customer paid in full after all."""
        self.clock.set(self.as_of[request_id] + timedelta(hours=2))
        with self.runtime.session_factory() as session:
            request = session.get(PlanRequest, request_id)
            assert request is not None
            root_ts = request.slack_ts
        self._click(Action.WITHDRAW, str(request_id), REQUESTER, root_ts)
        state = slack_payloads.comment_modal_state("The customer paid the balance in full.")
        self._submit(Callback.WITHDRAW_MODAL, state, REQUESTER, str(request_id), f"V0DEMOWDR{request_id:04d}")

    def decide(self, request_id: int, *, reject: bool) -> None:
        """Click through every approval step of a request as that tier's approver would."""
        self.clock.set(self.as_of[request_id] + timedelta(days=1))
        while True:
            step = self._pending_step(request_id)
            if step is None:
                return
            approver = APPROVERS[step.tier][0]
            action = Action.REJECT if reject else Action.APPROVE
            self._click(action, str(step.id), approver, step.slack_ts)
            with self.runtime.session_factory() as session:
                revision = session.get(TermRevision, step.revision_id)
                assert revision is not None
                keys = [item.key for item in required_acknowledgements(revision.assessment)]
            if keys and not reject:
                # The approver ticks each agent signal and policy deviation in the approval modal.
                state = slack_payloads.acknowledge_state(keys)
                self._submit(Callback.APPROVE_MODAL, state, approver, str(step.id), f"V0DEMOACK{step.id:04d}")
            if reject:
                reason = "Risk grade too weak for an unsecured plan; ask for a larger down payment."
                submission = slack_payloads.view_submission_payload(
                    Callback.REJECT_MODAL,
                    slack_payloads.reject_modal_state(reason),
                    user_id=approver,
                    private_metadata=str(step.id),
                    view_id=f"V0DEMOREJ{step.id:04d}",
                )
                self._dispatch(slack_payloads.interaction_body(submission))
                return

    def accept_if_sent(self, request_id: int) -> None:
        """Open the agreement link posted in the thread and accept it as the customer."""
        with self.runtime.session_factory() as session:
            request = session.get(PlanRequest, request_id)
            assert request is not None
            if request.status != "sent_to_customer":
                return
            thread_ts = request.slack_ts
        self.clock.set(self.as_of[request_id] + timedelta(days=3))
        link_posts = self.stub.calls("chat.postMessage")
        token = next(
            match.group(1)
            for call in link_posts
            if call.args.get("thread_ts") == thread_ts and (match := LINK_PATTERN.search(call.args.get("text", "")))
        )
        page = self.portal.get(f"/agreements/{token}")
        page.raise_for_status()
        form_token = re.search(r'name="form_token" value="([0-9a-f]+)"', page.text)
        assert form_token is not None, "the agreement page has no acceptance form"
        signature = {"form_token": form_token.group(1), "action": "accept", "typed_name": "Demo Customer", "consent": "yes"}
        self.portal.post(f"/agreements/{token}", data=signature, headers={"user-agent": "payplan-demo"}).raise_for_status()

    def _pending_step(self, request_id: int) -> ApprovalStep | None:
        with self.runtime.session_factory() as session:
            return session.scalar(
                select(ApprovalStep)
                .join(TermRevision, ApprovalStep.revision_id == TermRevision.id)
                .where(TermRevision.request_id == request_id, ApprovalStep.status == "pending")
            )

    def _click(self, action: str, value: str, user: str, message_ts: str | None) -> None:
        click = slack_payloads.block_actions_payload(action, value, user_id=user, channel_id=DEMO_CHANNEL, message_ts=message_ts or "")
        self._dispatch(slack_payloads.interaction_body(click))

    def _submit(self, callback: str, state: dict, user: str, metadata: str, view_id: str) -> None:
        submission = slack_payloads.view_submission_payload(callback, state, user_id=user, private_metadata=metadata, view_id=view_id)
        self._dispatch(slack_payloads.interaction_body(submission))

    def _dispatch(self, body: str) -> None:
        assert self.runtime.slack_app is not None
        headers = {"content-type": ["application/x-www-form-urlencoded"], **{k: [v] for k, v in slack_payloads.sign(body, self.signing_secret).items()}}
        response = self.runtime.slack_app.dispatch(BoltRequest(body=body, headers=headers))
        if response.status != 200:
            raise RuntimeError(f"the Slack app returned HTTP {response.status}: {response.body}")


def _rows(runtime: Runtime, request_ids: list[int]) -> list[DemoRow]:
    rows = []
    with runtime.session_factory() as session:
        for request_id in request_ids:
            request = session.get(PlanRequest, request_id)
            assert request is not None
            revision = request.revisions[-1]
            assessment = revision.assessment
            assert assessment is not None
            decisions = [step.status for step in revision.steps]
            if request.status == "withdrawn":
                decision = "withdrawn by requester"
            elif "rejected" in decisions:
                decision = "rejected"
            elif decisions and all(status == "approved" for status in decisions):
                decision = "approved" if revision.number == 1 else f"approved revision {revision.number}"
            elif not assessment.eligible:
                blocking = [flag["code"] for flag in assessment.flags if flag["blocking"]]
                decision = "none: " + ", ".join(blocking)
            else:
                decision = "pending"
            rows.append(DemoRow(request.id, request.account_id, request.as_of.isoformat(), revision.balance, assessment.risk_grade, list(assessment.route), decision, request.status))
    return rows


def _print_table(console: Console, rows: list[DemoRow], currency: str) -> None:
    if not console.is_terminal and console.width < TABLE_WIDTH:
        # Piped output defaults to 80 columns, which would wrap every row.
        console = Console(width=TABLE_WIDTH)
    table = Table(title="payplan demo: requests replayed from real receivables history")
    columns = (
        ("Request", "left"),
        ("Account", "left"),
        ("As of", "left"),
        (f"Balance ({currency})", "right"),
        ("Risk", "center"),
        ("Tier", "left"),
        ("Decision", "left"),
        ("Final status", "left"),
    )
    # Ids, dates and amounts never wrap; tier and decision text wraps, so the
    # table stays readable in an 80-column terminal.
    wrapping = {"Tier", "Decision"}
    for column, justify in columns:
        table.add_column(column, justify=justify, no_wrap=column not in wrapping)  # type: ignore[arg-type]
    for row in rows:
        table.add_row(
            request_label(row.request_id),
            row.account_id,
            row.as_of,
            f"{row.balance:,.2f}",
            row.risk_grade,
            " → ".join(row.route) or "-",
            row.decision,
            row.status,
        )
    console.print(table)
