//! The replicated store.
