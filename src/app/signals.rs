//! The signals that end the runtime's loop cleanly (state stored, every group left with a
//! quit): Ctrl-C (SIGINT) everywhere, SIGTERM (how systemd stops a service) and SIGHUP (the
//! terminal went away) on unix.

/// Watches the stop signals. A signal that cannot be watched never fires.
#[derive(Debug)]
pub struct Signals {
    #[cfg(unix)]
    term: Option<tokio::signal::unix::Signal>,
    #[cfg(unix)]
    hup: Option<tokio::signal::unix::Signal>,
}

impl Signals {
    /// Starts watching (must run inside the tokio runtime). Call it early, so a signal
    /// that arrives during start-up still stops cleanly.
    pub fn new() -> Self {
        #[cfg(unix)]
        {
            use tokio::signal::unix::{SignalKind, signal};
            let watch = |kind: SignalKind, name: &str| {
                signal(kind)
                    .inspect_err(|e| tracing::warn!("cannot watch {name}: {e}"))
                    .ok()
            };
            Self {
                term: watch(SignalKind::terminate(), "SIGTERM"),
                hup: watch(SignalKind::hangup(), "SIGHUP"),
            }
        }
        #[cfg(not(unix))]
        Self {}
    }

    /// Resolves with the signal's name once one arrives. Cancel-safe.
    pub async fn wait(&mut self) -> &'static str {
        #[cfg(unix)]
        {
            tokio::select! {
                () = ctrl_c() => "SIGINT",
                () = fired(self.term.as_mut()) => "SIGTERM",
                () = fired(self.hup.as_mut()) => "SIGHUP",
            }
        }
        #[cfg(not(unix))]
        {
            ctrl_c().await;
            "SIGINT"
        }
    }
}

impl Default for Signals {
    fn default() -> Self {
        Self::new()
    }
}

/// Resolves on Ctrl-C; never if it cannot be watched.
async fn ctrl_c() {
    if tokio::signal::ctrl_c().await.is_err() {
        std::future::pending::<()>().await;
    }
}

/// Resolves when `signal` fires; never if it is not watched or its stream ended.
#[cfg(unix)]
async fn fired(signal: Option<&mut tokio::signal::unix::Signal>) {
    let got = match signal {
        Some(s) => s.recv().await.is_some(),
        None => false,
    };
    if !got {
        std::future::pending::<()>().await;
    }
}
