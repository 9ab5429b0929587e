"""Tests for SlackStub driven by a real slack_sdk WebClient and a Bolt app."""

from __future__ import annotations

import json
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from urllib.parse import parse_qsl

import pytest
from slack_bolt import App, BoltRequest
from slack_bolt.request.internals import parse_body
from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError
from slack_sdk.http_retry.builtin_handlers import RateLimitErrorRetryHandler
from slack_sdk.signature import SignatureVerifier
from slack_sdk.webhook import WebhookClient

from bot.slack_stub import (
    RESPONSE_URL_METHOD,
    STUB_BOT_ID,
    STUB_BOT_USER_ID,
    STUB_TEAM_ID,
    UPLOAD_METHOD,
    RecordedCall,
    SlackStub,
)
from bot.slack_payloads import (
    FAKE_CHANNEL_ID,
    FAKE_OTHER_USER_ID,
    FAKE_TEAM_ID,
    FAKE_USER_ID,
    block_actions_payload,
    interaction_body,
    sign,
    slash_command_body,
    view_submission_payload,
)

TOKEN = "xoxb-stub-test-token"
SIGNING_SECRET = "stub-test-signing-secret"

BLOCKS = [
    {"type": "section", "text": {"type": "mrkdwn", "text": "*Plan* for ACME"}},
    {
        "type": "actions",
        "block_id": "decision",
        "elements": [{"type": "button", "action_id": "approve", "text": {"type": "plain_text", "text": "Approve"}}],
    },
]

MODAL = {
    "type": "modal",
    "callback_id": "plan_form",
    "title": {"type": "plain_text", "text": "Payment plan"},
    "blocks": [],
}


@pytest.fixture(autouse=True)
def no_leftover_threads() -> Iterator[None]:
    before = set(threading.enumerate())
    yield
    leftover = [thread.name for thread in set(threading.enumerate()) - before]
    assert leftover == []


@pytest.fixture
def stub() -> Iterator[SlackStub]:
    with SlackStub() as running_stub:
        yield running_stub


@pytest.fixture
def client(stub: SlackStub) -> WebClient:
    return WebClient(token=TOKEN, base_url=stub.base_url, timeout=5)


def post_raw(url: str, body: bytes, content_type: str) -> dict:
    request = urllib.request.Request(url, data=body, method="POST", headers={"Content-Type": content_type})
    with urllib.request.urlopen(request, timeout=5) as response:
        return json.loads(response.read())


# --- lifecycle ----------------------------------------------------------


def test_base_url_points_at_api_path(stub: SlackStub) -> None:
    assert stub.base_url.startswith("http://127.0.0.1:")
    assert stub.base_url.endswith("/api/")
    assert stub.base_url == f"{stub.root_url}/api/"


def test_base_url_before_start_raises() -> None:
    stub = SlackStub()

    with pytest.raises(RuntimeError, match="not running"):
        stub.base_url


def test_start_twice_raises() -> None:
    with SlackStub() as stub:
        with pytest.raises(RuntimeError, match="already running"):
            stub.start()


def test_stop_is_idempotent_and_ends_threads() -> None:
    before = set(threading.enumerate())
    stub = SlackStub().start()
    WebClient(token=TOKEN, base_url=stub.base_url).auth_test()

    stub.stop()
    stub.stop()

    assert set(threading.enumerate()) - before == set()


# --- WebClient calls ----------------------------------------------------


def test_post_message_records_blocks_and_token(stub: SlackStub, client: WebClient) -> None:
    response = client.chat_postMessage(channel=FAKE_CHANNEL_ID, text="Plan for ACME", blocks=BLOCKS)

    assert response["ok"] is True
    assert response["channel"] == FAKE_CHANNEL_ID
    assert response["ts"] == "1700000000.000100"
    assert response["message"]["text"] == "Plan for ACME"
    assert response["message"]["blocks"] == BLOCKS
    assert response["message"]["bot_id"] == STUB_BOT_ID

    [call] = stub.calls("chat.postMessage")
    assert call.method == "chat.postMessage"
    assert call.token == TOKEN
    assert call.args["channel"] == FAKE_CHANNEL_ID
    assert call.args["text"] == "Plan for ACME"
    assert call.args["blocks"] == BLOCKS
    assert "token" not in call.args


def test_post_message_in_thread_echoes_thread_ts(client: WebClient) -> None:
    parent = client.chat_postMessage(channel=FAKE_CHANNEL_ID, text="parent")

    reply = client.chat_postMessage(channel=FAKE_CHANNEL_ID, text="reply", thread_ts=parent["ts"])

    assert reply["message"]["thread_ts"] == parent["ts"]
    assert reply["ts"] != parent["ts"]


def test_post_message_timestamps_increase(client: WebClient) -> None:
    timestamps = [client.chat_postMessage(channel=FAKE_CHANNEL_ID, text=f"message {n}")["ts"] for n in range(5)]

    assert len(set(timestamps)) == len(timestamps)
    assert [float(ts) for ts in timestamps] == sorted(float(ts) for ts in timestamps)
    assert timestamps == sorted(timestamps)


def test_post_message_without_content_fails(client: WebClient) -> None:
    with pytest.raises(SlackApiError) as raised:
        client.api_call("chat.postMessage", json={"channel": FAKE_CHANNEL_ID})

    assert raised.value.response["error"] == "no_text"


def test_post_message_without_channel_fails(stub: SlackStub, client: WebClient) -> None:
    with pytest.raises(SlackApiError) as raised:
        client.api_call("chat.postMessage", json={"text": "hello"})

    assert raised.value.response["error"] == "invalid_arguments"
    assert raised.value.response["response_metadata"]["messages"] == ["[ERROR] missing required field: channel"]
    assert len(stub.calls("chat.postMessage")) == 1


def test_update_returns_channel_ts_text(stub: SlackStub, client: WebClient) -> None:
    posted = client.chat_postMessage(channel=FAKE_CHANNEL_ID, text="pending", blocks=BLOCKS)

    response = client.chat_update(channel=FAKE_CHANNEL_ID, ts=posted["ts"], text="approved", blocks=BLOCKS[:1])

    assert response["channel"] == FAKE_CHANNEL_ID
    assert response["ts"] == posted["ts"]
    assert response["text"] == "approved"
    assert response["message"]["blocks"] == BLOCKS[:1]
    [call] = stub.calls("chat.update")
    assert call.args["ts"] == posted["ts"]
    assert call.args["blocks"] == BLOCKS[:1]


def test_post_ephemeral_returns_message_ts(stub: SlackStub, client: WebClient) -> None:
    response = client.chat_postEphemeral(channel=FAKE_CHANNEL_ID, user=FAKE_USER_ID, text="only you")

    assert response["message_ts"] == "1700000000.000100"
    [call] = stub.calls("chat.postEphemeral")
    assert call.args["user"] == FAKE_USER_ID
    assert call.args["text"] == "only you"


def test_views_open_returns_view_with_id(stub: SlackStub, client: WebClient) -> None:
    response = client.views_open(trigger_id="1.2.trigger", view=MODAL)

    view = response["view"]
    assert view["id"].startswith("V")
    assert view["callback_id"] == "plan_form"
    assert view["title"] == MODAL["title"]
    assert view["state"] == {"values": {}}
    [call] = stub.calls("views.open")
    assert call.args["trigger_id"] == "1.2.trigger"
    assert call.args["view"] == MODAL


def test_views_update_keeps_view_id(client: WebClient) -> None:
    opened = client.views_open(trigger_id="1.2.trigger", view=MODAL)["view"]

    updated = client.views_update(view_id=opened["id"], view={**MODAL, "private_metadata": "plan-7"})["view"]

    assert updated["id"] == opened["id"]
    assert updated["private_metadata"] == "plan-7"


def test_views_push_creates_new_view(client: WebClient) -> None:
    opened = client.views_open(trigger_id="1.2.trigger", view=MODAL)["view"]

    pushed = client.views_push(trigger_id="1.2.trigger", view=MODAL)["view"]

    assert pushed["id"] != opened["id"]


def test_auth_test_reports_stub_identity(stub: SlackStub, client: WebClient) -> None:
    response = client.auth_test()

    assert response["user_id"] == STUB_BOT_USER_ID
    assert response["bot_id"] == STUB_BOT_ID
    assert response["team_id"] == STUB_TEAM_ID
    assert response["url"] == "https://stub.invalid/"
    assert stub.calls("auth.test")[0].token == TOKEN


def test_users_info_form_body(stub: SlackStub, client: WebClient) -> None:
    response = client.users_info(user=FAKE_OTHER_USER_ID)

    assert response["user"]["id"] == FAKE_OTHER_USER_ID
    assert response["user"]["is_bot"] is False
    assert response["user"]["profile"]["email"].endswith("@stub.invalid")
    [call] = stub.calls("users.info")
    assert call.args == {"user": FAKE_OTHER_USER_ID}
    assert call.token == TOKEN


def test_form_body_decodes_json_blocks(stub: SlackStub, client: WebClient) -> None:
    client.api_call(
        "chat.postMessage",
        params={"channel": FAKE_CHANNEL_ID, "text": "form", "blocks": json.dumps(BLOCKS), "unfurl_links": "false"},
    )

    [call] = stub.calls("chat.postMessage")
    assert call.args["blocks"] == BLOCKS
    assert call.args["unfurl_links"] == "false"


def test_get_request_reads_query_and_token(stub: SlackStub) -> None:
    url = f"{stub.base_url}users.info?user={FAKE_USER_ID}&token={TOKEN}"

    with urllib.request.urlopen(url, timeout=5) as response:
        body = json.loads(response.read())

    assert body["user"]["id"] == FAKE_USER_ID
    [call] = stub.calls("users.info")
    assert call.args == {"user": FAKE_USER_ID}
    assert call.token == TOKEN


def test_invalid_json_body_is_recorded(stub: SlackStub) -> None:
    body = post_raw(f"{stub.base_url}chat.postMessage", b"{not json", "application/json")

    assert body == {"ok": False, "error": "invalid_json"}
    [call] = stub.calls("chat.postMessage")
    assert call.raw_body == b"{not json"


def test_unknown_path_returns_404(stub: SlackStub) -> None:
    with pytest.raises(urllib.error.HTTPError) as raised:
        urllib.request.urlopen(f"{stub.root_url}/oauth/authorize", timeout=5)

    assert raised.value.code == 404
    assert stub.calls() == []


def test_view_not_json_is_rejected(stub: SlackStub, client: WebClient) -> None:
    with pytest.raises(SlackApiError) as raised:
        client.api_call("views.open", params={"trigger_id": "1.2.trigger", "view": "not json"})

    assert raised.value.response["error"] == "invalid_arguments"
    assert stub.calls("views.open")[0].args["view"] == "not json"


def test_requests_write_nothing_to_stderr(client: WebClient, capfd: pytest.CaptureFixture[str]) -> None:
    client.auth_test()
    client.chat_postMessage(channel=FAKE_CHANNEL_ID, text="quiet")

    assert capfd.readouterr().err == ""


def test_permalink_and_join(client: WebClient) -> None:
    permalink = client.chat_getPermalink(channel=FAKE_CHANNEL_ID, message_ts="1700000000.000100")
    joined = client.conversations_join(channel=FAKE_CHANNEL_ID)

    assert permalink["permalink"] == f"https://stub.invalid/archives/{FAKE_CHANNEL_ID}/p1700000000000100"
    assert joined["channel"]["id"] == FAKE_CHANNEL_ID
    assert joined["channel"]["is_member"] is True


def test_unknown_method_is_ok_and_recorded(stub: SlackStub, client: WebClient) -> None:
    response = client.reactions_add(channel=FAKE_CHANNEL_ID, timestamp="1700000000.000100", name="white_check_mark")

    assert response.data == {"ok": True}
    [call] = stub.calls("reactions.add")
    assert call.args["name"] == "white_check_mark"


def test_files_upload_v2_flow(stub: SlackStub, client: WebClient) -> None:
    response = client.files_upload_v2(channel=FAKE_CHANNEL_ID, filename="plan.csv", content="a,b\n1,2\n", title="Plan")

    assert response["file"]["title"] == "Plan"
    assert [call.method for call in stub.calls()] == [
        "files.getUploadURLExternal",
        UPLOAD_METHOD,
        "files.completeUploadExternal",
    ]
    [upload] = stub.calls(UPLOAD_METHOD)
    assert upload.raw_body == b"a,b\n1,2\n"
    [complete] = stub.calls("files.completeUploadExternal")
    assert complete.args["files"] == [{"id": upload.args["file_id"], "title": "Plan"}]
    assert complete.args["channel_id"] == FAKE_CHANNEL_ID


def test_multipart_body_splits_fields_and_files(stub: SlackStub, client: WebClient) -> None:
    content = b"binary\r\n\x00\xff data"

    client.api_call("files.upload", files={"file": content}, data={"channels": FAKE_CHANNEL_ID, "filename": "a.bin"})

    [call] = stub.calls("files.upload")
    assert call.args["channels"] == FAKE_CHANNEL_ID
    assert call.args["filename"] == "a.bin"
    assert call.args["file"] == content
    assert call.token == TOKEN


def test_response_url_records_respond(stub: SlackStub) -> None:
    response = WebhookClient(stub.response_url, timeout=5).send(text="queued", response_type="ephemeral")

    assert response.status_code == 200
    [call] = stub.calls(RESPONSE_URL_METHOD)
    assert call.args == {"text": "queued", "response_type": "ephemeral"}


def test_set_response_overrides_and_restores(stub: SlackStub, client: WebClient) -> None:
    def user_in_berlin(call: RecordedCall) -> dict:
        return {"ok": True, "user": {"id": call.args["user"], "tz": "Europe/Berlin"}}

    stub.set_response("users.info", user_in_berlin)
    overridden = client.users_info(user=FAKE_USER_ID)
    stub.set_response("users.info", None)
    restored = client.users_info(user=FAKE_USER_ID)

    assert overridden["user"] == {"id": FAKE_USER_ID, "tz": "Europe/Berlin"}
    assert restored["user"]["tz"] == "UTC"


# --- recorded calls -----------------------------------------------------


def test_calls_filter_by_method(stub: SlackStub, client: WebClient) -> None:
    client.auth_test()
    client.chat_postMessage(channel=FAKE_CHANNEL_ID, text="one")
    client.chat_postMessage(channel=FAKE_CHANNEL_ID, text="two")

    assert [call.method for call in stub.calls()] == ["auth.test", "chat.postMessage", "chat.postMessage"]
    assert [call.args["text"] for call in stub.calls("chat.postMessage")] == ["one", "two"]
    assert stub.calls("chat.update") == []


def test_clear_forgets_calls_keeps_ts(stub: SlackStub, client: WebClient) -> None:
    first = client.chat_postMessage(channel=FAKE_CHANNEL_ID, text="one")

    stub.clear()
    second = client.chat_postMessage(channel=FAKE_CHANNEL_ID, text="two")

    assert [call.args["text"] for call in stub.calls()] == ["two"]
    assert float(second["ts"]) > float(first["ts"])


def test_wait_for_call_from_other_thread(stub: SlackStub, client: WebClient) -> None:
    def post_later() -> None:
        time.sleep(0.05)
        client.chat_postMessage(channel=FAKE_CHANNEL_ID, text="late")

    poster = threading.Thread(target=post_later)
    poster.start()
    calls = stub.wait_for("chat.postMessage", timeout=5)
    poster.join()

    assert [call.args["text"] for call in calls] == ["late"]


def test_wait_for_count_and_predicate(stub: SlackStub, client: WebClient) -> None:
    for text in ("a", "b", "c"):
        client.chat_postMessage(channel=FAKE_CHANNEL_ID, text=text)

    assert len(stub.wait_for("chat.postMessage", count=3, timeout=1)) == 3
    matching = stub.wait_for("chat.postMessage", predicate=lambda call: call.args["text"] == "b", timeout=1)
    assert [call.args["text"] for call in matching] == ["b"]


def test_wait_for_timeout_lists_methods(stub: SlackStub, client: WebClient) -> None:
    client.auth_test()
    client.chat_postMessage(channel=FAKE_CHANNEL_ID, text="one")

    started = time.monotonic()
    with pytest.raises(AssertionError) as raised:
        stub.wait_for("chat.update", count=1, timeout=0.2)
    elapsed = time.monotonic() - started

    message = str(raised.value)
    assert "timed out after 0.2 s waiting for 1 chat.update call(s), but 0 arrived" in message
    assert "Methods seen, in order: auth.test, chat.postMessage" in message
    assert 0.15 < elapsed < 2


def test_wait_for_timeout_mentions_predicate(stub: SlackStub) -> None:
    with pytest.raises(AssertionError, match="matching the predicate, but 0 arrived. Methods seen, in order: none"):
        stub.wait_for("chat.postMessage", timeout=0.05, predicate=lambda call: True)


# --- scripted failures and authentication ---------------------------------


def test_fail_next_ratelimited_raises(stub: SlackStub, client: WebClient) -> None:
    stub.fail_next("chat.postMessage")

    with pytest.raises(SlackApiError) as raised:
        client.chat_postMessage(channel=FAKE_CHANNEL_ID, text="first")
    second = client.chat_postMessage(channel=FAKE_CHANNEL_ID, text="second")

    assert raised.value.response.status_code == 429
    assert raised.value.response["error"] == "ratelimited"
    assert raised.value.response.headers["Retry-After"] == "1"
    assert second["ok"] is True
    assert len(stub.calls("chat.postMessage")) == 2


def test_fail_next_other_error_uses_200(client: WebClient, stub: SlackStub) -> None:
    stub.fail_next("chat.update", error="message_not_found")

    with pytest.raises(SlackApiError) as raised:
        client.chat_update(channel=FAKE_CHANNEL_ID, ts="1700000000.000100", text="x")

    assert raised.value.response.status_code == 200
    assert raised.value.response["error"] == "message_not_found"
    assert "Retry-After" not in raised.value.response.headers


def test_fail_next_only_affects_named_method(stub: SlackStub, client: WebClient) -> None:
    stub.fail_next("chat.update", error="cant_update_message")

    assert client.chat_postMessage(channel=FAKE_CHANNEL_ID, text="unaffected")["ok"] is True
    with pytest.raises(SlackApiError):
        client.chat_update(channel=FAKE_CHANNEL_ID, ts="1700000000.000100", text="x")


def test_ratelimit_retry_handler_retries(stub: SlackStub) -> None:
    client = WebClient(token=TOKEN, base_url=stub.base_url, retry_handlers=[RateLimitErrorRetryHandler()])
    stub.fail_next("chat.postMessage", retry_after=0)

    response = client.chat_postMessage(channel=FAKE_CHANNEL_ID, text="retried")

    assert response["ok"] is True
    assert len(stub.calls("chat.postMessage")) == 2


def test_expected_token_rejects_others() -> None:
    with SlackStub(expected_token=TOKEN) as stub:
        good = WebClient(token=TOKEN, base_url=stub.base_url)
        wrong = WebClient(token="xoxb-wrong", base_url=stub.base_url)
        missing = WebClient(base_url=stub.base_url)

        assert good.auth_test()["ok"] is True
        with pytest.raises(SlackApiError) as wrong_raised:
            wrong.chat_postMessage(channel=FAKE_CHANNEL_ID, text="x")
        with pytest.raises(SlackApiError) as missing_raised:
            missing.chat_postMessage(channel=FAKE_CHANNEL_ID, text="x")

        assert wrong_raised.value.response["error"] == "invalid_auth"
        assert missing_raised.value.response["error"] == "not_authed"
        assert [call.token for call in stub.calls()] == [TOKEN, "xoxb-wrong", None]


# --- signing helpers ------------------------------------------------------


def test_sign_matches_slack_sdk_verifier() -> None:
    body = slash_command_body(text="new ACME")
    verifier = SignatureVerifier(SIGNING_SECRET)

    headers = sign(body, SIGNING_SECRET)

    assert verifier.is_valid_request(body, headers) is True
    assert verifier.is_valid_request(body + "&x=1", headers) is False
    assert verifier.is_valid_request(body, sign(body, "other-secret")) is False


def test_sign_uses_given_timestamp() -> None:
    headers = sign("body", SIGNING_SECRET, timestamp=1_700_000_000)
    expected = SignatureVerifier(SIGNING_SECRET).generate_signature(timestamp="1700000000", body="body")

    assert headers["X-Slack-Request-Timestamp"] == "1700000000"
    assert headers["X-Slack-Signature"] == expected


def test_slash_command_body_fields() -> None:
    body = slash_command_body(text="new ACME 1200", user_id=FAKE_OTHER_USER_ID)

    fields = dict(parse_qsl(body, keep_blank_values=True))

    assert list(fields) == [
        "token",
        "team_id",
        "team_domain",
        "channel_id",
        "channel_name",
        "user_id",
        "user_name",
        "command",
        "text",
        "api_app_id",
        "is_enterprise_install",
        "response_url",
        "trigger_id",
    ]
    assert fields["command"] == "/payplan"
    assert fields["text"] == "new ACME 1200"
    assert fields["user_id"] == FAKE_OTHER_USER_ID
    assert fields["team_id"] == FAKE_TEAM_ID
    assert fields["channel_id"] == FAKE_CHANNEL_ID


def test_interaction_body_parses_like_bolt() -> None:
    payload = block_actions_payload("approve", "plan-7")

    assert parse_body(interaction_body(payload), "application/x-www-form-urlencoded") == payload


# --- Bolt app against the stub -------------------------------------------


@pytest.fixture
def bolt_app(stub: SlackStub) -> Iterator[App]:
    executor = ThreadPoolExecutor(max_workers=2, thread_name_prefix="bolt-listener")
    app = App(
        client=WebClient(token=TOKEN, base_url=stub.base_url, timeout=5),
        signing_secret=SIGNING_SECRET,
        listener_executor=executor,
    )
    yield app
    executor.shutdown(wait=True)


def dispatch(app: App, body: str, secret: str = SIGNING_SECRET):
    return app.dispatch(BoltRequest(body=body, headers=sign(body, secret)))


def test_bolt_slash_command_posts_message(stub: SlackStub, bolt_app: App) -> None:
    @bolt_app.command("/payplan")
    def handle_payplan(ack, command, client) -> None:
        ack()
        client.chat_postMessage(channel=command["channel_id"], text=f"Received: {command['text']}")

    response = dispatch(bolt_app, slash_command_body(text="new ACME", response_url=stub.response_url))
    [posted] = stub.wait_for("chat.postMessage")

    assert response.status == 200
    assert stub.calls()[0].method == "auth.test"
    assert posted.args["channel"] == FAKE_CHANNEL_ID
    assert posted.args["text"] == "Received: new ACME"
    assert posted.token == TOKEN


def test_bolt_rejects_wrong_signature(stub: SlackStub, bolt_app: App) -> None:
    @bolt_app.command("/payplan")
    def handle_payplan(ack) -> None:
        ack()

    response = dispatch(bolt_app, slash_command_body(), secret="other-secret")

    assert response.status == 401


def test_bolt_respond_reaches_response_url(stub: SlackStub, bolt_app: App) -> None:
    @bolt_app.command("/payplan")
    def handle_payplan(ack, respond) -> None:
        ack()
        respond(text="working on it")

    dispatch(bolt_app, slash_command_body(response_url=stub.response_url))
    [responded] = stub.wait_for(RESPONSE_URL_METHOD)

    assert responded.args["text"] == "working on it"


def test_bolt_block_action_matches(stub: SlackStub, bolt_app: App) -> None:
    received: list[tuple[str, str, str, str]] = []

    @bolt_app.action("approve")
    def handle_approve(ack, body, action, client) -> None:
        ack()
        received.append((action["value"], body["user"]["id"], body["channel"]["id"], body["message"]["ts"]))
        client.chat_update(channel=body["channel"]["id"], ts=body["message"]["ts"], text="Approved")

    payload = block_actions_payload("approve", "plan-7", user_id=FAKE_OTHER_USER_ID, message_ts="1700000000.000200")
    response = dispatch(bolt_app, interaction_body(payload))
    [updated] = stub.wait_for("chat.update")

    assert response.status == 200
    assert received == [("plan-7", FAKE_OTHER_USER_ID, FAKE_CHANNEL_ID, "1700000000.000200")]
    assert updated.args["ts"] == "1700000000.000200"


def test_bolt_view_submission_matches(bolt_app: App) -> None:
    received: list[tuple[str, str]] = []

    @bolt_app.view("plan_form")
    def handle_submission(ack, view) -> None:
        received.append((view["state"]["values"]["amount"]["amount_input"]["value"], view["private_metadata"]))
        ack()

    state_values = {"amount": {"amount_input": {"type": "plain_text_input", "value": "120.00"}}}
    payload = view_submission_payload("plan_form", state_values, private_metadata="plan-7")
    response = dispatch(bolt_app, interaction_body(payload))

    assert response.status == 200
    assert received == [("120.00", "plan-7")]


def test_drop_next_is_network_error(stub: SlackStub) -> None:
    # No retry handlers, so the one dropped connection reaches the caller.
    bare_client = WebClient(token=TOKEN, base_url=stub.base_url, timeout=5, retry_handlers=[])
    stub.drop_next("chat.postMessage")

    with pytest.raises(OSError):
        bare_client.chat_postMessage(channel="C1", text="lost")
    assert bare_client.chat_postMessage(channel="C1", text="delivered")["ok"] is True
    assert [call.args["text"] for call in stub.calls("chat.postMessage")] == ["lost", "delivered"]


def test_usergroup_members_listed(stub: SlackStub, client: WebClient) -> None:
    stub.set_usergroup("S0MANAGERS", ["U1", "U2"])

    assert client.usergroups_users_list(usergroup="S0MANAGERS")["users"] == ["U1", "U2"]
    with pytest.raises(SlackApiError) as raised:
        client.usergroups_users_list(usergroup="S0UNKNOWN")
    assert raised.value.response["error"] == "no_such_subteam"
