import pytest

from accounts.keys import generate_key, hash_secret, secret_matches, split_key
from accounts.net import client_ip, ip_in_networks, normalize_networks, parse_network
from accounts.ratelimit import Rate, parse_rate


def test_generated_key_splits_back_into_prefix_and_secret():
    raw, prefix, secret_hash = generate_key()
    parsed = split_key(raw)
    assert parsed is not None
    assert parsed[0] == prefix
    assert secret_matches(parsed[1], secret_hash)
    assert secret_hash == hash_secret(parsed[1])
    assert parsed[1] not in secret_hash


@pytest.mark.parametrize(
    "raw",
    ["", "hk_", "hk_abc_def", "sk_AAAAAAAAAA_" + "a" * 40, "hk_AAAAAAAAAA_" + "a" * 39, "hk_AAAAAAAAA!_" + "a" * 40],
)
def test_malformed_keys_do_not_split(raw):
    assert split_key(raw) is None


def test_two_generated_keys_differ():
    assert generate_key()[0] != generate_key()[0]


@pytest.mark.parametrize(
    ("value", "expected"),
    [("203.0.113.7", "203.0.113.7/32"), ("10.1.2.3/8", "10.0.0.0/8"), ("2001:db8::1", "2001:db8::1/128")],
)
def test_networks_are_normalized(value, expected):
    assert str(parse_network(value)) == expected


@pytest.mark.parametrize("value", ["10.0.0.0/33", "not-an-ip", "300.1.1.1", ""])
def test_malformed_networks_are_refused_with_the_value_named(value):
    with pytest.raises(ValueError, match="not a valid IP address or CIDR"):
        normalize_networks([value])


def test_ip_in_networks_handles_cidrs_and_ipv4_mapped_ipv6():
    assert ip_in_networks("10.2.3.4", ["10.0.0.0/8"])
    assert ip_in_networks("::ffff:10.2.3.4", ["10.0.0.0/8"])
    assert not ip_in_networks("11.2.3.4", ["10.0.0.0/8"])
    assert not ip_in_networks("garbage", ["10.0.0.0/8"])


def test_forwarded_for_is_ignored_from_an_untrusted_peer():
    assert client_ip("198.51.100.9", "10.0.0.5", trusted_proxies=["10.0.0.0/8"]) == "198.51.100.9"


def test_forwarded_for_is_read_from_the_right_past_trusted_proxies():
    # The client forged "1.2.3.4"; our proxy 10.0.0.1 appended the address it really saw.
    chain = "1.2.3.4, 198.51.100.9, 10.0.0.2"
    assert client_ip("10.0.0.1", chain, trusted_proxies=["10.0.0.0/8"]) == "198.51.100.9"


def test_forwarded_for_stops_at_a_malformed_hop():
    assert client_ip("10.0.0.1", "1.2.3.4, junk, 10.0.0.2", trusted_proxies=["10.0.0.0/8"]) == "10.0.0.2"


@pytest.mark.parametrize(
    ("text", "rate"),
    [("10/15m", Rate(10, 900)), ("3600/h", Rate(3600, 3600)), ("100/30s", Rate(100, 30)), ("5/d", Rate(5, 86400))],
)
def test_parse_rate(text, rate):
    assert parse_rate(text) == rate


@pytest.mark.parametrize("text", ["", "10", "10/", "ten/m", "10/15x", "0/m", "10/0m", "-1/m"])
def test_parse_rate_refuses_malformed_rates(text):
    with pytest.raises(ValueError, match=r"rate|at least"):
        parse_rate(text)
