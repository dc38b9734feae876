"""The OpenAPI schema is valid, and the API keeps its promises: property-based tests
generated from the live schema (valid and invalid inputs) find no 5xx and no response
that breaks the schema."""

import os

import pytest
import schemathesis
from django.core.management import call_command
from hypothesis import HealthCheck, settings
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    ignored_auth,
    missing_required_header,
    negative_data_rejection,
    response_headers_conformance,
    response_schema_conformance,
    status_code_conformance,
    unsupported_method,
)

from tests.api.conftest import token_for
from tests.helpers import user_with
from wallets import services
from wallets.actors import Actor

# Bounded so that CI stays fast; raise it locally to search harder.
MAX_EXAMPLES = int(os.environ.get("EWALLET_API_FUZZ_EXAMPLES", "25"))
CHECKS = [
    not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_headers_conformance,
    response_schema_conformance,
    negative_data_rejection,
    missing_required_header,
    unsupported_method,
    ignored_auth,
]


def test_the_schema_validates_without_warnings(tmp_path):
    out = tmp_path / "schema.yaml"
    call_command("spectacular", "--validate", "--fail-on-warn", "--file", str(out))
    text = out.read_text()
    assert "/api/v1/transfers/batch" in text
    assert "application/problem+json" in text
    # A receipt GET never seals: the docs say what to expect instead.
    assert "NOT_CHECKPOINTED" in text and "EWALLET_CHECKPOINT_SECONDS" in text


def test_the_docs_pages_use_local_assets(client):
    for page in ("/api/docs/", "/api/redoc/"):
        html = client.get(page).content.decode()
        assert "cdn.jsdelivr.net" not in html and "unpkg.com" not in html
        assert "/static/drf_spectacular_sidecar/" in html
    assert client.get("/api/schema/", HTTP_ACCEPT="application/json").json()["openapi"]


# Fuzzers send thousands of bad tokens from one address: each must get its own 401.
pytestmark = pytest.mark.usefixtures("bad_tokens_unthrottled")


@pytest.fixture
def root_token(api, audit_key) -> str:
    """A caller who holds every role and works at ICBC, so every endpoint is reachable."""
    root = user_with("root")
    root.is_superuser = True
    root.save()
    services.operator_staff_assign(
        actor=Actor.system(), user=root, operator=api.world.operators["ICBC"]
    )
    return token_for(root, "schemathesis")


def _served_schema():
    from ewallet.wsgi import application

    schema = schemathesis.openapi.from_wsgi("/api/schema/", application)
    schema.config.generation.update(
        modes=["positive", "negative"], max_examples=MAX_EXAMPLES, deterministic=True
    )
    return schema


schema = _served_schema()


@schema.parametrize()
@settings(suppress_health_check=list(HealthCheck), deadline=None)
def test_the_api_keeps_to_its_schema(case, root_token):
    case.call_and_validate(headers={"Authorization": f"Bearer {root_token}"}, checks=CHECKS)
