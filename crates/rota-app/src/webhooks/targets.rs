//! Which webhook targets are allowed: http or https, no credentials, and unless private targets
//! are allowed, only globally reachable addresses (the subscription's check and every delivery's).

use std::net::{IpAddr, SocketAddr};

/// The IPv4 blocks of the IANA special-purpose registry that are not globally reachable (and
/// the whole of 192.0.0.0/24, whose two global exceptions no webhook receiver needs), with
/// multicast and the reserved 240.0.0.0/4 (which holds the limited broadcast address).
const V4_INTERNAL: [([u8; 4], u8); 15] = [
    ([0, 0, 0, 0], 8),
    ([10, 0, 0, 0], 8),
    ([100, 64, 0, 0], 10),
    ([127, 0, 0, 0], 8),
    ([169, 254, 0, 0], 16),
    ([172, 16, 0, 0], 12),
    ([192, 0, 0, 0], 24),
    ([192, 0, 2, 0], 24),
    ([192, 88, 99, 0], 24),
    ([192, 168, 0, 0], 16),
    ([198, 18, 0, 0], 15),
    ([198, 51, 100, 0], 24),
    ([203, 0, 113, 0], 24),
    ([224, 0, 0, 0], 4),
    ([240, 0, 0, 0], 4),
];

/// The IPv6 blocks of the IANA special-purpose registry that are not globally reachable, the
/// deprecated site-local and IPv4-compatible blocks, and multicast. 2001::/23 goes whole: it
/// holds Teredo (2001::/32, which embeds IPv4 addresses) and benchmarking.
const V6_INTERNAL: [(u128, u8); 13] = [
    (0, 128),                     // unspecified
    (1, 128),                     // loopback
    (0, 96),                      // IPv4-compatible (deprecated)
    (0x0064_ff9b_0001 << 80, 48), // local-use IPv4/IPv6 translation
    (0x0100 << 112, 64),          // discard-only
    (0x2001 << 112, 23),          // IETF protocol assignments, Teredo
    (0x3fff << 112, 20),          // documentation
    (0x2001_0db8 << 96, 32),      // documentation
    (0x5f00 << 112, 16),          // segment routing SIDs
    (0xfc00 << 112, 7),           // unique local
    (0xfe80 << 112, 10),          // link-local
    (0xfec0 << 112, 10),          // site-local (deprecated)
    (0xff00 << 112, 8),           // multicast
];

fn in_block(addr: u128, (net, len): (u128, u8), bits: u32) -> bool {
    let shift = bits - u32::from(len);
    let mask = if shift >= 128 { 0 } else { u128::MAX << shift };
    (addr & mask) == (net & mask)
}

/// The IPv4 address an IPv6 address carries, where a block embeds one: mapped
/// (::ffff:0:0/96), translated (::ffff:0:0:0/96), NAT64 (64:ff9b::/96) and 6to4 (2002::/16).
fn embedded_v4(v6: std::net::Ipv6Addr) -> Option<std::net::Ipv4Addr> {
    let bits = u128::from(v6);
    let low = std::net::Ipv4Addr::from((bits & 0xffff_ffff) as u32);
    if in_block(bits, (0xffff << 32, 96), 128)
        || in_block(bits, (0xffff << 48, 96), 128)
        || in_block(bits, (0x0064_ff9b << 96, 96), 128)
    {
        return Some(low);
    }
    if in_block(bits, (0x2002 << 112, 16), 128) {
        return Some(std::net::Ipv4Addr::from(
            ((bits >> 80) & 0xffff_ffff) as u32,
        ));
    }
    None
}

/// Whether deliveries may go to `ip` without `allow_private_targets`: globally reachable
/// unicast only, by the IANA special-purpose registries, and no internal IPv4 address embedded
/// in an IPv6 one.
pub fn is_public(ip: IpAddr) -> bool {
    match ip {
        IpAddr::V4(v4) => {
            let bits = u128::from(u32::from(v4));
            !V4_INTERNAL
                .iter()
                .any(|(net, len)| in_block(bits, (u128::from(u32::from_be_bytes(*net)), *len), 32))
        }
        IpAddr::V6(v6) => match embedded_v4(v6) {
            Some(v4) => is_public(IpAddr::V4(v4)),
            None => {
                let bits = u128::from(v6);
                !V6_INTERNAL.iter().any(|block| in_block(bits, *block, 128))
            }
        },
    }
}

/// Checks a subscription's URL: http or https, a host, and, unless private targets are
/// allowed, no address that is not public (a literal one, or any the name resolves to now;
/// delivery checks the resolution again, so a name cannot be pointed inside later).
pub async fn check_target(raw: &str, allow_private: bool) -> Result<url::Url, String> {
    let url = url::Url::parse(raw).map_err(|e| format!("`{raw}` is not a URL: {e}"))?;
    if !matches!(url.scheme(), "http" | "https") {
        return Err(format!(
            "only http and https URLs are allowed, not {}",
            url.scheme()
        ));
    }
    if !url.username().is_empty() || url.password().is_some() {
        return Err("the URL must not carry credentials; deliveries are signed instead".into());
    }
    let host = url.host().ok_or_else(|| format!("`{raw}` has no host"))?;
    if allow_private {
        return Ok(url);
    }
    let port = url.port_or_known_default().unwrap_or(443);
    let addrs: Vec<SocketAddr> = match host {
        url::Host::Ipv4(ip) => vec![SocketAddr::new(IpAddr::V4(ip), port)],
        url::Host::Ipv6(ip) => vec![SocketAddr::new(IpAddr::V6(ip), port)],
        url::Host::Domain(name) => tokio::net::lookup_host((name, port))
            .await
            .map_err(|e| format!("cannot resolve {name}: {e}"))?
            .collect(),
    };
    if let Some(bad) = addrs.iter().find(|a| !is_public(a.ip())) {
        return Err(format!(
            "{} is a private, loopback or otherwise internal address; such targets are not allowed",
            bad.ip()
        ));
    }
    Ok(url)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn internal_addresses_are_not_public() {
        // One address from each block of the IANA IPv4 and IPv6 special-purpose registries that
        // is not globally reachable, and internal IPv4 addresses embedded in IPv6 every way.
        for ip in [
            "0.1.2.3",
            "10.1.2.3",
            "100.64.0.1",
            "127.0.0.1",
            "169.254.169.254",
            "172.16.0.1",
            "192.0.0.1",
            "192.0.0.170",
            "192.0.2.1",
            "192.88.99.1",
            "192.168.1.1",
            "198.18.0.1",
            "198.51.100.1",
            "203.0.113.1",
            "224.0.0.1",
            "240.0.0.1",
            "255.255.255.255",
            "::",
            "::1",
            "::127.0.0.1",
            "::ffff:127.0.0.1",
            "::ffff:0:7f00:1",
            "64:ff9b::7f00:1",
            "64:ff9b::a9fe:a9fe",
            "64:ff9b:1::1",
            "100::1",
            "2001::1",
            "2001:db8::1",
            "2001:2::1",
            "2002:7f00:1::",
            "2002:a9fe:a9fe::",
            "3fff::1",
            "5f00::1",
            "fc00::1",
            "fd12::1",
            "fe80::1",
            "fec0::1",
            "ff02::1",
        ] {
            assert!(!is_public(ip.parse().unwrap()), "{ip}");
        }
        for ip in [
            "93.184.216.34",
            "8.8.8.8",
            "2606:4700::1111",
            "64:ff9b::5db8:d822",
            "2002:5db8:d822::1",
            "::ffff:93.184.216.34",
        ] {
            assert!(is_public(ip.parse().unwrap()), "{ip}");
        }
    }

    #[tokio::test]
    async fn targets_are_http_and_public_unless_allowed() {
        assert!(check_target("ftp://example.com/x", true).await.is_err());
        assert!(
            check_target("http://user:pw@93.184.216.34/", false)
                .await
                .is_err()
        );
        assert!(
            check_target("http://127.0.0.1:9/hook", false)
                .await
                .is_err()
        );
        assert!(check_target("http://[::1]/hook", false).await.is_err());
        assert!(check_target("http://127.0.0.1:9/hook", true).await.is_ok());
        assert!(
            check_target("https://93.184.216.34/hook", false)
                .await
                .is_ok()
        );
    }
}
