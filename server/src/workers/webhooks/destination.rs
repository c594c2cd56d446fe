//! Where a webhook may be sent: the URL rules a destination must meet when it is configured, and
//! the address classes a delivery must not reach (server-side request forgery).
//!
//! The URL rules are the model registry's (Alibaba Cloud ACR): `http` or `https` only; `http://`
//! on port 80 or one of a short list of others; `https://` on 443 only; no credentials in the
//! URL, no fragment, a host, and a bounded length. Each refusal is its own `DestinationError`
//! variant whose text names the rule, because an operator reads it in the management API's
//! answer.
//!
//! Invariants: `Destination::parse` accepts only URLs that meet every rule, and a `Destination`'s
//! `host` is the `url` crate's normalised form (lowercase, IDNA-encoded, IPv4 in dotted form
//! however it was written), which is the form the client resolves and connects to.
//! This module does no I/O: no DNS, no sockets. Whether a *name* resolves to a private address
//! is the client's check, made on the addresses it then connects to.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

/// The longest webhook URL accepted, in bytes.
pub const URL_BYTES_MAX: usize = 2048;

/// Ports below 1025 that an `http://` URL may use (80 is the default).
pub const HTTP_PORTS_LOW_ALLOWED: &[u16] = &[80, 21, 70, 210, 280, 443, 488, 591, 777];
/// The first port of the range `http://` URLs may use without being listed.
pub const HTTP_PORT_RANGE_FIRST: u16 = 1025;
/// The only port an `https://` URL may use.
pub const HTTPS_PORT: u16 = 443;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Scheme {
    Http,
    Https,
}

impl Scheme {
    pub fn as_str(self) -> &'static str {
        match self {
            Scheme::Http => "http",
            Scheme::Https => "https",
        }
    }

    pub fn default_port(self) -> u16 {
        match self {
            Scheme::Http => 80,
            Scheme::Https => HTTPS_PORT,
        }
    }
}

/// A webhook URL that met every rule, split the way the client uses it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Destination {
    pub scheme: Scheme,
    /// Lowercase; an IPv6 literal without brackets.
    pub host: String,
    pub port: u16,
    /// The request target: the path (at least `/`) and `?query` if there is one.
    pub path_and_query: String,
}

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum DestinationError {
    #[error("the URL is {bytes} bytes long; at most {URL_BYTES_MAX} are allowed")]
    TooLong { bytes: usize },
    #[error("the URL does not parse: {error}")]
    Unparsable { error: url::ParseError },
    #[error("the URL scheme must be http or https, not {scheme}")]
    SchemeNotAllowed { scheme: String },
    #[error(
        "http:// URLs may use port 80, 21, 70, 210, 280, 443, 488, 591, 777 or 1025-65535, not {port}"
    )]
    HttpPortNotAllowed { port: u16 },
    #[error("https:// URLs may only use port 443, not {port}")]
    HttpsPortNotAllowed { port: u16 },
    #[error("the URL must not contain a user name or password (user:pass@)")]
    CredentialsInUrl,
    #[error("the URL must not contain a fragment (#...)")]
    FragmentInUrl,
    #[error("the URL must name a host")]
    HostMissing,
}

impl Destination {
    /// Checks `url` against every rule and splits it.
    pub fn parse(url: &str) -> Result<Destination, DestinationError> {
        if url.len() > URL_BYTES_MAX {
            return Err(DestinationError::TooLong { bytes: url.len() });
        }
        let parsed = match url::Url::parse(url) {
            Ok(parsed) => parsed,
            // `http://` and `https://` URLs with nothing where the host goes.
            Err(url::ParseError::EmptyHost) => return Err(DestinationError::HostMissing),
            Err(error) => return Err(DestinationError::Unparsable { error }),
        };
        let scheme = match parsed.scheme() {
            "http" => Scheme::Http,
            "https" => Scheme::Https,
            other => {
                return Err(DestinationError::SchemeNotAllowed {
                    scheme: other.to_string(),
                })
            }
        };
        if !parsed.username().is_empty() || parsed.password().is_some() {
            return Err(DestinationError::CredentialsInUrl);
        }
        if parsed.fragment().is_some() {
            return Err(DestinationError::FragmentInUrl);
        }
        let host = match parsed.host() {
            Some(url::Host::Domain(name)) if !name.is_empty() => name.to_ascii_lowercase(),
            Some(url::Host::Ipv4(ip)) => ip.to_string(),
            Some(url::Host::Ipv6(ip)) => ip.to_string(),
            _ => return Err(DestinationError::HostMissing),
        };
        // `port()` is `None` when the URL gives none or gives the scheme's default.
        let port = parsed.port().unwrap_or(scheme.default_port());
        match scheme {
            Scheme::Http if !http_port_allowed(port) => {
                return Err(DestinationError::HttpPortNotAllowed { port })
            }
            Scheme::Https if port != HTTPS_PORT => {
                return Err(DestinationError::HttpsPortNotAllowed { port })
            }
            _ => {}
        }
        let mut path_and_query = parsed.path().to_string();
        if path_and_query.is_empty() {
            path_and_query.push('/');
        }
        if let Some(query) = parsed.query() {
            path_and_query.push('?');
            path_and_query.push_str(query);
        }
        Ok(Destination {
            scheme,
            host,
            port,
            path_and_query,
        })
    }

    /// `host:port`, an IPv6 literal in brackets.
    pub fn authority(&self) -> String {
        if self.host.contains(':') {
            format!("[{}]:{}", self.host, self.port)
        } else {
            format!("{}:{}", self.host, self.port)
        }
    }

    /// The host as an address when it is an IP literal.
    pub fn host_ip(&self) -> Option<IpAddr> {
        self.host.parse().ok()
    }
}

fn http_port_allowed(port: u16) -> bool {
    port >= HTTP_PORT_RANGE_FIRST || HTTP_PORTS_LOW_ALLOWED.contains(&port)
}

/// Whether a webhook must not reach `ip` unless the operator allows private destinations:
/// loopback, "this network", private, shared (CGNAT), link-local, IETF protocol assignments,
/// benchmarking, multicast, reserved and broadcast IPv4; loopback, unspecified, link-local,
/// unique-local and multicast IPv6. An IPv4-mapped (`::ffff:a.b.c.d`) or NAT64
/// (`64:ff9b::a.b.c.d`) IPv6 address is classified as the IPv4 address it carries, since that is
/// where a packet to it ends up.
pub fn is_private(ip: IpAddr) -> bool {
    match ip {
        IpAddr::V4(v4) => is_private_v4(v4),
        IpAddr::V6(v6) => is_private_v6(v6),
    }
}

/// (network, prefix length) of every private IPv4 block.
const PRIVATE_V4_BLOCKS: &[([u8; 4], u8)] = &[
    ([0, 0, 0, 0], 8),      // "this network"
    ([10, 0, 0, 0], 8),     // private
    ([100, 64, 0, 0], 10),  // shared address space (CGNAT)
    ([127, 0, 0, 0], 8),    // loopback
    ([169, 254, 0, 0], 16), // link-local
    ([172, 16, 0, 0], 12),  // private
    ([192, 0, 0, 0], 24),   // IETF protocol assignments
    ([192, 168, 0, 0], 16), // private
    ([198, 18, 0, 0], 15),  // benchmarking
    ([224, 0, 0, 0], 4),    // multicast
    ([240, 0, 0, 0], 4),    // reserved, and 255.255.255.255 broadcast
];

fn is_private_v4(ip: Ipv4Addr) -> bool {
    let ip = u32::from(ip);
    PRIVATE_V4_BLOCKS.iter().any(|&(network, prefix_len)| {
        let mask = u32::MAX << (32 - u32::from(prefix_len));
        ip & mask == u32::from(Ipv4Addr::from(network))
    })
}

/// The NAT64 well-known prefix `64:ff9b::/96`.
const NAT64_PREFIX: [u16; 6] = [0x64, 0xff9b, 0, 0, 0, 0];

fn is_private_v6(ip: Ipv6Addr) -> bool {
    if let Some(v4) = ip.to_ipv4_mapped() {
        return is_private_v4(v4);
    }
    let segments = ip.segments();
    if segments[..6] == NAT64_PREFIX {
        let octets = ip.octets();
        return is_private_v4(Ipv4Addr::new(
            octets[12], octets[13], octets[14], octets[15],
        ));
    }
    ip.is_loopback()
        || ip.is_unspecified()
        || segments[0] & 0xffc0 == 0xfe80 // link-local fe80::/10
        || segments[0] & 0xfe00 == 0xfc00 // unique local fc00::/7
        || segments[0] & 0xff00 == 0xff00 // multicast ff00::/8
}

/// Whether `host` is a name that always means this machine (`localhost`, `*.localhost`, with or
/// without the trailing dot), refused without asking DNS.
pub fn refused_name(host: &str) -> bool {
    let host = host.to_ascii_lowercase();
    let host = host.strip_suffix('.').unwrap_or(&host);
    host == "localhost" || host.ends_with(".localhost")
}

#[cfg(test)]
mod tests {
    use super::*;

    /// (scheme, host, port, path_and_query) of an accepted URL.
    type Parts = (Scheme, &'static str, u16, &'static str);

    fn check_parse(url: &str, expected: Result<Parts, DestinationError>) {
        let got = Destination::parse(url);
        let expected = expected.map(|(scheme, host, port, path_and_query)| Destination {
            scheme,
            host: host.to_string(),
            port,
            path_and_query: path_and_query.to_string(),
        });
        assert_eq!(got, expected, "{url}");
    }

    #[test]
    fn accepted_urls_split_into_their_parts() {
        use Scheme::*;
        let table: &[(&str, Parts)] = &[
            ("http://example.com", (Http, "example.com", 80, "/")),
            ("http://example.com:80/", (Http, "example.com", 80, "/")),
            (
                "HTTP://Example.COM/Hook",
                (Http, "example.com", 80, "/Hook"),
            ),
            ("http://example.com:21/", (Http, "example.com", 21, "/")),
            ("http://example.com:70/", (Http, "example.com", 70, "/")),
            ("http://example.com:210/", (Http, "example.com", 210, "/")),
            ("http://example.com:280/", (Http, "example.com", 280, "/")),
            ("http://example.com:443/", (Http, "example.com", 443, "/")),
            ("http://example.com:488/", (Http, "example.com", 488, "/")),
            ("http://example.com:591/", (Http, "example.com", 591, "/")),
            ("http://example.com:777/", (Http, "example.com", 777, "/")),
            ("http://example.com:1025/", (Http, "example.com", 1025, "/")),
            (
                "http://example.com:8080/a",
                (Http, "example.com", 8080, "/a"),
            ),
            (
                "http://example.com:65535/",
                (Http, "example.com", 65535, "/"),
            ),
            ("https://example.com", (Https, "example.com", 443, "/")),
            (
                "https://example.com:443/x",
                (Https, "example.com", 443, "/x"),
            ),
            (
                "https://hooks.example.com/p/q?a=1&b=2",
                (Https, "hooks.example.com", 443, "/p/q?a=1&b=2"),
            ),
            ("http://192.0.2.7:8000/", (Http, "192.0.2.7", 8000, "/")),
            (
                "http://[2001:db8::1]:8000/",
                (Http, "2001:db8::1", 8000, "/"),
            ),
            ("https://[2001:DB8::1]/", (Https, "2001:db8::1", 443, "/")),
            // Unusual IPv4 spellings come out in the dotted form the client connects to.
            ("http://0x7f.1:8000/", (Http, "127.0.0.1", 8000, "/")),
        ];
        for &(url, parts) in table {
            check_parse(url, Ok(parts));
        }
    }

    #[test]
    fn each_rule_refuses_with_its_own_error() {
        use DestinationError::*;
        let long = format!("http://example.com/{}", "a".repeat(URL_BYTES_MAX));
        let table: Vec<(&str, DestinationError)> = vec![
            (&long, TooLong { bytes: long.len() }),
            (
                "not a url",
                Unparsable {
                    error: url::ParseError::RelativeUrlWithoutBase,
                },
            ),
            (
                "http://example.com:99999/",
                Unparsable {
                    error: url::ParseError::InvalidPort,
                },
            ),
            (
                "ftp://example.com/",
                SchemeNotAllowed {
                    scheme: "ftp".into(),
                },
            ),
            (
                "file:///etc/passwd",
                SchemeNotAllowed {
                    scheme: "file".into(),
                },
            ),
            (
                "javascript:alert(1)",
                SchemeNotAllowed {
                    scheme: "javascript".into(),
                },
            ),
            (
                "gopher://example.com:70/",
                SchemeNotAllowed {
                    scheme: "gopher".into(),
                },
            ),
            ("http://example.com:8/", HttpPortNotAllowed { port: 8 }),
            ("http://example.com:0/", HttpPortNotAllowed { port: 0 }),
            ("http://example.com:22/", HttpPortNotAllowed { port: 22 }),
            (
                "http://example.com:1024/",
                HttpPortNotAllowed { port: 1024 },
            ),
            (
                "https://example.com:8443/",
                HttpsPortNotAllowed { port: 8443 },
            ),
            ("https://example.com:80/", HttpsPortNotAllowed { port: 80 }),
            ("http://user:pass@example.com/", CredentialsInUrl),
            ("http://user@example.com/", CredentialsInUrl),
            ("https://:secret@example.com/", CredentialsInUrl),
            ("http://example.com/#frag", FragmentInUrl),
            ("https://example.com/#", FragmentInUrl),
            ("http://", HostMissing),
            ("http://:8080/", HostMissing),
        ];
        for (url, error) in table {
            check_parse(url, Err(error));
        }
    }

    #[test]
    fn refusals_name_the_rule() {
        let cases = [
            (
                "http://example.com:8/",
                "http:// URLs may use port 80, 21, 70, 210, 280, 443, 488, 591, 777 or 1025-65535, not 8",
            ),
            (
                "https://example.com:8443/",
                "https:// URLs may only use port 443, not 8443",
            ),
            ("ftp://example.com/", "the URL scheme must be http or https, not ftp"),
        ];
        for (url, text) in cases {
            let error = Destination::parse(url).expect_err(url);
            assert_eq!(error.to_string(), text);
        }
    }

    #[test]
    fn authority_and_host_ip() {
        let table: &[(&str, &str, Option<IpAddr>)] = &[
            ("http://example.com:8080/", "example.com:8080", None),
            ("https://example.com/", "example.com:443", None),
            (
                "http://10.1.2.3/",
                "10.1.2.3:80",
                Some(IpAddr::V4(Ipv4Addr::new(10, 1, 2, 3))),
            ),
            (
                "https://[::1]/",
                "[::1]:443",
                Some(IpAddr::V6(Ipv6Addr::LOCALHOST)),
            ),
        ];
        for &(url, authority, ip) in table {
            let destination = Destination::parse(url).expect(url);
            assert_eq!(destination.authority(), authority, "{url}");
            assert_eq!(destination.host_ip(), ip, "{url}");
        }
    }

    #[test]
    fn address_classes() {
        let table: &[(&str, bool)] = &[
            // IPv4, refused
            ("127.0.0.1", true),
            ("127.255.255.254", true),
            ("0.0.0.0", true),
            ("0.1.2.3", true),
            ("10.0.0.5", true),
            ("10.255.255.255", true),
            ("172.16.0.1", true),
            ("172.31.255.255", true),
            ("192.168.1.1", true),
            ("100.64.0.1", true),
            ("100.127.255.255", true),
            ("169.254.169.254", true),
            ("192.0.0.8", true),
            ("198.18.0.1", true),
            ("198.19.255.255", true),
            ("224.0.0.1", true),
            ("239.255.255.250", true),
            ("240.0.0.1", true),
            ("255.255.255.255", true),
            // IPv4, allowed (including the neighbours of refused blocks)
            ("8.8.8.8", false),
            ("1.1.1.1", false),
            ("9.255.255.255", false),
            ("11.0.0.0", false),
            ("172.15.255.255", false),
            ("172.32.0.0", false),
            ("100.63.255.255", false),
            ("100.128.0.0", false),
            ("169.253.255.255", false),
            ("192.0.1.0", false),
            ("192.167.255.255", false),
            ("198.17.255.255", false),
            ("198.20.0.0", false),
            ("223.255.255.255", false),
            // IPv6, refused
            ("::1", true),
            ("::", true),
            ("fe80::1", true),
            ("febf::1", true),
            ("fc00::1", true),
            ("fd12:3456::1", true),
            ("ff02::1", true),
            ("::ffff:127.0.0.1", true),
            ("::ffff:10.0.0.5", true),
            ("64:ff9b::10.0.0.5", true),
            ("64:ff9b::127.0.0.1", true),
            // IPv6, allowed
            ("2606:4700::1111", false),
            ("2001:4860:4860::8888", false),
            ("::ffff:8.8.8.8", false),
            ("64:ff9b::8.8.8.8", false),
        ];
        for &(ip, private) in table {
            let parsed: IpAddr = ip.parse().expect(ip);
            assert_eq!(is_private(parsed), private, "{ip}");
        }
    }

    #[test]
    fn loopback_names() {
        let table: &[(&str, bool)] = &[
            ("localhost", true),
            ("LOCALHOST", true),
            ("localhost.", true),
            ("app.localhost", true),
            ("a.b.localhost.", true),
            ("localhost.example.com", false),
            ("mylocalhost", false),
            ("example.com", false),
            ("localhostx", false),
        ];
        for &(host, refused) in table {
            assert_eq!(refused_name(host), refused, "{host}");
        }
    }
}
