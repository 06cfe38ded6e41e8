fn main() -> std::process::ExitCode {
    // Before anything allocates much or starts a thread (see src/alloc.rs).
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
