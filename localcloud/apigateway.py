"""API Gateway on the local cloud: the REST APIs of the template, served over HTTP on 127.0.0.1.

moto cannot create REST APIs from CloudFormation, nor invoke Lambda proxy integrations. Here a
request to http://127.0.0.1:<port>/<stage>/<path> is matched against the API's OpenAPI body as
the template produced it, turned into the API Gateway proxy event (REST, payload 1.0) that
API Gateway would send, and given to the integration's Lambda function, in-process. Throttling
and authorizers are not emulated; a path or stage the API lacks gets API Gateway's 403.
"""

from __future__ import annotations

import base64
import json
import re
import threading
import time
import uuid
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qsl, urlsplit

from moto.awslambda.models import lambda_backends

from localcloud import patches

PAYLOAD_LIMIT_BYTES = 10 * 1024 * 1024  # API Gateway's own limit
_ANY = "x-amazon-apigateway-any-method"


@dataclass(frozen=True)
class Route:
    """One path template and method of an API, and the function behind it."""

    template: str
    pattern: re.Pattern[str]
    method: str
    function: str


@dataclass(frozen=True)
class HttpRequest:
    """One HTTP request as it reached the local API Gateway."""

    method: str
    target: str  # /<stage>/<path>?<query>
    headers: dict[str, str]
    body: bytes
    source_ip: str

    @property
    def stage(self) -> str:
        return (urlsplit(self.target).path + "//").split("/", 2)[1]

    @property
    def path(self) -> str:
        return "/" + (urlsplit(self.target).path + "//").split("/", 2)[2].rstrip("/")

    @property
    def query(self) -> str:
        return urlsplit(self.target).query


def routes_of(api: patches.RestApi) -> list[Route]:
    """The routes an OpenAPI body declares with Lambda proxy integrations."""
    found = []
    for template, methods in api.body.get("paths", {}).items():
        regex = "^" + re.sub(r"\\\{([^}/]+)\\\}", r"(?P<\1>[^/]+)", re.escape(template)) + "$"
        for method, operation in methods.items():
            uri = operation.get("x-amazon-apigateway-integration", {}).get("uri", "")
            match = re.search(r"functions/(arn:[^/]+)/invocations", str(uri))
            if match:
                verb = "ANY" if method == _ANY else method.upper()
                found.append(Route(template, re.compile(regex), verb, match[1]))
    return found


class ApiGateway:
    """Serves every REST API the local cloud's stacks declared."""

    def __init__(self, cloud: Any) -> None:
        self._cloud = cloud
        handler = type("Handler", (_Handler,), {"gateway": self})
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
        self.port = self._server.server_address[1]
        # shutdown() waits for the loop to look again: every 0.05 s, not serve_forever's 0.5 s
        # (a local cloud is stopped after every test).
        threading.Thread(
            target=self._server.serve_forever,
            kwargs={"poll_interval": 0.05},
            name="local-apigateway",
            daemon=True,
        ).start()

    def close(self) -> None:
        self._server.shutdown()
        self._server.server_close()
        patches.rest_apis.clear()

    def url(self, api_id: str) -> str:
        """The base URL of an API's (first) stage."""
        api = patches.rest_apis[api_id]
        return f"http://127.0.0.1:{self.port}/{api.stages[0]}"

    def localize(self, value: str) -> str:
        """An execute-api URL of a local API, as this server's URL (other values unchanged)."""

        def local(match: re.Match[str]) -> str:
            if match["id"] not in patches.rest_apis:
                return match[0]
            return f"http://127.0.0.1:{self.port}/{match['stage']}"

        return re.sub(
            r"https://(?P<id>[a-z0-9]+)\.execute-api\.[^/]+/(?P<stage>[A-Za-z0-9_]+)", local, value
        )

    def handle(self, request: HttpRequest) -> tuple[int, dict[str, str], bytes]:
        """Answer one HTTP request as API Gateway and the function behind it would."""
        routed = self.route(request)
        if routed is None:
            return (
                403,
                {"Content-Type": "application/json"},
                b'{"message":"Missing Authentication Token"}',
            )
        return self.invoke(*routed)

    def route(self, request: HttpRequest) -> tuple[str, dict[str, Any]] | None:
        """The function a request reaches and the proxy event it is given (None: no route)."""
        for api in patches.rest_apis.values():
            if request.stage not in api.stages:
                continue
            for route in routes_of(api):
                matched = route.pattern.match(request.path)
                if matched and route.method in (request.method, "ANY"):
                    return route.function, _proxy_event(api, route, request, matched.groupdict())
        return None

    def invoke(self, function_arn: str, event: dict[str, Any]) -> tuple[int, dict[str, str], bytes]:
        """Give a proxy event to the function, and answer with what it returned (API Gateway's
        502 if it raised or returned no response)."""
        name = function_arn.split(":function:")[1].split(":", maxsplit=1)[0]
        fn = lambda_backends[self._cloud.account][self._cloud.region].get_function(name)
        payload, errored, _ = patches.invoke_in_process(fn, event)
        try:
            answer = json.loads(payload)
        except ValueError:
            answer = {}
        if errored or not isinstance(answer, dict) or "statusCode" not in answer:
            return (
                502,
                {"Content-Type": "application/json"},
                b'{"message": "Internal server error"}',
            )
        headers = {k: str(v) for k, v in (answer.get("headers") or {}).items()}
        for key, values in (answer.get("multiValueHeaders") or {}).items():
            headers[key] = ", ".join(str(v) for v in values)
        body = answer.get("body") or ""
        raw = base64.b64decode(body) if answer.get("isBase64Encoded") else str(body).encode()
        return int(answer["statusCode"]), headers, raw


def _proxy_event(
    api: patches.RestApi, route: Route, request: HttpRequest, path_parameters: dict[str, str]
) -> dict[str, Any]:
    """The REST API proxy event (payload format 1.0) API Gateway sends a Lambda function."""
    method, path, stage, headers, body = (
        request.method, request.path, request.stage, request.headers, request.body
    )  # fmt: skip
    pairs = parse_qsl(request.query, keep_blank_values=True)
    text = body.decode("utf-8", errors="replace")
    binary = text.encode() != body
    return {
        "resource": route.template,
        "path": path,
        "httpMethod": method,
        "headers": headers or None,
        "multiValueHeaders": {k: [v] for k, v in headers.items()} or None,
        "queryStringParameters": dict(pairs) or None,
        "multiValueQueryStringParameters": {k: [v for kk, v in pairs if kk == k] for k, _ in pairs}
        or None,
        "pathParameters": path_parameters or None,
        "stageVariables": None,
        "requestContext": {
            "resourcePath": route.template,
            "httpMethod": method,
            "path": f"/{stage}{path}",
            "stage": stage,
            "requestId": str(uuid.uuid4()),
            "requestTimeEpoch": int(time.time() * 1000),
            "apiId": api.id,
            "identity": {"sourceIp": request.source_ip, "userAgent": headers.get("User-Agent", "")},
        },
        "body": base64.b64encode(body).decode() if binary else (text or None),
        "isBase64Encoded": binary,
    }


class _Handler(BaseHTTPRequestHandler):
    gateway: ApiGateway
    protocol_version = "HTTP/1.1"

    def _answer(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        if length > PAYLOAD_LIMIT_BYTES:
            self._send(413, {"Content-Type": "application/json"}, b'{"message":"Request Too Long"}')
            return
        body = self.rfile.read(length) if length else b""
        headers = {k: v for k, v in self.headers.items()}
        request = HttpRequest(self.command, self.path, headers, body, self.client_address[0])
        status, out_headers, out = self.gateway.handle(request)
        self._send(status, out_headers, b"" if self.command == "HEAD" else out, len(out))

    def _send(
        self, status: int, headers: dict[str, str], body: bytes, length: int | None = None
    ) -> None:
        self.send_response(status)
        for key, value in headers.items():
            self.send_header(key, value)
        self.send_header("Content-Length", str(len(body) if length is None else length))
        self.end_headers()
        self.wfile.write(body)

    do_GET = do_POST = do_PUT = do_PATCH = do_DELETE = do_OPTIONS = do_HEAD = _answer

    def log_message(self, format: str, *args: Any) -> None:
        pass
