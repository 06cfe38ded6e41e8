fn main() -> std::process::ExitCode {
    // Before any thread starts: large transient buffers (scrape bodies, remote writes) must
    // go back to the kernel when freed (src/alloc.rs).
    fedstore::alloc::tune();
    match fedstore::cli::main() {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(e) => {
            // One clear line (with its causes), never a backtrace: these are operator errors.
            eprintln!("fedstore: {e:#}");
            std::process::ExitCode::FAILURE
        }
    }
}
