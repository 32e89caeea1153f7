//! The address the running node advertises (what it puts into its join strings), recorded so
//! that `dhtchat id`, a separate read-only process, prints the port the node really bound.

use std::net::SocketAddr;

use super::{ADVERTISED_KEY, META, Store, StoreError};

impl Store {
    /// Records `addr` as the address this node advertises: call it once the socket is bound
    /// (and again if the advertised address changes). One small fsynced write.
    pub fn set_advertised_addr(&self, addr: SocketAddr) -> Result<(), StoreError> {
        let text = addr.to_string();
        self.write(|txn| {
            let mut meta = txn.open_table(META).map_err(|e| self.err(e))?;
            meta.insert(ADVERTISED_KEY, text.as_bytes())
                .map_err(|e| self.err(e))?;
            Ok(())
        })
    }

    /// The address the running (or last) node recorded with [`Store::set_advertised_addr`];
    /// `None` if none ever did.
    pub fn advertised_addr(&self) -> Result<Option<SocketAddr>, StoreError> {
        let txn = self.begin_read()?;
        let meta = txn.open_table(META).map_err(|e| self.err(e))?;
        let Some(value) = meta.get(ADVERTISED_KEY).map_err(|e| self.err(e))? else {
            return Ok(None);
        };
        std::str::from_utf8(value.value())
            .ok()
            .and_then(|s| s.parse().ok())
            .map(Some)
            .ok_or_else(|| self.corrupt("advertised address is not IP:PORT".into()))
    }
}
