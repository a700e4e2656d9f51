//! deployctl (being built)
