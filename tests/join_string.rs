//! Join strings through the public API (PROTOCOL.md §6.3): the compact form's golden vectors
//! and lengths, the long forms that stores still hold, one clear error per kind of damage, and
//! properties: every join string round-trips, and no text makes the parser panic.

use std::net::{IpAddr, Ipv6Addr, SocketAddr};

use dhtchat::crypto::Identity;
use dhtchat::proto::{Dialect, JoinString, JoinStringError, Privacy};
use dhtchat::wire::{NodeInfo, PublicKey};
use proptest::prelude::*;

/// The founder of the chat of seed `44`×32 at 192.0.2.7:33445 (PROTOCOL.md §6.3).
const FOUNDER_V4: &str = "dhtchat:FddZeTu8E6KBmoJ8dq22-6ikmu4Af0ny0JktmbglrSxIwAACB4KlH_4";
/// The member of seed `33`×32 in that chat, at [2001:db8::7]:33445.
const MEMBER_V6: &str = "dhtchat:GddZeTu8E6KBmoJ8dq22-6ikmu4Af0ny0JktmbglrSxITrT6_uK9MBiiTjEN6BBjM8KzZOrtApp_Bde0XMx3aDogAQ24AAAAAAAAAAAAAAAHgqURkg";

fn secure(key: PublicKey, addr: &str, privacy: Privacy) -> JoinString {
    JoinString {
        dialect: Dialect::Secure,
        privacy,
        chat_id: Some(Identity::from_seed(&[0x44; 32]).signing_key()),
        contact: NodeInfo {
            key,
            addr: addr.parse().unwrap(),
        },
    }
}

fn parse_err(s: &str) -> JoinStringError {
    s.parse::<JoinString>().unwrap_err()
}

#[test]
fn golden_vectors_parse_and_founder_invites_fit_80_columns() {
    let founder = Identity::from_seed(&[0x44; 32]).public_key();
    let join = secure(founder, "192.0.2.7:33445", Privacy::Public);
    assert_eq!(join.to_string(), FOUNDER_V4);
    assert_eq!(FOUNDER_V4.parse(), Ok(join));
    assert!(join.contact_is_founder());
    let member = Identity::from_seed(&[0x33; 32]).public_key();
    let join = secure(member, "[2001:db8::7]:33445", Privacy::Public);
    assert_eq!(join.to_string(), MEMBER_V6);
    assert_eq!(MEMBER_V6.parse(), Ok(join));
    // The longest founder invite (IPv6) still fits one 80-column line.
    let v6 = secure(
        founder,
        "[2001:db8:ffff:ffff:ffff:ffff:ffff:ffff]:65535",
        Privacy::Private,
    );
    assert_eq!(v6.to_string().len(), 79);
}

#[test]
fn long_forms_still_parse_and_print() {
    let member = Identity::from_seed(&[0x33; 32]).public_key();
    let join = secure(member, "[::1]:4000", Privacy::Private);
    let chat = PublicKey(join.chat_id.unwrap());
    let long = format!("dhtchat:private:{chat}:{member}@[::1]:4000");
    assert_eq!(join.long_form().to_string(), long);
    assert_eq!(long.parse(), Ok(join));
    assert_eq!(long.to_lowercase().parse(), Ok(join), "hex in either case");

    let legacy: JoinString = format!("  {member}@127.0.0.1:33445\n").parse().unwrap();
    assert_eq!(legacy.dialect, Dialect::Legacy);
    assert_eq!(legacy.privacy, Privacy::Public);
    assert_eq!(
        legacy.long_form().to_string(),
        format!("{member}@127.0.0.1:33445")
    );
    assert_eq!(legacy.to_string().len(), 63);
    assert_eq!(legacy.to_string().parse(), Ok(legacy));
}

#[test]
fn long_form_errors_are_specific() {
    use JoinStringError::*;
    assert_eq!(parse_err("abc"), NotAJoinString);
    assert_eq!(parse_err("   "), NotAJoinString);
    assert_eq!(parse_err("dhtchat:public:aa:bb"), MissingAddress);
    assert_eq!(parse_err("abc@nowhere"), BadAddress);
    assert_eq!(parse_err("abc@127.0.0.1:1"), BadKey);
    assert_eq!(parse_err("dhtchat:open:aa:bb@127.0.0.1:1"), BadPrivacy);
    assert_eq!(parse_err(&"A".repeat(600)), TooLong);
}

#[test]
fn compact_errors_name_the_damage() {
    use JoinStringError::*;
    let cut = &FOUNDER_V4[..FOUNDER_V4.len() - 4];
    assert_eq!(
        parse_err(cut),
        BadLength {
            found: 51,
            expected: 55
        }
    );
    assert_eq!(
        parse_err(&FOUNDER_V4[..FOUNDER_V4.len() - 1]),
        BadLength {
            found: 54,
            expected: 55
        }
    );
    assert_eq!(
        parse_err(&format!("{FOUNDER_V4}A")),
        BadLength {
            found: 56,
            expected: 55
        }
    );
    assert_eq!(
        parse_err("dhtchat:"),
        BadLength {
            found: 0,
            expected: 55
        }
    );
    assert_eq!(parse_err(&FOUNDER_V4.replace('-', "+")), BadEncoding);
    // The last character carries 4 unused bits: a text with them set is not canonical.
    let stray = FOUNDER_V4.replace("H_4", "H_5");
    assert_eq!(parse_err(&stray), BadEncoding);
    // One character changed anywhere in the record: the check catches it.
    for i in "dhtchat:".len()..FOUNDER_V4.len() - 1 {
        let mut typo = FOUNDER_V4.as_bytes().to_vec();
        typo[i] = if typo[i] == b'Q' { b'R' } else { b'Q' };
        let err = parse_err(std::str::from_utf8(&typo).unwrap());
        assert!(
            matches!(err, BadCheck | UnknownVersion(_) | BadLength { .. }),
            "{i}: {err}"
        );
    }
    let mut record = "dhtchat:".to_owned();
    record.push_str("IAAA");
    assert_eq!(parse_err(&record), UnknownVersion(2));
    let text = BadLength {
        found: 51,
        expected: 55,
    }
    .to_string();
    assert_eq!(
        text,
        "the join string has 51 characters after dhtchat:, expected 55: was it cut or wrapped?"
    );
}

fn addr() -> impl Strategy<Value = SocketAddr> {
    prop_oneof![
        (any::<[u8; 4]>(), any::<u16>()).prop_map(|(ip, port)| SocketAddr::from((ip, port))),
        (any::<[u8; 16]>(), any::<u16>())
            .prop_map(|(ip, port)| SocketAddr::new(IpAddr::V6(Ipv6Addr::from(ip)), port)),
    ]
}

fn join_string() -> impl Strategy<Value = JoinString> {
    let privacy = prop_oneof![Just(Privacy::Public), Just(Privacy::Private)];
    (
        any::<[u8; 32]>(),
        any::<[u8; 32]>(),
        0..3u8,
        privacy,
        addr(),
    )
        .prop_map(|(seed, key, kind, privacy, addr)| {
            let founder = Identity::from_seed(&seed);
            let (dialect, chat_id, key) = match kind {
                0 => (
                    Dialect::Secure,
                    Some(founder.signing_key()),
                    founder.public_key(),
                ),
                1 => (Dialect::Secure, Some(founder.signing_key()), PublicKey(key)),
                _ => (Dialect::Legacy, None, PublicKey(key)),
            };
            JoinString {
                dialect,
                privacy,
                chat_id,
                contact: NodeInfo { key, addr },
            }
        })
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    #[test]
    fn every_join_string_round_trips(join in join_string()) {
        let text = join.to_string();
        prop_assert!(text.len() <= 122, "{}", text);
        prop_assert_eq!(text.parse::<JoinString>(), Ok(join));
        // The legacy long form carries no privacy: it parses as public.
        let mut long = join;
        if join.dialect == Dialect::Legacy {
            long.privacy = Privacy::Public;
        }
        prop_assert_eq!(join.long_form().to_string().parse::<JoinString>(), Ok(long));
        prop_assert_eq!(JoinString::from_record(&join.to_record()), Ok(join));
    }

    #[test]
    fn no_text_panics(text in "\\PC{0,200}", tail in "[A-Za-z0-9_-]{0,130}") {
        let _ = text.parse::<JoinString>();
        let _ = format!("dhtchat:{tail}").parse::<JoinString>();
    }

    #[test]
    fn no_record_panics(record in proptest::collection::vec(any::<u8>(), 0..100)) {
        let _ = JoinString::from_record(&record);
    }
}
