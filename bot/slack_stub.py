"""Local stand-in for the Slack Web API, used by ``payplan demo`` and the tests.

SlackStub runs an HTTP server on 127.0.0.1 in a background thread. Point a
slack_sdk client at it with ``WebClient(token=..., base_url=stub.base_url)``.
The stub records every call in order and replies with bodies shaped like
Slack's, so code under test takes the same paths as against Slack.

These methods get realistic replies: chat.postMessage,
chat.update, chat.postEphemeral, chat.getPermalink, views.open/update/push,
auth.test, users.info, conversations.join, usergroups.users.list (members
set with ``set_usergroup``) and the two-step upload that ``files_upload_v2``
performs. Every other method replies ``{"ok": true}``.

``fail_next`` makes a call fail as Slack does (an error code, or HTTP 429
with ``Retry-After``), and ``drop_next`` closes the connection without a
reply, as a network failure would.
"""

from __future__ import annotations

import json
import logging
import threading
from collections import defaultdict, deque
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from email import policy
from email.message import Message
from email.parser import BytesParser
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qsl, urlsplit

logger = logging.getLogger(__name__)

# Identity that auth.test reports and that posted messages carry.
STUB_BOT_USER_ID = "U0STUBBOT"
STUB_BOT_ID = "B0STUBBOT"
STUB_TEAM_ID = "T0STUB"
STUB_APP_ID = "A0STUBAPP"

# Method names under which the stub records requests that are not Web API
# calls: file content sent to an upload_url, and messages sent to response_url.
UPLOAD_METHOD = "upload"
RESPONSE_URL_METHOD = "response_url"

# Arguments that Slack accepts as JSON strings in a form body, such as the
# "files" list that slack_sdk sends to files.completeUploadExternal. The stub
# decodes them so that tests compare lists and dicts.
_JSON_STRING_ARGS = ("attachments", "blocks", "files", "metadata", "user_auth_blocks", "view")

# Required arguments. A call without one gets "invalid_arguments".
# NOTE: Slack returns a method-specific error code for some missing
# arguments, so tests should not depend on this exact code.
_REQUIRED_ARGS: dict[str, tuple[str, ...]] = {
    "chat.postMessage": ("channel",),
    "chat.update": ("channel", "ts"),
    "chat.postEphemeral": ("channel", "user"),
    "chat.getPermalink": ("channel", "message_ts"),
    "conversations.join": ("channel",),
    "files.getUploadURLExternal": ("filename", "length"),
    "files.completeUploadExternal": ("files",),
    "users.info": ("user",),
    "usergroups.users.list": ("usergroup",),
    "views.open": ("trigger_id", "view"),
    "views.push": ("trigger_id", "view"),
    "views.update": ("view",),
}

# Message timestamps start here and step by 100 microseconds, so the first
# is "1700000000.000100". Fixed values keep test output reproducible.
_FIRST_TS_SECONDS = 1_700_000_000
_TS_STEP_MICROSECONDS = 100

_JSON_CONTENT_TYPE = "application/json; charset=utf-8"

StubResponse = Mapping[str, Any] | Callable[["RecordedCall"], Mapping[str, Any]]


@dataclass(frozen=True)
class RecordedCall:
    """One request received by the stub.

    ``args`` contains the request arguments without ``token``. Form-encoded
    values are strings, except the JSON strings in ``_JSON_STRING_ARGS``, which
    are decoded. Multipart file parts are bytes. ``raw_body`` is the request
    body as received.
    """

    method: str
    args: dict[str, Any]
    token: str | None
    raw_body: bytes = field(default=b"", repr=False)


@dataclass(frozen=True)
class _Failure:
    error: str
    status: int
    retry_after: int | None


@dataclass(frozen=True)
class _Reply:
    status: int
    body: bytes
    headers: dict[str, str]


# Reply that makes the request handler close the connection without answering.
_DROP = _Reply(0, b"", {})


def _json_reply(payload: Mapping[str, Any], status: int = 200, headers: dict[str, str] | None = None) -> _Reply:
    all_headers = {"Content-Type": _JSON_CONTENT_TYPE, **(headers or {})}
    return _Reply(status, json.dumps(payload).encode("utf-8"), all_headers)


def _text_reply(text: str, status: int = 200) -> _Reply:
    return _Reply(status, text.encode("utf-8"), {"Content-Type": "text/plain; charset=utf-8"})


def _error(error: str, **extra: Any) -> dict[str, Any]:
    return {"ok": False, "error": error, **extra}


class SlackStub:
    """Fake Slack Web API server that records calls and replies like Slack.

    Use it as a context manager, or call start() and stop(). With
    ``expected_token`` set, a call without a token gets "not_authed" and a
    call with another token gets "invalid_auth", as Slack replies. Those
    calls are still recorded.
    """

    def __init__(self, *, host: str = "127.0.0.1", port: int = 0, expected_token: str | None = None) -> None:
        self._address = (host, port)
        self._expected_token = expected_token
        self._condition = threading.Condition()
        self._calls: list[RecordedCall] = []
        self._failures: defaultdict[str, deque[_Failure]] = defaultdict(deque)
        self._drops: defaultdict[str, int] = defaultdict(int)
        self._usergroups: dict[str, list[str]] = {}
        self._responses: dict[str, StubResponse] = {}
        self._ts_counter = 0
        self._id_counter = 0
        self._server: _StubServer | None = None
        self._thread: threading.Thread | None = None
        self._builders: dict[str, Callable[[dict[str, Any]], dict[str, Any]]] = {
            "auth.test": self._reply_auth_test,
            "chat.postMessage": self._reply_post_message,
            "chat.update": self._reply_update,
            "chat.postEphemeral": self._reply_post_ephemeral,
            "chat.getPermalink": self._reply_permalink,
            "conversations.join": self._reply_conversations_join,
            "users.info": self._reply_users_info,
            "usergroups.users.list": self._reply_usergroup_users,
            "views.open": self._reply_view,
            "views.push": self._reply_view,
            "views.update": self._reply_view,
            "files.getUploadURLExternal": self._reply_upload_url,
            "files.completeUploadExternal": self._reply_complete_upload,
        }

    # --- lifecycle -------------------------------------------------------

    def start(self) -> SlackStub:
        """Bind the server and serve requests in a background thread."""
        if self._server is not None:
            raise RuntimeError(f"SlackStub is already running at {self.root_url}. Call stop() before start().")

        server = _StubServer(self._address, _StubRequestHandler)
        server.stub = self
        thread = threading.Thread(
            target=server.serve_forever,
            kwargs={"poll_interval": 0.05},
            name="slack-stub",
            daemon=True,
        )
        self._server = server
        self._thread = thread
        thread.start()
        logger.info("Slack stub listening on %s", self.base_url)
        return self

    def stop(self) -> None:
        """Stop serving and wait for the server and request threads to end.

        Calling stop() on a stub that is not running does nothing.
        """
        server, thread = self._server, self._thread
        if server is None or thread is None:
            return

        server.shutdown()
        server.server_close()
        thread.join()
        self._server = None
        self._thread = None
        logger.info("Slack stub stopped")

    def __enter__(self) -> SlackStub:
        return self.start()

    def __exit__(self, *exc_info: object) -> None:
        self.stop()

    @property
    def root_url(self) -> str:
        """Server URL without a path, such as "http://127.0.0.1:49152"."""
        if self._server is None:
            raise RuntimeError("SlackStub is not running. Call start() or use it in a with statement.")
        host, port = self._server.server_address[:2]
        return f"http://{host}:{port}"

    @property
    def base_url(self) -> str:
        """Web API base URL to pass as ``WebClient(base_url=...)``.

        It ends with a slash because WebClient joins it to the method name
        with urllib.parse.urljoin, which would otherwise drop the "api" part.
        """
        return f"{self.root_url}/api/"

    @property
    def response_url(self) -> str:
        """URL to use as a request's response_url, so that ``respond()`` calls are recorded."""
        return f"{self.root_url}/response_url"

    # --- recorded calls --------------------------------------------------

    def calls(self, method: str | None = None) -> list[RecordedCall]:
        """Return the recorded calls in arrival order, only those of ``method`` if given."""
        with self._condition:
            return self._matching_calls(method, None)

    def wait_for(
        self,
        method: str | None,
        count: int = 1,
        timeout: float = 5.0,
        predicate: Callable[[RecordedCall], bool] | None = None,
    ) -> list[RecordedCall]:
        """Block until ``count`` calls of ``method`` have arrived, and return all matching calls.

        ``method=None`` matches every method. ``predicate`` further filters the
        calls and runs under the stub's lock, so it must not call the stub.
        Raises AssertionError, listing the methods seen, after ``timeout``
        seconds.
        """
        with self._condition:
            self._condition.wait_for(lambda: len(self._matching_calls(method, predicate)) >= count, timeout)
            matches = self._matching_calls(method, predicate)
            if len(matches) >= count:
                return matches
            seen = [call.method for call in self._calls]

        expected_method = method or "any"
        condition = " matching the predicate" if predicate is not None else ""
        raise AssertionError(
            f"timed out after {timeout:g} s waiting for {count} {expected_method} call(s){condition}, "
            f"but {len(matches)} arrived. Methods seen, in order: {', '.join(seen) or 'none'}"
        )

    def clear(self) -> None:
        """Forget the recorded calls.

        Queued failures, response overrides and the timestamp and id
        counters are kept, so later timestamps still increase.
        """
        with self._condition:
            self._calls.clear()

    def _matching_calls(
        self, method: str | None, predicate: Callable[[RecordedCall], bool] | None
    ) -> list[RecordedCall]:
        return [
            call
            for call in self._calls
            if (method is None or call.method == method) and (predicate is None or predicate(call))
        ]

    # --- scripted replies ------------------------------------------------

    def fail_next(
        self,
        method: str,
        error: str = "ratelimited",
        status: int | None = None,
        retry_after: int | None = 1,
    ) -> None:
        """Make the next call of ``method`` fail with ``{"ok": false, "error": error}``.

        ``status`` defaults to 429 for "ratelimited" and to 200 otherwise,
        because Slack reports most API errors with HTTP 200. A 429 reply
        carries ``Retry-After: retry_after`` (seconds) unless retry_after is
        None. Several failures queued for one method are used in order.
        """
        if status is None:
            status = 429 if error == "ratelimited" else 200
        with self._condition:
            self._failures[method].append(_Failure(error, status, retry_after))

    def drop_next(self, method: str, count: int = 1) -> None:
        """Close the connection of the next ``count`` calls of ``method`` without replying.

        The client sees a network error. The calls are still recorded.
        """
        with self._condition:
            self._drops[method] += count

    def set_usergroup(self, usergroup_id: str, user_ids: list[str]) -> None:
        """Set the members that usergroups.users.list returns for ``usergroup_id``."""
        with self._condition:
            self._usergroups[usergroup_id] = list(user_ids)

    def set_response(self, method: str, response: StubResponse | None) -> None:
        """Reply to every later call of ``method`` with ``response`` in place of the built-in reply.

        ``response`` is a reply body, or a function that builds one from the
        RecordedCall. The function runs under the stub's lock, so it must not
        call the stub. None restores the built-in reply. The token check and
        fail_next() still take precedence.
        """
        with self._condition:
            if response is None:
                self._responses.pop(method, None)
            else:
                self._responses[method] = response

    # --- request handling ------------------------------------------------

    def _handle_request(self, path: str, headers: Message, body: bytes) -> _Reply:
        parts = urlsplit(path)
        if parts.path.startswith("/api/"):
            method = parts.path.removeprefix("/api/")
            return self._handle_api_call(method, parts.query, headers, body)
        if parts.path.startswith("/upload/"):
            file_id = parts.path.removeprefix("/upload/")
            self._record(RecordedCall(UPLOAD_METHOD, {"file_id": file_id}, None, body))
            return _text_reply(f"OK - {len(body)}")
        if parts.path == "/response_url":
            return self._handle_response_url(body)
        logger.warning("Slack stub received a request for an unknown path: %s", parts.path)
        return _text_reply(f"not found: {parts.path}", status=404)

    def _handle_api_call(self, method: str, query: str, headers: Message, body: bytes) -> _Reply:
        content_type = headers.get("Content-Type", "")
        invalid_json = False
        try:
            args = _parse_arguments(content_type, body, query)
        except ValueError as error:
            logger.warning("Slack stub received an invalid JSON body for %s: %s", method, error)
            args = dict(parse_qsl(query, keep_blank_values=True))
            invalid_json = True

        arg_token = args.pop("token", None)
        token = _bearer_token(headers.get("Authorization")) or (arg_token if isinstance(arg_token, str) else None)
        call = RecordedCall(method, args, token, body)

        with self._condition:
            self._calls.append(call)
            self._condition.notify_all()

            if invalid_json:
                return _json_reply(_error("invalid_json"))
            if self._drops[method] > 0:
                self._drops[method] -= 1
                return _DROP
            auth_error = self._check_token(token)
            if auth_error is not None:
                logger.info("Slack stub rejected a %s call: %s", method, auth_error)
                return _json_reply(_error(auth_error))
            if self._failures[method]:
                return self._failure_reply(method, self._failures[method].popleft())
            override = self._responses.get(method)
            if override is not None:
                return _json_reply(override(call) if callable(override) else override)

            missing = [name for name in _REQUIRED_ARGS.get(method, ()) if args.get(name) in (None, "")]
            if missing:
                messages = [f"[ERROR] missing required field: {name}" for name in missing]
                return _json_reply(_error("invalid_arguments", response_metadata={"messages": messages}))

            builder = self._builders.get(method)
            return _json_reply(builder(args) if builder is not None else {"ok": True})

    def _handle_response_url(self, body: bytes) -> _Reply:
        try:
            message = json.loads(body) if body else {}
        except ValueError as error:
            logger.warning("Slack stub received an invalid JSON body on response_url: %s", error)
            message = {}
        if not isinstance(message, dict):
            message = {}
        self._record(RecordedCall(RESPONSE_URL_METHOD, message, None, body))
        return _text_reply("ok")

    def _record(self, call: RecordedCall) -> None:
        with self._condition:
            self._calls.append(call)
            self._condition.notify_all()

    def _check_token(self, token: str | None) -> str | None:
        if self._expected_token is None:
            return None
        if not token:
            return "not_authed"
        if token != self._expected_token:
            return "invalid_auth"
        return None

    def _failure_reply(self, method: str, failure: _Failure) -> _Reply:
        logger.debug("Slack stub returns %s (HTTP %d) for %s from fail_next()", failure.error, failure.status, method)
        headers = {}
        if failure.status == 429 and failure.retry_after is not None:
            headers["Retry-After"] = str(failure.retry_after)
        return _json_reply(_error(failure.error), status=failure.status, headers=headers)

    # --- built-in replies, which run with self._condition held -------------

    def _next_ts(self) -> str:
        self._ts_counter += _TS_STEP_MICROSECONDS
        seconds, microseconds = divmod(self._ts_counter, 1_000_000)
        return f"{_FIRST_TS_SECONDS + seconds}.{microseconds:06d}"

    def _next_id(self, prefix: str) -> str:
        self._id_counter += 1
        return f"{prefix}0STUB{self._id_counter:05d}"

    def _reply_auth_test(self, args: dict[str, Any]) -> dict[str, Any]:
        return {
            "ok": True,
            "url": "https://stub.invalid/",
            "team": "stub",
            "user": "payplan",
            "team_id": STUB_TEAM_ID,
            "user_id": STUB_BOT_USER_ID,
            "bot_id": STUB_BOT_ID,
            "is_enterprise_install": False,
        }

    def _reply_post_message(self, args: dict[str, Any]) -> dict[str, Any]:
        if not any(args.get(name) for name in ("text", "blocks", "attachments")):
            return _error("no_text")
        ts = self._next_ts()
        return {"ok": True, "channel": args["channel"], "ts": ts, "message": _bot_message(args, ts)}

    def _reply_update(self, args: dict[str, Any]) -> dict[str, Any]:
        return {
            "ok": True,
            "channel": args["channel"],
            "ts": args["ts"],
            "text": args.get("text", ""),
            "message": _bot_message(args, args["ts"]),
        }

    def _reply_post_ephemeral(self, args: dict[str, Any]) -> dict[str, Any]:
        return {"ok": True, "message_ts": self._next_ts()}

    def _reply_permalink(self, args: dict[str, Any]) -> dict[str, Any]:
        channel, ts = args["channel"], args["message_ts"]
        permalink = f"https://stub.invalid/archives/{channel}/p{ts.replace('.', '')}"
        return {"ok": True, "channel": channel, "permalink": permalink}

    def _reply_conversations_join(self, args: dict[str, Any]) -> dict[str, Any]:
        channel = args["channel"]
        return {
            "ok": True,
            "channel": {"id": channel, "name": channel.lower(), "is_channel": True, "is_member": True},
        }

    def _reply_users_info(self, args: dict[str, Any]) -> dict[str, Any]:
        user_id = args["user"]
        name = user_id.lower()
        real_name = f"Stub User {user_id}"
        user = {
            "id": user_id,
            "team_id": STUB_TEAM_ID,
            "name": name,
            "deleted": False,
            "real_name": real_name,
            "tz": "UTC",
            "tz_label": "Coordinated Universal Time",
            "tz_offset": 0,
            "is_admin": False,
            "is_bot": user_id == STUB_BOT_USER_ID,
            "is_app_user": False,
            "profile": {
                "real_name": real_name,
                "display_name": name,
                "email": f"{name}@stub.invalid",
            },
        }
        return {"ok": True, "user": user}

    def _reply_usergroup_users(self, args: dict[str, Any]) -> dict[str, Any]:
        usergroup_id = args.get("usergroup", "")
        if usergroup_id not in self._usergroups:
            return _error("no_such_subteam")
        return {"ok": True, "users": list(self._usergroups[usergroup_id])}

    def _reply_view(self, args: dict[str, Any]) -> dict[str, Any]:
        view = args["view"]
        if not isinstance(view, dict):
            return _error("invalid_arguments", response_metadata={"messages": ["[ERROR] view must be a JSON object"]})

        # views.update names the view it replaces, and views.open/push create one.
        view_id = args.get("view_id") or self._next_id("V")
        response_view = {
            "id": view_id,
            "team_id": STUB_TEAM_ID,
            "app_id": STUB_APP_ID,
            "bot_id": STUB_BOT_ID,
            "root_view_id": view_id,
            "previous_view_id": None,
            "hash": self._next_ts(),
            "callback_id": "",
            "private_metadata": "",
            "external_id": args.get("external_id", ""),
            "clear_on_close": False,
            "notify_on_close": False,
            **view,
            "state": {"values": {}},
        }
        return {"ok": True, "view": response_view}

    def _reply_upload_url(self, args: dict[str, Any]) -> dict[str, Any]:
        file_id = self._next_id("F")
        return {"ok": True, "file_id": file_id, "upload_url": f"{self.root_url}/upload/{file_id}"}

    def _reply_complete_upload(self, args: dict[str, Any]) -> dict[str, Any]:
        files = args["files"]
        if not isinstance(files, list) or not all(isinstance(item, dict) and "id" in item for item in files):
            message = "[ERROR] files must be a JSON array of objects with an id"
            return _error("invalid_arguments", response_metadata={"messages": [message]})
        return {"ok": True, "files": [{"id": item["id"], "title": item.get("title", "")} for item in files]}


def _bot_message(args: dict[str, Any], ts: str) -> dict[str, Any]:
    """Build the message object that Slack echoes back for a message the bot sent."""
    message: dict[str, Any] = {
        "type": "message",
        "user": STUB_BOT_USER_ID,
        "bot_id": STUB_BOT_ID,
        "app_id": STUB_APP_ID,
        "team": STUB_TEAM_ID,
        "text": args.get("text", ""),
        "ts": ts,
    }
    for name in ("blocks", "attachments", "thread_ts", "metadata"):
        if name in args:
            message[name] = args[name]
    return message


def _bearer_token(authorization: str | None) -> str | None:
    if authorization is None:
        return None
    scheme, _, credentials = authorization.partition(" ")
    if scheme.lower() != "bearer" or not credentials.strip():
        return None
    return credentials.strip()


def _parse_arguments(content_type: str, body: bytes, query: str) -> dict[str, Any]:
    """Merge query-string and body arguments, decoding the body by its Content-Type.

    Raises ValueError when a JSON body is not a valid JSON object.
    """
    args: dict[str, Any] = dict(parse_qsl(query, keep_blank_values=True))
    media_type = content_type.split(";", 1)[0].strip().lower()

    if not body:
        pass
    elif media_type == "application/json":
        decoded = json.loads(body)
        if not isinstance(decoded, dict):
            raise ValueError(f"expected a JSON object, got {type(decoded).__name__}")
        args.update(decoded)
    elif media_type == "multipart/form-data":
        args.update(_parse_multipart(content_type, body))
    else:
        # Read any other body as a form, because urllib labels a POST body
        # without a Content-Type as application/x-www-form-urlencoded.
        args.update(parse_qsl(body.decode("utf-8", errors="replace"), keep_blank_values=True))

    for name in _JSON_STRING_ARGS:
        value = args.get(name)
        if isinstance(value, str) and value.lstrip()[:1] in ("[", "{"):
            try:
                args[name] = json.loads(value)
            except ValueError:
                pass  # Keep the string as sent.
    return args


def _parse_multipart(content_type: str, body: bytes) -> dict[str, Any]:
    """Split a multipart/form-data body into text fields (str) and file fields (bytes).

    A body that does not parse as multipart yields no arguments, and the
    RecordedCall still carries it in raw_body.
    """
    envelope = f"Content-Type: {content_type}\r\nMIME-Version: 1.0\r\n\r\n".encode("latin-1")
    message = BytesParser(policy=policy.HTTP).parsebytes(envelope + body)
    args: dict[str, Any] = {}
    for part in message.iter_parts():
        name = part.get_param("name", header="content-disposition")
        if not isinstance(name, str):
            continue
        payload = part.get_payload(decode=True) or b""
        if part.get_filename() is None:
            args[name] = payload.decode("utf-8", errors="replace")
        else:
            args[name] = payload
    return args


class _StubServer(ThreadingHTTPServer):
    stub: SlackStub
    # Request threads are joined in server_close(), so stop() leaves none behind.
    daemon_threads = False
    block_on_close = True

    def handle_error(self, request: object, client_address: Any) -> None:
        logger.exception("Slack stub failed to handle a request from %s", client_address)


class _StubRequestHandler(BaseHTTPRequestHandler):
    server: _StubServer
    # Seconds a connection may stay idle before the handler gives up, which
    # bounds how long stop() waits for request threads.
    timeout = 5

    def do_GET(self) -> None:
        self._serve()

    def do_POST(self) -> None:
        self._serve()

    def _serve(self) -> None:
        if "chunked" in self.headers.get("Transfer-Encoding", "").lower():
            logger.warning("Slack stub rejected a chunked request body for %s", self.path)
            self._send(_text_reply("chunked request bodies are not supported. Send a Content-Length header.", status=411))
            return
        raw_length = self.headers.get("Content-Length") or "0"
        try:
            length = int(raw_length)
        except ValueError:
            logger.warning("Slack stub received an invalid Content-Length %r for %s", raw_length, self.path)
            self._send(_text_reply(f"invalid Content-Length: {raw_length!r}", status=400))
            return

        body = self.rfile.read(length) if length > 0 else b""
        self._send(self.server.stub._handle_request(self.path, self.headers, body))

    def _send(self, reply: _Reply) -> None:
        if reply is _DROP:
            self.close_connection = True
            self.connection.close()
            return
        self.send_response(reply.status)
        for name, value in reply.headers.items():
            self.send_header(name, value)
        self.send_header("Content-Length", str(len(reply.body)))
        self.end_headers()
        self.wfile.write(reply.body)

    def log_message(self, format: str, *args: Any) -> None:
        logger.debug("Slack stub %s - %s", self.address_string(), format % args)
