//! Roaring postings per (label name, value), each name's sorted value list, and set operations.
