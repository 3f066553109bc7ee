//! The tenant domain behind sign-in and the web desktop: users, profiles
//! (which apps a user sees), apps, branding and the tenant's LDAP settings,
//! with the validation of everything an admin can send, password hashing and
//! directory (LDAP) authentication.
//!
//! This crate does no HTTP: the node's handlers deserialize the request
//! types of [`model`], check them with [`validate`], and store the records in
//! the tables of [`tables`]. [`password`] hashes local passwords and
//! [`directory`] signs users in against the tenant's LDAP directory.

pub mod directory;
pub mod error;
pub mod model;
pub mod password;
pub mod tables;
pub mod validate;

pub use directory::{authenticate, profiles_for, DirectoryUser};
pub use error::{Error, Result};
pub use model::*;
