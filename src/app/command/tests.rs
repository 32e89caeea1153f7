//! Table-driven tests of the input parser: every command, bad arguments, unicode, limits.

use super::ChatCommand as C;
use super::*;

const KEY: &str = "00112233445566778899aabbccddeeff00112233445566778899aabbccddeeff";

fn cmd(line: &str) -> ChatCommand {
    match parse_input(line) {
        Ok(Input::Command(c)) => c,
        other => panic!("{line:?} parsed as {other:?}"),
    }
}

fn err(line: &str) -> String {
    match parse_input(line) {
        Err(e) => e.to_string(),
        Ok(other) => panic!("{line:?} parsed as {other:?}"),
    }
}

fn s(x: &str) -> String {
    x.to_owned()
}

#[test]
fn every_command_parses() {
    let join = format!("dhtchat:public:{KEY}:{KEY}@127.0.0.1:33445");
    let table: Vec<(String, ChatCommand)> = vec![
        (s("/help"), C::Help(None)),
        (s("/help nick"), C::Help(Some(s("nick")))),
        (s("/nick zoë"), C::Nick(s("zoë"))),
        (s("/me waves  hi"), C::Me(s("waves  hi"))),
        (
            s("/msg bob hi there"),
            C::Msg {
                target: s("bob"),
                text: s("hi there"),
            },
        ),
        (
            s("/whisper bob hi"),
            C::Msg {
                target: s("bob"),
                text: s("hi"),
            },
        ),
        (s("/topic"), C::Topic(None)),
        (s("/topic rust & tea"), C::Topic(Some(s("rust & tea")))),
        (s("/topic --clear"), C::Topic(Some(String::new()))),
        (s("/names"), C::Names),
        (s("/LIST"), C::Names),
        (s("/whois bob"), C::Whois(s("bob"))),
        (s("/status away"), C::Status(Presence::Away)),
        (s("/status BUSY"), C::Status(Presence::Busy)),
        (s("/status online"), C::Status(Presence::Online)),
        (format!("/join {join}"), C::Join(join.clone())),
        (
            s("/create tea room"),
            C::Create {
                name: s("tea room"),
                legacy: false,
                private: false,
            },
        ),
        (
            s("/create --legacy old"),
            C::Create {
                name: s("old"),
                legacy: true,
                private: false,
            },
        ),
        (
            s("/create sec --private"),
            C::Create {
                name: s("sec"),
                legacy: false,
                private: true,
            },
        ),
        (s("/part"), C::Part(None)),
        (s("/close bye all"), C::Part(Some(s("bye all")))),
        (s("/chatid"), C::ChatId),
        (s("/quit"), C::Quit(None)),
        (s("/q gone"), C::Quit(Some(s("gone")))),
        (s("/exit"), C::Quit(None)),
        (
            s("/kick bob"),
            C::Kick {
                target: s("bob"),
                reason: None,
            },
        ),
        (
            s("/kick bob spam  spam"),
            C::Kick {
                target: s("bob"),
                reason: Some(s("spam  spam")),
            },
        ),
        (
            s("/ban bob flood"),
            C::Ban {
                target: s("bob"),
                reason: Some(s("flood")),
            },
        ),
        (s("/unban bob"), C::Unban(s("bob"))),
        (s("/mod bob"), C::Mod(s("bob"))),
        (s("/unmod bob"), C::Unmod(s("bob"))),
        (s("/silence bob"), C::Silence(s("bob"))),
        (s("/unsilence bob"), C::Unsilence(s("bob"))),
        (s("/locktopic on"), C::LockTopic(true)),
        (s("/locktopic off"), C::LockTopic(false)),
        (s("/voice all"), C::Voice(VoiceLevel::All)),
        (s("/voice mod"), C::Voice(VoiceLevel::Moderators)),
        (s("/voice founder"), C::Voice(VoiceLevel::Founder)),
        (s("/peerlimit 50"), C::PeerLimit(50)),
        (
            format!("/invite {}", KEY.to_uppercase()),
            C::Invite(Some(s(KEY))),
        ),
        ("/invite".into(), C::Invite(None)),
    ];
    for (line, want) in table {
        assert_eq!(cmd(&line), want, "{line}");
    }
}

#[test]
fn bad_arguments_explain_usage_in_one_line() {
    let table = [
        ("/foo", "unknown command /foo — /help lists commands"),
        ("/status", "usage: /status online|away|busy"),
        ("/status sleeping", "usage: /status online|away|busy"),
        ("/nick", "usage: /nick <name>"),
        ("/me", "usage: /me <action>"),
        ("/msg bob", "usage: /msg <nick|key> <text>"),
        ("/msg", "usage: /msg <nick|key> <text>"),
        ("/whois", "usage: /whois <nick|key>"),
        ("/whois a b", "usage: /whois <nick|key>"),
        ("/names all", "usage: /names"),
        ("/chatid x", "usage: /chatid"),
        ("/create", "usage: /create [--legacy] [--private] <name>"),
        (
            "/create --bogus x",
            "usage: /create [--legacy] [--private] <name>",
        ),
        (
            "/create --legacy --private x",
            "usage: /create [--legacy] [--private] <name>",
        ),
        ("/kick", "usage: /kick <nick|key> [reason]"),
        ("/locktopic maybe", "usage: /locktopic on|off"),
        ("/voice ops", "usage: /voice all|mod|founder"),
        ("/peerlimit -1", "usage: /peerlimit <n>"),
        ("/peerlimit 99999999999", "usage: /peerlimit <n>"),
        ("/invite abc", "usage: /invite [key] (64 hex digits)"),
        ("/join", "usage: /join <join string>"),
        ("/help a b", "usage: /help [command]"),
    ];
    for (line, want) in table {
        assert_eq!(err(line), want, "{line}");
    }
    assert!(err("/join nope").starts_with("bad join string: "));
}

#[test]
fn text_lines_and_escapes() {
    assert_eq!(parse_input("hello"), Ok(Input::Text(s("hello"))));
    assert_eq!(parse_input("hello\r\n"), Ok(Input::Text(s("hello"))));
    assert_eq!(
        parse_input("//etc/passwd"),
        Ok(Input::Text(s("/etc/passwd")))
    );
    assert_eq!(parse_input("  "), Ok(Input::Empty));
    assert_eq!(parse_input(""), Ok(Input::Empty));
    assert_eq!(
        parse_input("日本語 ✓ 🦀"),
        Ok(Input::Text(s("日本語 ✓ 🦀")))
    );
    assert_eq!(
        err("a\u{1b}[2Jb"),
        "message must not contain control characters"
    );
}

#[test]
fn unicode_command_names_and_args_do_not_panic() {
    assert_eq!(err("/ñ"), "unknown command /ñ — /help lists commands");
    assert_eq!(err("/"), "unknown command / — /help lists commands");
    assert_eq!(cmd("/nick 🦀"), C::Nick(s("🦀")));
    let long_name = format!("/{}", "é".repeat(100));
    assert_eq!(
        err(&long_name),
        format!("unknown command /{} — /help lists commands", "é".repeat(24))
    );
}

#[test]
fn lengths_are_capped_at_protocol_limits() {
    // Text over one message is accepted: the runtime sends it in numbered parts.
    let paste = "é".repeat(2500);
    assert_eq!(parse_input(&paste), Ok(Input::Text(paste.clone())));
    let me = format!("/me {paste}");
    assert_eq!(parse_input(&me), Ok(Input::Command(C::Me(paste.clone()))));
    assert_eq!(MAX_TEXT_BYTES, 785, "PROTOCOL.md §5.1 secure body limit");
    let nick = format!("/nick {}", "n".repeat(MAX_NICK_BYTES + 1));
    assert_eq!(
        err(&nick),
        "a nick is at most 128 bytes of UTF-8; this one has 129"
    );
    assert!(err("/nick a\u{1b}b").contains("U+001B"));
    let topic = format!("/topic {}", "t".repeat(MAX_TOPIC_BYTES + 1));
    assert_eq!(err(&topic), "topic too long: 513 bytes, at most 512");
    let huge = "x".repeat(1 << 20);
    assert!(err(&huge).starts_with("line too long: 1048576 bytes, at most 65536"));
}

#[test]
fn help_covers_every_command_once() {
    assert_eq!(help_lines().len(), USAGES.len());
    for line in help_lines() {
        assert!(line.starts_with('/') && line.contains(" — "), "{line}");
    }
    assert_eq!(
        help_for("/kick"),
        Some("/kick <nick|key> [reason] — remove a member (moderators)")
    );
    assert_eq!(help_for("whisper").map(command_name), Some("msg"));
    assert_eq!(help_for("nope"), None);
    for name in USAGES.iter().map(|u| command_name(u)) {
        assert!(help_for(name).is_some(), "{name}");
    }
}
