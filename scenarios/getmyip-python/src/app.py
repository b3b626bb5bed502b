"""Seed 000's function: GET /getmyip asks https://ifconfig.me/ip for the address the
function's traffic leaves from and answers with a small HTML page."""

import os
import urllib.request

IP_SERVICE_URL = os.environ.get("IP_SERVICE_URL", "https://ifconfig.me/ip")


def lambda_handler(event, context):
    if not event.get("path", "").rstrip("/").endswith("/getmyip"):
        return {"statusCode": 404, "headers": {"Content-Type": "text/plain"}, "body": "not found"}
    try:
        with urllib.request.urlopen(IP_SERVICE_URL, timeout=3) as response:
            ip = response.read().decode().strip()
    except Exception as error:  # the page says what failed, as the Rust handler's does
        print(f"getmyip: {type(error).__name__}: {error}")
        body = f'<html><body><p id="error">other: {error}</p></body></html>'
        return {"statusCode": 502, "headers": {"Content-Type": "text/html"}, "body": body}
    print(f"getmyip: egress {ip}")
    body = (
        "<html><head><title>My egress IP</title></head>"
        f'<body><h1>My egress IP</h1><p id="ip">{ip}</p></body></html>'
    )
    return {"statusCode": 200, "headers": {"Content-Type": "text/html"}, "body": body}
