//! Attestations: what reprove signs and how.
//!
//! - [`statement`]: in-toto Statement v1 types and RFC 8785 canonical JSON.
//! - [`keys`]: P-256 and Ed25519 keys in PEM (PKCS#8, SEC1, SPKI) and cosign's encrypted format.
//! - [`dsse`]: DSSE envelopes, signed over PAE.
//! - [`bundle`]: Sigstore bundles — writing key-signed v0.3 bundles, reading every version.
//! - [`slsa`]: SLSA provenance v1 and verification summary v1 predicates.
//! - [`verify`]: verifying bundles, offline with a key or keyless against a trusted root.
//! - [`signed`]: the one reader of signed statements from files, for every command.
//! - [`json`]: strict JSON (no duplicate keys) for everything signed.

pub mod bundle;
mod cosign;
pub mod dsse;
pub mod json;
pub mod keys;
pub mod signed;
pub mod slsa;
pub mod statement;
pub mod verify;

pub use keys::{KeyAlgorithm, KeyError, PrivateKey, PublicKey};
pub use statement::{AttestError, ResourceDescriptor, STATEMENT_V1, Statement, to_canonical_json};

#[cfg(test)]
pub(crate) mod test_support {
    /// The shared interop vectors sit beside the checkout (`../shared`). Under
    /// `cargo xtask test` (REPROVE_REQUIRE_TOOLS) their absence fails the test.
    pub fn shared_present(dir: &std::path::Path) -> bool {
        if dir.exists() {
            return true;
        }
        assert!(
            std::env::var_os("REPROVE_REQUIRE_TOOLS").is_none(),
            "the shared vectors are missing at `{}`",
            dir.display()
        );
        false
    }
}
