"""Documents in requests, end to end: text and PDF sources reach the prompt, exactly as
count_tokens counts them; what the model cannot read is a 400."""

from __future__ import annotations

import base64

import anthropic
import pytest

from tests.conftest import Server
from tests.unit.test_documents import make_pdf

MODEL = "smollm2-135m-instruct"


@pytest.fixture(scope="module")
def client(server: Server) -> anthropic.Anthropic:
    return anthropic.Anthropic(base_url=server.base_url, api_key=server.api_key, max_retries=0)


def with_document(source: dict, **fields: object) -> list[dict]:
    return [{"role": "user", "content": [
        {"type": "document", "source": source, **fields},
        {"type": "text", "text": "What is the secret word?"},
    ]}]


def test_pdf_and_text_documents_are_read_and_counted_as_generated(client: anthropic.Anthropic) -> None:
    pdf = base64.b64encode(make_pdf(["The secret word is pineapple.", "Page two says nothing."])).decode()
    sources = [
        {"type": "base64", "media_type": "application/pdf", "data": pdf},
        {"type": "text", "media_type": "text/plain", "data": "The secret word is pineapple."},
    ]
    bare = client.messages.count_tokens(
        model=MODEL, messages=[{"role": "user", "content": "What is the secret word?"}]
    ).input_tokens
    for source in sources:
        messages = with_document(source, title="Notes", context="From the archive")
        counted = client.messages.count_tokens(model=MODEL, messages=messages).input_tokens
        message = client.messages.create(
            model=MODEL, max_tokens=30, messages=messages, extra_body={"temperature": 0}
        )
        assert counted == message.usage.input_tokens > bare + 10
        assert message.content[0].text.strip()


def test_a_document_the_server_cannot_read_is_a_400_naming_it(client: anthropic.Anthropic) -> None:
    cases = [
        ({"type": "url", "url": "https://example.com/a.pdf"}, "does not fetch URLs"),
        ({"type": "base64", "media_type": "application/pdf", "data": base64.b64encode(b"%PDF-1.4 junk").decode()}, "messages.0.content.0.source"),
    ]
    for source, expected in cases:
        with pytest.raises(anthropic.BadRequestError) as caught:
            client.messages.count_tokens(model=MODEL, messages=with_document(source))
        assert expected in str(caught.value)
    with pytest.raises(anthropic.BadRequestError, match="citations are not supported"):
        client.messages.create(
            model=MODEL, max_tokens=5, messages=with_document(
                {"type": "text", "media_type": "text/plain", "data": "x"}, citations={"enabled": True}
            ),
        )
