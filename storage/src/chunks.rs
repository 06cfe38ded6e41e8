//! Compressed series history: delta-of-delta timestamps and XOR floats, ~120 samples a chunk.
