//! Memory-mapped files (memmap2): the only `unsafe` code of the workspace.
