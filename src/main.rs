//! The `dhtchat` binary.

fn main() -> anyhow::Result<()> {
    Ok(())
}
