"""The tokens of reminder mail, written without itsdangerous's per-call layers (links.py `_ReusedSerializer.dumps`),
verify with itsdangerous and the other way round: obligation links (sign-in) and unsubscribe links. A payload over
200 bytes gives itsdangerous's token byte for byte; a shorter one (every reminder's) is signed uncompressed, which
itsdangerous reads as well, because zlib's calls hand the interpreter lock over twice per link."""

from __future__ import annotations

import secrets
import zlib
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from itsdangerous import BadSignature, URLSafeSerializer

from thidua.links import (
    _COMPACT_JSON,
    LINK_SALT,
    OBLIGATION_LINK_TTL,
    PURPOSE_OBLIGATION,
    LinkClaims,
    link_url,
    make_obligation_link,
    read_link,
    reused_serializer,
    SHORT_PAYLOAD,
    sign_claims,
)
from thidua.services.optout import read_token, unsubscribe_token, unsubscribe_url
from thidua.settings import Settings

KEY = "khoa-ky-lien-ket-cua-bo-kiem-thu-0123456789"
OTHER_KEY = "mot-khoa-khac-cua-bo-kiem-thu-9876543210abcd"
NOW = datetime(2023, 6, 12, 1, 0, tzinfo=UTC)

PAYLOADS = [
    ["cdcs@example.vn", 1, 42],
    ["cdcs@example.vn", 1, 0],
    {"j": "x" * 22, "p": "obligation", "e": "bdh-d1-1@example.vn", "x": 1700000000, "u": 7, "a": 42},
    {"j": secrets.token_urlsafe(16), "p": "login", "e": "a@b.vn", "x": 1, "n": "/don-vi/nghia-vu/3?x=1&y=ư"},
    # compressible: zlib makes it shorter, the token starts with "."
    {"j": "a" * 22, "p": "obligation", "e": "congdoan" * 12 + "@example.vn", "x": 1700000000, "u": 7, "a": 42},
    {"j": "b" * 22, "p": "obligation", "e": "cd" * 150 + "@example.vn", "x": 1, "u": 1, "a": 2},  # long: zlib's own
    ["Công Đoàn <cd@example.vn>", 2**40, -1],
    "chuỗi",
    {},
]


def _itsdangerous(key: str, salt: str) -> URLSafeSerializer:
    """A fresh serializer as itsdangerous makes it (its own default HMAC-SHA1 signer)."""
    return URLSafeSerializer(key, salt=salt)


def _size(payload: object) -> int:
    return len(_COMPACT_JSON.encode(payload).encode("utf-8"))


@pytest.mark.parametrize("salt", [LINK_SALT, "huy-nhan-thu"])
def test_tokens_are_itsdangerous_tokens_and_verify_both_ways(salt: str) -> None:
    ours, theirs = reused_serializer(KEY, salt), _itsdangerous(KEY, salt)
    long_compressed = 0
    for payload in PAYLOADS:
        token = ours.dumps(payload)
        assert ours.loads(token) == theirs.loads(token) == payload
        assert ours.loads(theirs.dumps(payload)) == payload
        if _size(payload) > SHORT_PAYLOAD:
            assert token == theirs.dumps(payload)  # itsdangerous's token, zlib included when it is shorter
            long_compressed += token.startswith(".")
        else:
            assert not token.startswith(".")  # never compressed, even where zlib would be shorter
    assert long_compressed  # the compressed branch was written


def test_a_short_payload_is_signed_without_calling_zlib(monkeypatch: pytest.MonkeyPatch) -> None:
    """zlib releases the interpreter lock inside every call: a dispatch thread signing a link would hand the lock
    to the event loop and wait to get it back, twice per mail. Short payloads never call it."""
    compressible = {"j": "a" * 22, "p": "obligation", "e": "congdoan" * 12 + "@example.vn", "x": 1, "u": 7, "a": 42}
    assert _size(compressible) <= SHORT_PAYLOAD
    assert len(zlib.compress(_COMPACT_JSON.encode(compressible).encode())) < _size(compressible) - 1

    def no_zlib(*args: object, **kwargs: object) -> bytes:
        raise AssertionError("zlib called for a short payload")

    monkeypatch.setattr(zlib, "compress", no_zlib)
    monkeypatch.setattr(zlib, "compressobj", no_zlib)
    ours = reused_serializer(KEY, LINK_SALT)
    token = ours.dumps(compressible)
    monkeypatch.undo()
    assert _itsdangerous(KEY, LINK_SALT).loads(token) == compressible


@pytest.mark.parametrize("salt", [LINK_SALT, "huy-nhan-thu"])
def test_a_token_does_not_verify_with_another_key_or_salt(salt: str) -> None:
    token = reused_serializer(KEY, salt).dumps(["cdcs@example.vn", 1, 42])
    other_salt = "huy-nhan-thu" if salt == LINK_SALT else LINK_SALT
    for wrong in (_itsdangerous(OTHER_KEY, salt), _itsdangerous(KEY, other_salt), reused_serializer(OTHER_KEY, salt)):
        with pytest.raises(BadSignature):
            wrong.loads(token)


def _settings(tmp_path: Path, key: str = KEY) -> Settings:
    return Settings(data_dir=tmp_path / "data", secret_key=key, base_url="https://thidua.example.vn/")


def test_obligation_link_is_the_signed_claims_and_reads_back(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    settings = _settings(tmp_path)
    monkeypatch.setattr(secrets, "token_urlsafe", lambda n=None: "jti-co-dinh-cho-kiem-thu")
    url = make_obligation_link(settings, "  CDCS@Example.vn ", 7, 42, now=NOW)
    claims = LinkClaims(
        jti="jti-co-dinh-cho-kiem-thu",
        purpose=PURPOSE_OBLIGATION,
        email="cdcs@example.vn",
        expires_at=NOW + OBLIGATION_LINK_TTL,
        unit_id=7,
        assignment_id=42,
    )
    # the link the claims object makes through sign_claims and link_url (quote and all)
    assert url == link_url(settings, "/don-vi/nghia-vu/42", sign_claims(settings, claims))
    assert url.startswith("https://thidua.example.vn/don-vi/nghia-vu/42?t=")
    token = url.split("?t=", 1)[1]
    assert read_link(settings, token, now=NOW) == claims
    assert _itsdangerous(KEY, LINK_SALT).loads(token) == {
        "j": "jti-co-dinh-cho-kiem-thu",
        "p": "obligation",
        "e": "cdcs@example.vn",
        "x": int((NOW + OBLIGATION_LINK_TTL).timestamp()),
        "u": 7,
        "a": 42,
    }
    # and a token itsdangerous signs for the same claims reads back the same
    assert read_link(settings, _itsdangerous(KEY, LINK_SALT).dumps(_itsdangerous(KEY, LINK_SALT).loads(token)), now=NOW)
    # same maximum age as before: expired 45 days after signing
    from thidua.links import LinkExpired

    with pytest.raises(LinkExpired):
        read_link(settings, token, now=NOW + timedelta(days=45))


def test_unsubscribe_tokens_are_remembered_per_key(tmp_path: Path) -> None:
    one, other = _settings(tmp_path, KEY), _settings(tmp_path, OTHER_KEY)
    first = unsubscribe_token(one, "CDCS@example.vn ", 1, 42)
    assert first == _itsdangerous(KEY, "huy-nhan-thu").dumps(["cdcs@example.vn", 1, 42])
    assert unsubscribe_token(one, "cdcs@example.vn", 1, 42) == first
    # the same address, campaign and obligation under another key: that key's token, not the remembered one
    second = unsubscribe_token(other, "cdcs@example.vn", 1, 42)
    assert second == _itsdangerous(OTHER_KEY, "huy-nhan-thu").dumps(["cdcs@example.vn", 1, 42]) != first
    assert unsubscribe_token(one, "cdcs@example.vn", 1, 42) == first
    assert unsubscribe_token(one, "cdcs@example.vn", 1, None) == _itsdangerous(KEY, "huy-nhan-thu").dumps(
        ["cdcs@example.vn", 1, 0]
    )
    url = unsubscribe_url(one, "cdcs@example.vn", 1, 42)
    assert url == f"https://thidua.example.vn/huy-nhan-thu/{first}"
    claims = read_token(one, first)
    assert (claims.recipient, claims.campaign_id, claims.assignment_id) == ("cdcs@example.vn", 1, 42)
    from thidua.services.optout import BadUnsubscribeLink

    with pytest.raises(BadUnsubscribeLink):
        read_token(other, first)
