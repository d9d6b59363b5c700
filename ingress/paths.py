"""Path parameters shared by the Nooks app's routes: a team id and a rep email, validated once."""

from __future__ import annotations

import re

from starlette.requests import Request

from ingress.errors import ApiError

TEAM_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,127}$")
# No control characters (a NUL would make "ana@acme.com\x00" a rep of its own), no "/", one "@".
EMAIL = re.compile(r"^[^@\s/\x00-\x1f\x7f]{1,64}@[^@\s/\x00-\x1f\x7f]{1,189}$")


def team_and_rep(request: Request) -> tuple[str, str]:
    """(team_id, rep_email lower-cased); a malformed one is a 422."""
    team_id = request.path_params.get("team_id", "")
    rep_email = request.path_params.get("rep_email", "").strip().lower()
    if not TEAM_ID.match(team_id):
        raise ApiError(422, "invalid_team_id", "team_id must be 1-128 letters, digits, '_', '.' or '-'")
    if "rep_email" in request.path_params and not EMAIL.match(rep_email):
        raise ApiError(422, "invalid_rep_email", "rep_email must be an email address")
    return team_id, rep_email
