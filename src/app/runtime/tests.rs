//! The runtime through its public API, in process: a real driver on 127.0.0.1:0 and a store
//! in a temp dir; input goes in with the window's group, `AppEvent`s come out.

use super::*;
use crate::app::command::{ChatCommand, Input, parse_input};
use crate::app::event::Presence;

async fn runtime(dir: &tempfile::TempDir, nick: &str) -> Runtime {
    let options = Options {
        bind: Some("127.0.0.1:0".parse().unwrap()),
        nick: Some(nick.into()),
        ..Options::default()
    };
    let store = Store::open(dir.path()).unwrap();
    let mut rt = Runtime::bind(&options, store, time::UtcOffset::UTC)
        .await
        .unwrap();
    rt.nick = options.checked_nick().unwrap();
    rt
}

async fn line(rt: &mut Runtime, group: Option<GroupId>, text: &str) -> Vec<AppEvent> {
    let input = parse_input(text).unwrap();
    assert_eq!(rt.input(group, input).await, Flow::Continue);
    rt.take_events().await
}

/// The events of one kind, by a predicate on the chat event.
fn only(events: &[AppEvent], keep: impl Fn(&ChatEvent) -> bool) -> Vec<AppEvent> {
    events.iter().filter(|e| keep(&e.event)).cloned().collect()
}

#[tokio::test]
async fn the_status_window_refuses_text_and_nick_is_carried_into_new_groups() {
    let dir = tempfile::tempdir().unwrap();
    let mut rt = runtime(&dir, "al").await;

    let out = line(&mut rt, None, "hello?").await;
    assert!(
        matches!(
            &out[..],
            [AppEvent { group: None, event: ChatEvent::Error { text, .. } }]
                if text.starts_with("not in a group")
        ),
        "{out:?}"
    );

    line(&mut rt, None, "/nick zoë").await;
    let out = line(&mut rt, None, "/create tea room").await;
    let opened = only(&out, |e| matches!(e, ChatEvent::Opened { .. }));
    let [
        AppEvent {
            group: Some(group),
            event:
                ChatEvent::Opened {
                    label,
                    nick,
                    ready,
                    join,
                    ..
                },
        },
    ] = &opened[..]
    else {
        panic!("one Opened: {out:?}");
    };
    assert_eq!(
        (label.as_str(), nick.as_str(), *ready),
        ("tea room", "zoë", true)
    );
    assert!(
        out.iter()
            .any(|e| matches!(e.event, ChatEvent::Ready { .. }))
    );
    assert!(
        out.iter().all(|e| e.group == Some(*group)),
        "every event is tagged: {out:?}"
    );
    let members = only(&out, |e| matches!(e, ChatEvent::Members(_)));
    assert_eq!(members.len(), 1, "a snapshot for the new window");

    let out = line(&mut rt, Some(*group), "hi all").await;
    assert!(
        matches!(
            &out[..],
            [AppEvent { event: ChatEvent::Message { from, text, .. }, .. }, ..]
                if from.nick == "zoë" && text == "hi all"
        ),
        "{out:?}"
    );

    let out = line(&mut rt, Some(*group), "/invite").await;
    assert!(
        matches!(
            &out[..],
            [AppEvent { event: ChatEvent::Invite { join: j, .. }, .. }] if j == join
        ),
        "{out:?}"
    );

    let out = line(&mut rt, Some(*group), "/status busy").await;
    assert!(
        out.iter().any(|e| matches!(
            &e.event,
            ChatEvent::Status { peer, status: Presence::Busy, .. } if peer.nick == "zoë"
        )),
        "{out:?}"
    );
    let _ = rt.shutdown(None).await;
}

#[tokio::test]
async fn part_closes_the_window_and_its_input_is_refused_after() {
    let dir = tempfile::tempdir().unwrap();
    let mut rt = runtime(&dir, "al").await;
    let out = line(&mut rt, None, "/create one").await;
    let group = out[0].group;
    let out = line(&mut rt, group, "/part see you").await;
    assert!(
        matches!(
            out.last(),
            Some(AppEvent { group: g, event: ChatEvent::Closed { reason, .. } })
                if *g == group && reason == "see you"
        ),
        "{out:?}"
    );
    let out = line(&mut rt, group, "still here?").await;
    assert!(
        matches!(
            &out[..],
            [AppEvent { event: ChatEvent::Error { text, .. }, .. }] if text.contains("closed")
        ),
        "{out:?}"
    );
    let quit = rt
        .input(None, Input::Command(ChatCommand::Quit(Some("bye".into()))))
        .await;
    assert_eq!(quit, Flow::Quit(Some("bye".into())));
    let _ = rt.shutdown(Some("bye")).await;
}

#[tokio::test]
async fn a_restart_without_nick_carries_the_stored_nick_into_a_new_group() {
    let dir = tempfile::tempdir().unwrap();
    let mut rt = runtime(&dir, "alice").await;
    line(&mut rt, None, "/create lobby").await;
    let _ = rt.shutdown(None).await;

    let options = Options {
        bind: Some("127.0.0.1:0".parse().unwrap()),
        ..Options::default()
    };
    let store = Store::open(dir.path()).unwrap();
    let mut rt = Runtime::bind(&options, store, time::UtcOffset::UTC)
        .await
        .unwrap();
    rt.open_groups(&options, "").await.unwrap();
    let out = rt.take_events().await;
    let lobby = out[0].group;
    assert!(
        matches!(
            &out[0].event,
            ChatEvent::Opened { label, nick, .. } if label == "lobby" && nick == "alice"
        ),
        "{out:?}"
    );
    let out = line(&mut rt, lobby, "/create second").await;
    assert!(
        matches!(
            &out[0].event,
            ChatEvent::Opened { label, nick, .. } if label == "second" && nick == "alice"
        ),
        "{out:?}"
    );
    let _ = rt.shutdown(None).await;
}

/// A direct message is journaled before it is shown (PROTOCOL.md §6.9), so after a kill -9
/// (no store at exit) the restored marks hold its number and a replayed copy is refused as
/// `too_old` (`tests/replay.rs` covers that refusal on the node).
#[tokio::test]
async fn a_shown_direct_message_is_journaled_so_a_kill_9_keeps_its_number() {
    let dir = tempfile::tempdir().unwrap();
    let mut rt = runtime(&dir, "alice").await;
    let out = line(&mut rt, None, "/create lobby").await;
    let group = out[0].group.expect("the new group's window");
    let bob = crate::wire::PublicKey::from([7; 32]);
    let event = crate::proto::Event::DirectMessage {
        group,
        from: bob,
        number: 41,
        text: b"psst".to_vec(),
    };
    let at = crate::test_epoch();
    rt.on_node_event(NodeEvent { at, seq: 0, event }).await;
    let shown = rt.take_events().await;
    assert!(
        (shown.iter())
            .any(|e| matches!(&e.event, ChatEvent::Private { text, .. } if text == "psst")),
        "{shown:?}"
    );
    drop(rt); // a kill -9: nothing is stored at exit

    let store = Store::open(dir.path()).unwrap();
    let record = store.groups().unwrap()[0].id;
    let (journaled, _, _) = store.journal_fold(record).unwrap();
    let restored = (store.marks(record).unwrap().into_iter()).chain(journaled);
    let direct = restored
        .filter(|m| m.key == [7; 32])
        .map(|m| m.direct)
        .max();
    assert_eq!(direct, Some(41));
}

/// Pumps `rt`'s node events until `done` holds for what they showed (at most 10 s).
async fn pump_until(rt: &mut Runtime, done: impl Fn(&[AppEvent]) -> bool) -> Vec<AppEvent> {
    let mut seen = Vec::new();
    let deadline = tokio::time::Instant::now() + std::time::Duration::from_secs(10);
    while !done(&seen) {
        let ev = tokio::time::timeout_at(deadline, rt.events.recv()).await;
        let ev = ev.expect("in time").expect("the driver runs");
        rt.on_node_event(ev).await;
        seen.extend(rt.take_events().await);
    }
    seen
}

/// A message the node took while its event still waited for the runtime (here: the whole
/// time; in the churn, a SIGTERM just after it arrived) is shown before the store that holds
/// it is written: the stored log would otherwise make the restarted member skip it in its
/// history fetch, and it would never be shown (PROTOCOL.md §6.9).
#[tokio::test]
async fn a_message_in_the_last_store_is_shown_before_the_exit() {
    let (da, db) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    let (mut alice, mut bob) = (runtime(&da, "alice").await, runtime(&db, "bob").await);
    let out = line(&mut alice, None, "/create lobby").await;
    let (group, join) = match &out[0] {
        AppEvent {
            group: Some(g),
            event: ChatEvent::Opened { join, .. },
        } => (*g, join.clone()),
        other => panic!("{other:?}"),
    };
    line(&mut bob, None, &format!("/join {join}")).await;
    pump_until(&mut bob, |seen| {
        seen.iter()
            .any(|e| matches!(e.event, ChatEvent::Ready { .. }))
    })
    .await;
    let bobs = bob.groups.keys().next().copied();
    line(&mut bob, bobs, "said just before the quit").await;
    // Alice's node takes it; her runtime does not read its event before the quit.
    let mut tries = 0;
    loop {
        let snapshot = alice.handle.persisted(vec![(group, (0, 0))]).await.unwrap();
        let state = snapshot.states[0].as_ref().expect("alice's group");
        if !state.history.records.is_empty() {
            break;
        }
        tries += 1;
        assert!(tries < 1000, "alice's node took it within 10 s");
        tokio::time::sleep(std::time::Duration::from_millis(10)).await;
    }
    let (_, shown) = alice.shutdown(None).await;
    assert!(
        (shown.iter()).any(|e| matches!(
            &e.event,
            ChatEvent::Message { text, .. } if text == "said just before the quit"
        )),
        "{shown:?}"
    );
    let _ = bob.shutdown(None).await;
}
