"""The fake Bedrock server itself: real framing, chunked per event, routes, standalone mode."""
from __future__ import annotations

import http.client
import io
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.fakes import bedrock_server as fake
from tests.fakes.bedrock_server import FakeBedrock, bedrock_server  # noqa: F401 (fixture)

pytestmark = pytest.mark.timeout(60)
ROOT = Path(__file__).resolve().parents[2]


def post(server: FakeBedrock, path: str, body: dict) -> http.client.HTTPResponse:
    conn = http.client.HTTPConnection("127.0.0.1", server.port, timeout=10)
    conn.request("POST", path, body=json.dumps(body),
                 headers={"Content-Type": "application/json", "Authorization": "AWS4 secret"})
    return conn.getresponse()


def test_png_is_a_real_image():
    from PIL import Image

    with Image.open(io.BytesIO(fake.make_png(20, 10))) as img:
        img.load()
        assert img.size == (20, 10) and img.mode == "RGB"
        assert img.getpixel((19, 0))[0] == 255


def test_stream_is_chunked_one_frame_per_event(bedrock_server):
    from botocore.eventstream import EventStreamBuffer

    bedrock_server.use("chart")
    resp = post(bedrock_server, "/agents/A/agentAliases/B/sessions/s1/text", {"inputText": "x"})
    assert resp.status == 200
    assert resp.getheader("Transfer-Encoding") == "chunked"
    assert resp.getheader("Content-Type") == "application/vnd.amazon.eventstream"
    assert resp.getheader("x-amz-bedrock-agent-session-id") == "s1"
    assert resp.getheader("x-amzn-bedrock-agent-content-type") == "application/json"
    buffer = EventStreamBuffer()  # botocore's own decoder checks prelude and message CRCs
    buffer.add_data(resp.read())
    messages = list(buffer)
    kinds = [m.headers[":event-type"] for m in messages]
    assert kinds == [s[1] for s in fake.scenario_chart()]
    assert len(bedrock_server.sent) == len(messages)


def test_http_error_has_json_body_and_error_type_header(bedrock_server):
    bedrock_server.use("denied")
    resp = post(bedrock_server, "/agents/s2", {"inputText": "x"})
    assert resp.status == 403
    assert resp.getheader("x-amzn-errortype").startswith("AccessDeniedException")
    assert "bedrock:InvokeAgent" in json.loads(resp.read())["message"]


def test_records_requests_without_credentials_and_routes_both_operations(bedrock_server):
    post(bedrock_server, "/agents/A/agentAliases/B/sessions/s1/text", {"memoryId": "m1"}).read()
    post(bedrock_server, "/agents/s2", {"foundationModel": "m"}).read()
    first, second = bedrock_server.requests
    assert first.operation == "InvokeAgent" and first.params["agentAliasId"] == "B"
    assert second.operation == "InvokeInlineAgent" and second.params == {"sessionId": "s2"}
    assert "authorization" not in first.headers and first.body == {"memoryId": "m1"}
    resp = post(bedrock_server, "/nowhere/else/x", {})
    assert resp.status == 404


def test_memory_id_header_and_queued_scripts(bedrock_server):
    bedrock_server.queue([fake.chunk("first")])
    resp = post(bedrock_server, "/agents/A/agentAliases/B/sessions/s1/text", {"memoryId": "m1"})
    assert resp.getheader("x-amz-bedrock-agent-memory-id") == "m1"
    assert b"Zmlyc3Q=" in resp.read()  # base64 of "first"
    resp = post(bedrock_server, "/agents/A/agentAliases/B/sessions/s1/text", {})
    assert b"chart.png" in resp.read()  # back to the default script


def test_standalone_server_answers_boto3(tmp_path):
    import boto3

    env = fake.fake_aws_env(dict(os.environ), tmp_path)
    proc = subprocess.Popen([sys.executable, "-m", "tests.fakes.bedrock_server", "--port", "0",
                             "--scenario", "retry"], cwd=ROOT, env=env,
                            stdout=subprocess.PIPE, text=True)
    try:
        line = proc.stdout.readline()
        assert "listening on http://127.0.0.1:" in line
        url = line.split("listening on ")[1].split()[0]
        client = boto3.client("bedrock-agent-runtime", region_name="us-east-1", endpoint_url=url,
                              aws_access_key_id="testing", aws_secret_access_key="testing")
        response = client.invoke_agent(agentId="A", agentAliasId="B", sessionId="s1",
                                       inputText="x", enableTrace=True)
        events = list(response["completion"])
        assert events[-1] == {"chunk": {"bytes": b"The mean close is 101.47."}}
        assert response["sessionId"] == "s1"
    finally:
        proc.terminate()
        assert proc.wait(timeout=10) == 0
