//! The driver's only contacts with the outside world besides the socket: the clock and the
//! OS random source.

use std::io;
use std::time::Instant;

/// The current instant: the one place in the crate that reads the clock.
///
/// `clippy.toml` disallows `Instant::now` everywhere so that the protocol layers stay
/// deterministic (time is an input of every `Node` call); the driver passes this value in,
/// and front ends that need a time stamp (the demo's latency measurements) use this too.
#[allow(clippy::disallowed_methods)] // the driver is the clock's one reader, see above
pub fn now() -> Instant {
    Instant::now()
}

/// 32 bytes from the operating system, for [`Config::rng_seed`](crate::proto::Config).
/// Fails only if the OS has no usable random source.
pub fn os_seed() -> io::Result<[u8; 32]> {
    let mut seed = [0u8; 32];
    getrandom::fill(&mut seed).map_err(|e| io::Error::other(format!("OS random source: {e}")))?;
    Ok(seed)
}
