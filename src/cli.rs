//! Command-line interface: `fedstore serve` and `fedstore import`.

/// Entry point of the `fedstore` binary.
pub fn main() -> anyhow::Result<()> {
    Ok(())
}
