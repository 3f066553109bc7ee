//! A SPICE client library.
