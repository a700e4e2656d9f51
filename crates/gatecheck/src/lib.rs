//! gatecheck (being built)
