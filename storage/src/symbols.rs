//! String interning for label names and values: `SymbolId` and the `SymbolTable`.
