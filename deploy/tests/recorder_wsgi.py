"""A stand-in app for real gunicorn in the nginx retry tests: appends "NAME METHOD PATH" to
$RECORDER_LOG for every request, then answers 200 JSON, or with RECORDER_HANG set hangs (so the
test can SIGKILL the server while nginx waits for the answer)."""

import json
import os
import time


def app(environ, start_response):
    name = os.environ["RECORDER_NAME"]
    with open(os.environ["RECORDER_LOG"], "a") as f:
        f.write(f"{name} {environ['REQUEST_METHOD']} {environ['PATH_INFO']}\n")
    if os.environ.get("RECORDER_HANG"):
        time.sleep(30)  # bounded: the test kills the server long before
    body = json.dumps({"server": name}).encode()
    start_response("200 OK", [("Content-Type", "application/json"), ("Content-Length", str(len(body)))])
    return [body]
