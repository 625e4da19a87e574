//! The SSRF check of a webhook target (SPEC §9): the URL must be `https://` and every
//! address its host resolves to must be a public unicast address — no loopback,
//! private, shared (CGNAT), link-local, unique-local, unspecified, multicast,
//! broadcast, documentation or reserved address, nor an IPv6 form that embeds such an
//! IPv4 address (IPv4-mapped, IPv4-compatible, NAT64, 6to4, Teredo). The check is pure:
//! the caller resolves the host and passes the addresses, then connects only to one of
//! the addresses checked (so a DNS answer that changes in between cannot slip past).
//! `notifications.allow_insecure_targets` lifts both rules (`http://` and any address)
//! for tests and local receivers.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use url::{Host, Url};

/// A checked target URL: where to connect and what to resolve.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Target {
    /// The URL as it will be posted to (normalised by the URL parser).
    pub url: String,
    /// The host to resolve (without brackets for an IPv6 literal).
    pub host: String,
    /// The port, the scheme's default when the URL names none.
    pub port: u16,
    /// The address, when the host is an IP literal (then nothing is resolved).
    pub literal: Option<IpAddr>,
}

/// Why a target is refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TargetError {
    /// Not a URL, or one without a host.
    #[error("not an absolute URL with a host")]
    Malformed,
    /// A scheme other than `https` (or `http` when insecure targets are allowed).
    #[error("the URL must be https://")]
    NotHttps,
    /// The URL carries a user name or password.
    #[error("the URL must not carry credentials")]
    Credentials,
    /// The URL has a fragment, which is never sent.
    #[error("the URL must not have a fragment")]
    Fragment,
    /// The host resolved to no address.
    #[error("the host resolved to no address")]
    NoAddress,
    /// The host resolved to an address a webhook may not reach.
    #[error("the URL resolves to {address}, a {why} address")]
    Forbidden {
        /// The refused address.
        address: IpAddr,
        /// What kind of address it is (`loopback`, `private`, …).
        why: &'static str,
    },
}

impl TargetError {
    /// The stable code of the refusal.
    pub fn code(&self) -> &'static str {
        match self {
            Self::Malformed | Self::NotHttps | Self::Credentials | Self::Fragment => {
                "webhook_url_invalid"
            }
            Self::NoAddress | Self::Forbidden { .. } => "webhook_target_forbidden",
        }
    }
}

/// Checks a URL's form: absolute, `https` (or `http` when `allow_insecure`), a host,
/// no credentials, no fragment. The addresses are checked by [`check_addresses`].
pub fn check_url(text: &str, allow_insecure: bool) -> Result<Target, TargetError> {
    let url = Url::parse(text.trim()).map_err(|_| TargetError::Malformed)?;
    match url.scheme() {
        "https" => {}
        "http" if allow_insecure => {}
        _ => return Err(TargetError::NotHttps),
    }
    if !url.username().is_empty() || url.password().is_some() {
        return Err(TargetError::Credentials);
    }
    if url.fragment().is_some() {
        return Err(TargetError::Fragment);
    }
    let (host, literal) = match url.host() {
        Some(Host::Domain(domain)) if !domain.is_empty() => (domain.to_owned(), None),
        Some(Host::Ipv4(ip)) => (ip.to_string(), Some(IpAddr::V4(ip))),
        Some(Host::Ipv6(ip)) => (ip.to_string(), Some(IpAddr::V6(ip))),
        _ => return Err(TargetError::Malformed),
    };
    let port = url.port_or_known_default().ok_or(TargetError::Malformed)?;
    if let Some(address) = literal {
        check_addresses(&[address], allow_insecure)?;
    }
    Ok(Target {
        url: url.to_string(),
        host,
        port,
        literal,
    })
}

/// Checks the addresses a target's host resolved to: all of them must be allowed
/// (one forbidden answer refuses the target, so a name that also resolves to
/// `127.0.0.1` is refused), and there must be at least one. `allow_insecure` allows
/// any address.
pub fn check_addresses(addresses: &[IpAddr], allow_insecure: bool) -> Result<(), TargetError> {
    if addresses.is_empty() {
        return Err(TargetError::NoAddress);
    }
    if allow_insecure {
        return Ok(());
    }
    for &address in addresses {
        if let Some(why) = forbidden_reason(address) {
            return Err(TargetError::Forbidden { address, why });
        }
    }
    Ok(())
}

/// What kind of non-public address `address` is, or `None` for a public unicast one.
pub fn forbidden_reason(address: IpAddr) -> Option<&'static str> {
    match address {
        IpAddr::V4(v4) => v4_reason(v4),
        IpAddr::V6(v6) => v6_reason(v6),
    }
}

fn in_v4(address: Ipv4Addr, network: [u8; 4], prefix: u32) -> bool {
    let mask = u32::MAX.checked_shl(32 - prefix).unwrap_or(0);
    u32::from(address) & mask == u32::from(Ipv4Addr::from(network)) & mask
}

fn v4_reason(a: Ipv4Addr) -> Option<&'static str> {
    const RANGES: [([u8; 4], u32, &str); 16] = [
        ([0, 0, 0, 0], 8, "unspecified"),
        ([10, 0, 0, 0], 8, "private"),
        ([100, 64, 0, 0], 10, "shared (CGNAT)"),
        ([127, 0, 0, 0], 8, "loopback"),
        ([169, 254, 0, 0], 16, "link-local"),
        ([172, 16, 0, 0], 12, "private"),
        ([192, 0, 0, 0], 24, "IETF protocol"),
        ([192, 0, 2, 0], 24, "documentation"),
        ([192, 88, 99, 0], 24, "6to4 relay"),
        ([192, 168, 0, 0], 16, "private"),
        ([198, 18, 0, 0], 15, "benchmarking"),
        ([198, 51, 100, 0], 24, "documentation"),
        ([203, 0, 113, 0], 24, "documentation"),
        ([224, 0, 0, 0], 4, "multicast"),
        ([240, 0, 0, 0], 4, "reserved"),
        ([255, 255, 255, 255], 32, "broadcast"),
    ];
    RANGES
        .iter()
        .rev()
        .find(|(network, prefix, _)| in_v4(a, *network, *prefix))
        .map(|(_, _, why)| *why)
}

fn in_v6(address: Ipv6Addr, network: u128, prefix: u32) -> bool {
    let mask = u128::MAX.checked_shl(128 - prefix).unwrap_or(0);
    u128::from(address) & mask == network & mask
}

/// The IPv4 address in the low 32 bits.
fn low_v4(a: Ipv6Addr) -> Ipv4Addr {
    Ipv4Addr::from((u128::from(a) & 0xffff_ffff) as u32)
}

fn v6_reason(a: Ipv6Addr) -> Option<&'static str> {
    let bits = u128::from(a);
    if bits == 0 {
        return Some("unspecified");
    }
    if bits == 1 {
        return Some("loopback");
    }
    // ::ffff:a.b.c.d (IPv4-mapped), ::a.b.c.d (IPv4-compatible), 64:ff9b::a.b.c.d and
    // 64:ff9b:1::/48 (NAT64): the IPv4 address decides; a public one passes.
    let embeds_v4 = in_v6(a, 0xffff_0000_0000, 96)
        || in_v6(a, 0, 96)
        || in_v6(a, 0x0064_ff9b_u128 << 96, 96)
        || in_v6(a, 0x0064_ff9b_0001_u128 << 80, 48);
    if embeds_v4 {
        return v4_reason(low_v4(a)).or(if in_v6(a, 0x0064_ff9b_0001_u128 << 80, 48) {
            Some("NAT64 (local use)")
        } else {
            None
        });
    }
    // 2002:a.b.c.d::/48 (6to4): the IPv4 address in bits 16..48.
    if in_v6(a, 0x2002_u128 << 112, 16) {
        let v4 = Ipv4Addr::from(((bits >> 80) & 0xffff_ffff) as u32);
        return v4_reason(v4).map(|_| "6to4 of a non-public");
    }
    const RANGES: [(u128, u32, &str); 9] = [
        (0x0100_u128 << 112, 64, "discard"),
        (0x2001_u128 << 112, 32, "Teredo"),
        (0x2001_0002_u128 << 96, 48, "benchmarking"),
        (0x2001_0db8_u128 << 96, 32, "documentation"),
        (0x2001_u128 << 112, 23, "IETF protocol"),
        (0xfc00_u128 << 112, 7, "unique-local"),
        (0xfe80_u128 << 112, 10, "link-local"),
        (0xfec0_u128 << 112, 10, "site-local"),
        (0xff00_u128 << 112, 8, "multicast"),
    ];
    RANGES
        .iter()
        .find(|(network, prefix, _)| in_v6(a, *network, *prefix))
        .map(|(_, _, why)| *why)
}
