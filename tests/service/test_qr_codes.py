"""A link's QR code: it encodes the short URL marked as scanned, in the colours, size and
error correction asked for, and refuses bad options with a problem naming them."""

from __future__ import annotations

import base64
import io
import json
import xml.etree.ElementTree as ElementTree
from typing import Any

import pytest
import zxingcpp
from PIL import Image

from tests.support.links import post


def created(client: Any, headers: dict[str, str]) -> dict[str, Any]:
    answer = post(client, headers, {"url": "https://example.com/poster"})
    assert answer.status_code == 201, answer.body
    return dict(json.loads(answer.body))


def png_bytes(answer: Any) -> bytes:
    body = answer.body
    # Chalice's test client hands a binary answer over base64-encoded, as API Gateway does.
    return body if body.startswith(b"\x89PNG") else base64.b64decode(body)


def decoded(image: bytes) -> list[str]:
    return [found.text for found in zxingcpp.read_barcodes(Image.open(io.BytesIO(image)))]


def test_the_png_decodes_to_the_short_url_marked_as_a_scan(client, auth_headers):
    link = created(client, auth_headers)
    headers = {**auth_headers, "Accept": "image/png"}
    path = f"/api/links/{link['code']}/qr"
    answer = client.http.get(f"{path}?format=png&ecc=H&size=6", headers=headers)
    assert answer.status_code == 200, answer.body
    assert answer.headers["Content-Type"] == "image/png"
    assert answer.headers["Content-Disposition"] == f'inline; filename="{link["code"]}.png"'
    image = png_bytes(answer)
    assert decoded(image) == [link["short_url"] + "?qr=1"]
    modules = Image.open(io.BytesIO(image)).size[0] // 6
    small = png_bytes(client.http.get(f"{path}?format=png&ecc=L&size=6", headers=headers))
    assert Image.open(io.BytesIO(small)).size[0] // 6 < modules  # less correction, fewer modules


def test_the_svg_has_the_colours_and_margin_asked_for(client, auth_headers):
    link = created(client, auth_headers)
    answer = client.http.get(
        f"/api/links/{link['code']}/qr?fg=%23123456&bg=transparent&margin=0&size=2",
        headers=auth_headers,
    )
    assert answer.status_code == 200, answer.body
    assert answer.headers["Content-Type"] == "image/svg+xml"
    svg = answer.body.decode()
    root = ElementTree.fromstring(svg)  # noqa: S314 (our own answer)
    assert root.tag.endswith("svg")
    assert "#123456" in svg and "#fff" not in svg  # no background drawn
    framed = client.http.get(f"/api/links/{link['code']}/qr?margin=4&size=2", headers=auth_headers)
    framed_root = ElementTree.fromstring(framed.body.decode())  # noqa: S314 (our own answer)
    assert int(framed_root.attrib["width"]) == int(root.attrib["width"]) + 2 * 4 * 2


@pytest.mark.parametrize(
    ("query", "field"),
    [
        ("format=gif", "format"),
        ("ecc=X", "ecc"),
        ("size=0", "size"),
        ("size=41", "size"),
        ("size=abc", "size"),
        ("margin=17", "margin"),
        ("fg=red", "fg"),
        ("bg=%2312", "bg"),
        ("colour=%23000", "colour"),
    ],
)
def test_bad_options_are_a_problem_naming_them(client, auth_headers, query, field):
    link = created(client, auth_headers)
    answer = client.http.get(f"/api/links/{link['code']}/qr?{query}", headers=auth_headers)
    assert answer.status_code == 400
    assert answer.headers["Content-Type"] == "application/problem+json"
    assert json.loads(answer.body)["field"] == field


def test_unknown_codes_are_404_and_the_key_is_required(client, auth_headers):
    assert client.http.get("/api/links/nope123/qr", headers=auth_headers).status_code == 404
    link = created(client, auth_headers)
    assert client.http.get(f"/api/links/{link['code']}/qr").status_code == 401
