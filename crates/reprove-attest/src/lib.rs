//! Attestations: what reprove signs and how.
//!
//! - [`statement`]: in-toto Statement v1 types and RFC 8785 canonical JSON.
//! - [`keys`]: P-256 and Ed25519 keys in PEM (PKCS#8, SEC1, SPKI) and cosign's encrypted format.
//! - [`dsse`]: DSSE envelopes, signed over PAE.
//! - [`bundle`]: Sigstore bundles — writing key-signed v0.3 bundles, reading every version.
//! - [`slsa`]: SLSA provenance v1 and verification summary v1 predicates.
//! - `verify` (feature `verify`): verifying bundles, offline with a key or keyless against a
//!   trusted root.
//! - `signed` (feature `verify`): the one reader of signed statements from files, for every
//!   command.
//! - [`json`]: strict JSON (no duplicate keys) for everything signed.

pub mod bundle;
mod cosign;
pub mod dsse;
pub mod json;
pub mod keys;
#[cfg(feature = "verify")]
pub mod signed;
pub mod slsa;
pub mod statement;
#[cfg(feature = "verify")]
pub mod verify;

pub use bundle::{StatementSigner, sign_statement};
pub use keys::{KeyAlgorithm, KeyError, PrivateKey, PublicKey};
pub use statement::{AttestError, ResourceDescriptor, STATEMENT_V1, Statement, to_canonical_json};
