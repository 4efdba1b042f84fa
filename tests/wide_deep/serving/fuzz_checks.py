"""A Schemathesis check loaded by `test_rest_fuzz.py` through SCHEMATHESIS_HOOKS: every 4xx names what is wrong."""

import json

import schemathesis


@schemathesis.check
def error_is_a_json_object_naming_what_is_wrong(ctx, response, case):
    """A 4xx answer is a JSON object with a non-empty `error` text, whatever the request looked like."""
    if 400 <= response.status_code < 500:
        body = json.loads(response.content)
        assert isinstance(body, dict) and str(body.get("error", "")).strip(), f"{response.status_code}: {body}"
