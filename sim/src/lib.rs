//! The reference simulator of TracingPolicy semantics.
