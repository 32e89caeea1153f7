//! Round trips and refusals of the index request codec.

use super::*;

fn creds() -> Credentials {
    Credentials {
        params: KdfParams {
            m_kib: 19456,
            t: 2,
            p: 1,
        },
        salt: [5; 16],
        verifier: [6; 32],
    }
}

#[test]
fn every_kind_round_trips() {
    let all = vec![
        Request::Register(Box::new(Registration {
            name: "alice".into(),
            credentials: creds(),
            public_key: [1; 32],
            wrapped_key: [2; 72],
            private_key: [3; 72],
            rooms: vec![4; 100],
            chats: vec![],
        })),
        Request::Prelogin { name: "bob".into() },
        Request::Login {
            name: "bob".into(),
            signature: [9; 64],
        },
        Request::Fetch,
        Request::UpdateLists {
            rooms: vec![1],
            chats: vec![2, 3],
        },
        Request::ChangePassword {
            credentials: creds(),
            wrapped_key: [7; 72],
        },
        Request::ListRooms,
        Request::JoinRoom {
            room: "LOBBY".into(),
        },
        Request::LeaveRoom {
            room: "LOBBY".into(),
        },
        Request::SetPrivilege {
            name: "bob".into(),
            admin: true,
        },
        Request::PostRoom {
            room: "LOBBY".into(),
            text: "hi".into(),
        },
        Request::Logout,
        Request::RoomHistory {
            room: "LOBBY".into(),
            before: 9,
            max: 50,
        },
        Request::ServerMessage {
            room: None,
            text: "maintenance at 10".into(),
        },
        Request::ServerMessage {
            room: Some("LOBBY".into()),
            text: "hello".into(),
        },
    ];
    for req in all {
        let bytes = req.encode();
        assert_eq!(Request::decode(&bytes).unwrap(), req);
        let mut long = bytes.clone();
        long.push(0);
        assert!(Request::decode(&long).is_err(), "{:?}", req.kind());
    }
}

#[test]
fn unknown_kinds_and_oversized_blobs_are_rejected() {
    assert!(Request::decode(&[0]).is_err());
    assert!(Request::decode(&[19]).is_err());
    assert!(Request::decode(&[]).is_err());
    let mut big = vec![5];
    big.extend_from_slice(&(32 * 1024 + 1u32).to_be_bytes());
    assert!(Request::decode(&big).is_err());
}
