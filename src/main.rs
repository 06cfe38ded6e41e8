fn main() -> anyhow::Result<()> {
    fedstore::cli::main()
}
