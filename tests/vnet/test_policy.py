"""Rule syntax, precedence and errnos of the network policy."""

from __future__ import annotations

import errno
import ipaddress

import pytest

from umlpy.vnet.policy import Allow, Deny, Mode, Policy, Resolver
from umlpy.vnet.rules import Protocol, Rule, RuleAction, parse_rule, parse_rules
from umlpy.vnet.sockaddr import IPAddress

ip = ipaddress.ip_address
TCP, UDP = Protocol.TCP, Protocol.UDP


def fake_resolver(table: dict[str, list[str]]) -> Resolver:
    def resolve(name: str) -> list[IPAddress]:
        return [ip(a) for a in table.get(name, [])]
    return resolve


@pytest.mark.parametrize(
    ("text", "net", "host", "ports", "proto"),
    [
        ("10.0.0.0/8:443/tcp", "10.0.0.0/8", None, (443, 443), TCP),
        ("1.2.3.4", "1.2.3.4/32", None, None, Protocol.ANY),
        ("example.org:443", None, "example.org", (443, 443), Protocol.ANY),
        ("Example.ORG.", None, "example.org", None, Protocol.ANY),
        ("*:53/udp", None, None, (53, 53), UDP),
        ("*:8000-8100", None, None, (8000, 8100), Protocol.ANY),
        ("2001:db8::/32", "2001:db8::/32", None, None, Protocol.ANY),
        ("::1", "::1/128", None, None, Protocol.ANY),
        ("[::1]:53/udp", "::1/128", None, (53, 53), UDP),
        ("[2001:db8::]/32:443", "2001:db8::/32", None, (443, 443), Protocol.ANY),
        ("[2001:db8::/32]:443/TCP", "2001:db8::/32", None, (443, 443), TCP),
        ("192.168.0.0/16:*/any", "192.168.0.0/16", None, None, Protocol.ANY),
    ],
)
def test_parse_rule(text: str, net: str | None, host: str | None, ports: tuple[int, int] | None,
                    proto: Protocol) -> None:
    rule = parse_rule(text, "allow")
    assert rule.network == (ipaddress.ip_network(net) if net else None)
    assert (rule.host, rule.ports, rule.protocol) == (host, ports, proto)
    assert parse_rule(str(rule).split(" ", 1)[1], "allow") == rule  # str() is re-parsable


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("", "empty rule"),
        ("10.0.0.1/8", "host bits set (did you mean 10.0.0.0/8?)"),
        ("10.0.0.0/33", "not a valid address"),
        ("1.2.3.4:70000", "out of range"),
        ("1.2.3.4:http", "not a number"),
        ("1.2.3.4:90-80", "reversed"),
        ("1.2.3.4:", "empty port"),
        ("1.2.3.4/icmp", "unknown protocol 'icmp'"),
        ("1.2.3.256", "not a valid address"),
        ("exa mple.org", "neither an address nor a valid host name"),
        ("[::1", "without matching"),
        ("[1.2.3.4]:5", "not an IPv6 address"),
        (":443", "missing address"),
    ],
)
def test_rule_errors_are_one_line(text: str, message: str) -> None:
    with pytest.raises(ValueError, match="bad network rule") as info:
        parse_rule(text, "deny")
    assert message in str(info.value)
    assert "\n" not in str(info.value)


def test_bad_action_and_mode() -> None:
    with pytest.raises(ValueError, match="expected allow or deny"):
        parse_rule("1.2.3.4", "permit")
    with pytest.raises(ValueError, match="unknown network mode 'bridge'"):
        Policy("bridge")


def test_mode_none_defaults() -> None:
    p = Policy()
    assert p.mode is Mode.NONE
    d = p.decide(ip("93.184.216.34"), 443, TCP, stream=True)
    assert isinstance(d, Deny) and d.errno == errno.ENETUNREACH and d.rule is None
    # loopback reaches only the guest's own services
    closed = p.decide(ip("127.0.0.1"), 5432, TCP, stream=True)
    assert isinstance(closed, Deny) and closed.errno == errno.ECONNREFUSED
    assert isinstance(p.decide(ip("127.0.0.1"), 8080, TCP, stream=True, guest_service=True), Allow)
    assert isinstance(p.decide(ip("::ffff:127.0.0.1"), 8080, TCP, stream=True, guest_service=True), Allow)
    assert isinstance(p.decide(ip("0.0.0.0"), 8080, TCP, stream=True, guest_service=True), Allow)
    assert isinstance(p.decide(ip("::"), 8080, UDP, stream=False, guest_service=True), Allow)
    # a guest service flag never opens a non-loopback address
    assert isinstance(p.decide(ip("8.8.8.8"), 53, UDP, stream=False, guest_service=True), Deny)
    # ping to loopback is harmless
    assert isinstance(p.decide(ip("127.0.0.1"), 0, Protocol.ICMP, stream=False), Allow)


def test_mode_loopback_and_host() -> None:
    lo = Policy("loopback")
    assert isinstance(lo.decide(ip("127.0.0.53"), 53, UDP, stream=False), Allow)
    assert isinstance(lo.decide(ip("::1"), 5432, TCP, stream=True), Allow)
    far = lo.decide(ip("1.1.1.1"), 53, UDP, stream=False)
    assert isinstance(far, Deny) and far.errno == errno.ENETUNREACH
    assert isinstance(Policy("host").decide(ip("1.1.1.1"), 53, UDP, stream=False), Allow)


def test_last_match_wins_and_errnos() -> None:
    rules = parse_rules([("allow", "10.0.0.0/8"), ("deny", "10.1.2.3"), ("allow", "10.1.2.3:22/tcp")])
    p = Policy("none", rules)
    assert isinstance(p.decide(ip("10.9.9.9"), 80, TCP, stream=True), Allow)
    d = p.decide(ip("10.1.2.3"), 80, TCP, stream=True)
    assert isinstance(d, Deny) and d.errno == errno.ECONNREFUSED and d.rule == rules[1]
    d = p.decide(ip("10.1.2.3"), 80, UDP, stream=False)
    assert isinstance(d, Deny) and d.errno == errno.EPERM
    a = p.decide(ip("10.1.2.3"), 22, TCP, stream=True)
    assert isinstance(a, Allow) and a.rule == rules[2]
    d = p.decide(ip("10.1.2.3"), 22, UDP, stream=False)  # the tcp rule does not cover udp
    assert isinstance(d, Deny) and d.rule == rules[1]
    assert isinstance(p.decide(ip("11.0.0.1"), 80, TCP, stream=True), Deny)  # mode default


def test_deny_beats_mode_host_and_allowlist() -> None:
    p = Policy("host", parse_rules([("deny", "*"), ("allow", "*:53/udp")]))
    assert isinstance(p.decide(ip("9.9.9.9"), 53, UDP, stream=False), Allow)
    assert isinstance(p.decide(ip("9.9.9.9"), 53, TCP, stream=True), Deny)
    # the guest's own services are not subject to rules
    assert isinstance(p.decide(ip("127.0.0.1"), 8080, TCP, stream=True, guest_service=True), Allow)


def test_domain_rules_resolve_and_learn() -> None:
    resolver = fake_resolver({"example.org": ["93.184.216.34", "2606:2800:220:1::1"]})
    p = Policy("none", parse_rules([("allow", "example.org:443")]), resolver=resolver)
    assert p.names == {"example.org"}
    assert isinstance(p.decide(ip("93.184.216.34"), 443, TCP, stream=True), Allow)
    assert isinstance(p.decide(ip("2606:2800:220:1::1"), 443, TCP, stream=True), Allow)
    assert isinstance(p.decide(ip("93.184.216.34"), 80, TCP, stream=True), Deny)
    assert isinstance(p.decide(ip("93.184.216.35"), 443, TCP, stream=True), Deny)
    assert p.learn("EXAMPLE.org.", [ip("::ffff:93.184.216.35")])
    assert not p.learn("example.org", [ip("93.184.216.35")])  # nothing new
    assert not p.learn("other.org", [ip("1.1.1.1")])  # only rule names are kept
    assert isinstance(p.decide(ip("93.184.216.35"), 443, TCP, stream=True), Allow)
    assert p.name_of(ip("93.184.216.35")) == "example.org"
    assert p.addresses_of("example.org") >= {ip("93.184.216.35")}


def test_unresolvable_name_matches_nothing_yet() -> None:
    p = Policy("host", parse_rules([("deny", "nowhere.invalid")]), resolver=fake_resolver({}))
    assert isinstance(p.decide(ip("1.2.3.4"), 80, TCP, stream=True), Allow)
    p.learn("nowhere.invalid", [ip("1.2.3.4")])
    assert isinstance(p.decide(ip("1.2.3.4"), 80, TCP, stream=True), Deny)


def test_rule_str() -> None:
    assert str(Rule(RuleAction.DENY)) == "deny *"
    assert str(parse_rule("10.0.0.0/8:443/tcp", "allow")) == "allow 10.0.0.0/8:443/tcp"
    assert str(parse_rule("[::1]:1-2", "deny")) == "deny [::1]:1-2"
