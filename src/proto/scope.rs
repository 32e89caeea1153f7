//! IP privacy (PROTOCOL.md §6.2): the address scope of a node entry, and whether an entry may
//! be handed to an asker in a send_nodes.
//!
//! An address is *loopback* (127/8, ::1), *link-local* (169.254/16, fe80::/10), *private*
//! (10/8, 172.16/12, 192.168/16, 100.64/10 shared address space, fc00::/7 unique local; an
//! IPv4-mapped IPv6 address has the scope of its IPv4 address) or *global*. An entry is handed
//! to an asker only if the asker is inside the entry's scope: a loopback entry only to a
//! loopback asker (the same host), a link-local or private entry only to an asker that is not
//! global (c-toxcore's rule for LAN addresses), a global entry to anyone. So a node on a LAN
//! never leaks its neighbours' or its own host's addresses to the internet.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

/// How far an address reaches, narrowest first.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub(crate) enum Scope {
    /// This host only.
    Loopback,
    /// This link or site: link-local and private ranges.
    Local,
    /// Anywhere.
    Global,
}

/// The scope of `ip`.
pub(crate) fn scope(ip: IpAddr) -> Scope {
    match ip {
        IpAddr::V4(v4) => scope_v4(v4),
        IpAddr::V6(v6) => match v6.to_ipv4_mapped() {
            Some(v4) => scope_v4(v4),
            None => scope_v6(v6),
        },
    }
}

fn scope_v4(ip: Ipv4Addr) -> Scope {
    let [a, b, ..] = ip.octets();
    let shared = a == 100 && (64..128).contains(&b);
    if ip.is_loopback() {
        Scope::Loopback
    } else if ip.is_private() || ip.is_link_local() || shared || ip.is_unspecified() {
        Scope::Local
    } else {
        Scope::Global
    }
}

fn scope_v6(ip: Ipv6Addr) -> Scope {
    let first = ip.segments()[0];
    let unique_local = first & 0xfe00 == 0xfc00;
    let link_local = first & 0xffc0 == 0xfe80;
    if ip.is_loopback() {
        Scope::Loopback
    } else if unique_local || link_local || ip.is_unspecified() {
        Scope::Local
    } else {
        Scope::Global
    }
}

/// May an entry at `entry` be handed to an asker at `asker`? Only if the asker is inside the
/// entry's scope (see the module docs).
pub(crate) fn may_tell(entry: IpAddr, asker: IpAddr) -> bool {
    match scope(entry) {
        Scope::Global => true,
        Scope::Local => scope(asker) != Scope::Global,
        Scope::Loopback => scope(asker) == Scope::Loopback,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    #[test]
    fn scopes_of_the_ranges() {
        for (a, s) in [
            ("127.0.0.1", Scope::Loopback),
            ("127.9.8.7", Scope::Loopback),
            ("::1", Scope::Loopback),
            ("::ffff:127.0.0.1", Scope::Loopback),
            ("10.1.2.3", Scope::Local),
            ("172.16.0.1", Scope::Local),
            ("172.31.255.255", Scope::Local),
            ("192.168.1.1", Scope::Local),
            ("169.254.3.4", Scope::Local),
            ("100.64.0.1", Scope::Local),
            ("fe80::1", Scope::Local),
            ("fd00::5", Scope::Local),
            ("::ffff:192.168.0.9", Scope::Local),
            ("0.0.0.0", Scope::Local),
            ("172.32.0.1", Scope::Global),
            ("100.128.0.1", Scope::Global),
            ("8.8.8.8", Scope::Global),
            ("2001:db8::1", Scope::Global),
        ] {
            assert_eq!(scope(ip(a)), s, "{a}");
        }
    }

    #[test]
    fn entries_reach_only_askers_in_their_scope() {
        let (lo, lan, wan) = (ip("127.0.0.2"), ip("192.168.0.2"), ip("8.8.4.4"));
        assert!(may_tell(lo, lo) && !may_tell(lo, lan) && !may_tell(lo, wan));
        assert!(may_tell(lan, lo) && may_tell(lan, lan) && !may_tell(lan, wan));
        assert!(may_tell(wan, lo) && may_tell(wan, lan) && may_tell(wan, wan));
    }
}
