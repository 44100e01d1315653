"""A check of rota's own for schemathesis: every problem answer names a reason the document
states. A 4xx or 5xx answer whose status the operation documents must carry a `code` that the
document's description of that answer lists (rota's /openapi.json names, under each status,
every code a problem of that status may carry)."""

import schemathesis


@schemathesis.check
def problem_code_is_documented(ctx, response, case):
    if response.status_code < 400:
        return None
    if "json" not in response.headers.get("content-type", [""])[0]:
        return None
    responses = case.operation.definition.raw.get("responses", {})
    documented = responses.get(str(response.status_code))
    if documented is None:
        # An undocumented status is status_code_conformance's to report.
        return None
    try:
        body = response.json()
    except ValueError:
        return None
    code = body.get("code") if isinstance(body, dict) else None
    if code is None:
        # The token endpoint answers RFC 6749's {error, error_description}.
        return None
    description = documented.get("description", "")
    if code not in description:
        raise AssertionError(
            f"{response.status_code} {code} is not among the reasons the document gives for "
            f"{response.status_code} here: {description!r}"
        )
    return None
