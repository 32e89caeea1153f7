//! The driver's event backlog (`src/net/driver.rs`): a front end that does not read its
//! events for a while loses none of them. The node takes a message once; had the driver
//! dropped its event, it would be lost for good (the node's window, marks and history log
//! say it was taken).
//!
//! Two drivers on loopback (ports :0); every wait is bounded by `tokio::time::timeout`.

use std::net::SocketAddr;
use std::time::Duration;

use dhtchat::net::{Driver, DriverOptions, Handle, NodeEvent};
use dhtchat::proto::{Config, Event, GroupSpec};
use tokio::sync::mpsc;
use tokio::time::timeout;

const WAIT: Duration = Duration::from_secs(20);

async fn start(addr: &str, seed: u8, event_capacity: usize) -> (Handle, mpsc::Receiver<NodeEvent>) {
    let addr: SocketAddr = addr.parse().unwrap();
    let options = DriverOptions {
        event_capacity,
        ..DriverOptions::default()
    };
    let (driver, handle, events) = Driver::bind(addr, Config::new([seed; 32]), &options)
        .await
        .expect("bind");
    tokio::spawn(driver.run());
    (handle, events)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_front_end_that_reads_late_gets_every_message_in_order() {
    const MESSAGES: u32 = 16;
    let (a, mut a_events) = start("127.0.0.1:0", 1, 2).await;
    let group_a = a.create_group(GroupSpec::default()).await.unwrap();
    let join = a.group(group_a).await.unwrap().unwrap().join;
    let (b, mut b_events) = start("127.0.0.2:0", 2, 4096).await;
    let group_b = b.join_group(join, GroupSpec::default()).await.unwrap();
    let joined = timeout(WAIT, async {
        while let Some(e) = b_events.recv().await {
            if matches!(e.event, Event::Joined { .. }) {
                return;
            }
        }
    });
    joined.await.expect("b joined");
    // A's front end reads nothing while b says 16 things (its channel holds 2 events, and
    // b's joining filled it already); 16 is within the origin's burst (§6.7).
    for i in 0..MESSAGES {
        b.send_chat(group_b, format!("m{i}")).await.unwrap();
    }
    tokio::time::sleep(Duration::from_millis(500)).await;
    let mut texts = Vec::new();
    let mut last_seq = None;
    let read = timeout(WAIT, async {
        while texts.len() < MESSAGES as usize {
            let e = a_events.recv().await.expect("a's driver runs");
            assert!(last_seq < Some(e.seq), "events in the order made");
            last_seq = Some(e.seq);
            if let Event::MessageReceived { text, .. } = e.event {
                texts.push(String::from_utf8(text).unwrap());
            }
        }
    });
    read.await.expect("every message's event");
    let said: Vec<String> = (0..MESSAGES).map(|i| format!("m{i}")).collect();
    assert_eq!(texts, said);
    let stats = a.stats().await.unwrap();
    assert_eq!(stats.events_dropped, 0, "{stats:?}");
}
