//! Device requests (kinds 24–25, PROTOCOL.md §8.13): their storage operations and replies.
//! The certificate is checked in the writer's transaction, against the account's identity
//! key as stored ([`crate::index::store::devices`]), with the writer's clock.

use crate::index::store::Op;
use crate::index::store::devices::{DeviceOp, DeviceOutcome};
use crate::index::wire::{DeviceReply, DeviceRequest, Kind, Reply, ReplyBody, Status};

/// The storage operation of a device request from the logged-in `account`; `index` is the
/// index's key, to which certificates are bound.
pub(super) fn op(account: i64, request: DeviceRequest, index: [u8; 32]) -> Op {
    Op::Device(match request {
        DeviceRequest::Register(cert) => DeviceOp::Register {
            account,
            cert,
            index,
        },
        DeviceRequest::Remove { device } => DeviceOp::Remove { account, device },
    })
}

/// The reply for a device outcome.
pub(super) fn reply(kind: Kind, outcome: DeviceOutcome) -> Reply {
    let body = match outcome {
        DeviceOutcome::Registered(devices, evicted) => DeviceReply::Registered { devices, evicted },
        DeviceOutcome::Removed(n) => DeviceReply::Removed(n),
        DeviceOutcome::BadCertificate => return Reply::status(kind, Status::BadCertificate),
        DeviceOutcome::Taken => return Reply::status(kind, Status::DeviceTaken),
    };
    Reply {
        kind,
        status: Status::Ok,
        body: ReplyBody::Device(body),
    }
}
