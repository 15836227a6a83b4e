//! Fuzz targets: one function per parser of input reprove does not control. Each must return
//! (never panic, hang or exhaust memory) for any bytes.
//!
//! `fuzz/` (cargo-fuzz, nightly) wraps each in a libFuzzer target; `cargo xtask fuzz` runs them
//! all. The test below replays the committed corpus (`fuzz/corpus/<target>/`, seeded from the
//! test vectors, plus every crash ever found) on the stable toolchain, so a fixed crash stays
//! fixed.

use reprove_attest::verify::{ArtifactInput, Signer};

/// A fuzz target: any bytes in, nothing out, never a panic.
pub type Target = fn(&[u8]);

/// Every target by name.
pub const TARGETS: &[(&str, Target)] = &[
    ("bundle", bundle),
    ("dsse", dsse),
    ("statement", statement),
    ("keys", keys),
    ("image_ref", image_ref),
    ("manifest", manifest),
    ("token", token),
    ("lockfile", lockfile),
    ("config", config),
    ("explain", explain),
    ("scan", scan),
    ("git_object", git_object),
];

/// Runs the target `name` on `data`.
pub fn run(name: &str, data: &[u8]) {
    if let Some((_, f)) = TARGETS.iter().find(|(n, _)| *n == name) {
        f(data);
    }
}

fn text(data: &[u8]) -> String {
    String::from_utf8_lossy(data).into_owned()
}

/// A fixed P-256 key for the verification paths (generated once per process).
fn key() -> &'static reprove_attest::PublicKey {
    static KEY: std::sync::OnceLock<reprove_attest::PublicKey> = std::sync::OnceLock::new();
    KEY.get_or_init(|| {
        reprove_attest::PrivateKey::generate(reprove_attest::KeyAlgorithm::P256)
            .map(|k| k.public_key())
            .unwrap_or_else(|_| unreachable_key())
    })
}

fn unreachable_key() -> reprove_attest::PublicKey {
    // A fixed SPKI for the (never seen) case the OS has no randomness.
    const PEM: &str = "-----BEGIN PUBLIC KEY-----\nMFkwEwYHKoZIzj0CAQYIKoZIzj0DAQcDQgAEhbHrM1rIbM/mwpoG5ZyQL0N9M6qxxRMKqDrvk+0vzu4hDxqHLAbnxfCLGQmhYIuMIuH/o7SUEnEe3J3CnYk9aw==\n-----END PUBLIC KEY-----\n";
    reprove_attest::PublicKey::from_pem(PEM).unwrap_or_else(|_| std::process::abort())
}

/// Sigstore bundles: the strict reader, the one statement reader (unverified), and both
/// verification paths with a key.
pub fn bundle(data: &[u8]) {
    let _ = reprove_attest::bundle::ParsedBundle::parse(data);
    let _ = reprove_attest::signed::statement_from_bytes(data, &[], None);
    let signer = Signer::Key { key: key().clone() };
    let _ =
        reprove_attest::verify::verify_bundle(data, &ArtifactInput::Sha256([0; 32]), &signer, None);
    let _ = reprove_attest::verify::verify_statement(data, &signer, None);
}

/// Bare DSSE envelopes.
pub fn dsse(data: &[u8]) {
    if let Ok(env) = reprove_attest::dsse::Envelope::parse(data) {
        let _ = env.pae();
        let _ = env.verify(key());
    }
}

/// Statements as `verify`, `status`, `diff` and `report` read them: the strict JSON, the
/// baseline view, the agreement of a provenance with a baseline, the source URIs.
pub fn statement(data: &[u8]) {
    let Ok(v) = reprove_attest::json::parse(data) else {
        return;
    };
    if let Ok(view) = reprove_baseline::BaselineView::from_value(&v) {
        let _ = view.artifacts();
        let _ = view.policy_passed();
        let _ = reprove_baseline::diff::diff(&view, &view);
    }
    let _ = reprove_release::verify::provenance_agreement(&v, &v);
    if let Some(s) = v.as_str() {
        let _ = reprove_release::verify::normalize_source(s);
    }
    let _ = serde_json::from_value::<reprove_build::RebuildReport>(v.clone());
    let _ = serde_json::from_value::<reprove_release::evidence::Index>(v);
}

/// PEM (SPKI, PKCS#8, SEC1, cosign's encrypted format) and DER keys.
pub fn keys(data: &[u8]) {
    let t = text(data);
    let _ = reprove_attest::PublicKey::from_pem(&t);
    let _ = reprove_attest::PrivateKey::from_pem(&t, &|| {
        Ok(zeroize::Zeroizing::new("password".to_owned()))
    });
    let _ = reprove_attest::PublicKey::from_spki_der(data);
}

/// Image references.
pub fn image_ref(data: &[u8]) {
    if let Ok(r) = text(data).parse::<reprove_oci::ImageRef>() {
        let _ = r.to_string();
        let _ = r.purl();
        let _ = r.name();
        let _ = r.registry();
        let _ = r.repository();
    }
}

/// Registry manifests and indexes, as served.
pub fn manifest(data: &[u8]) {
    for media_type in [
        "application/vnd.oci.image.index.v1+json",
        "application/vnd.oci.image.manifest.v1+json",
    ] {
        let m = reprove_oci::registry::Manifest {
            digest: reprove_digest::sha256_bytes(data),
            media_type: media_type.to_owned(),
            bytes: data.to_vec(),
        };
        let _ = m.is_index();
        let _ = m.platform_digest("linux/amd64");
        let _ = m.platform_digest("linux/arm64/v8");
        let _ = m.child_digests();
    }
}

/// `WWW-Authenticate` challenges and token-service answers.
pub fn token(data: &[u8]) {
    let t = text(data);
    let _ = reprove_oci::registry::parse_challenge(&t);
    let _ = reprove_oci::registry::token_from_response(&t);
}

/// Every lockfile kind; the first byte picks the kind.
pub fn lockfile(data: &[u8]) {
    use reprove_soup::LockfileKind as K;
    let Some((&which, rest)) = data.split_first() else {
        return;
    };
    let (path, kind) = match which % 7 {
        0 => ("Cargo.lock", K::CargoLock),
        1 => ("package-lock.json", K::PackageLock),
        2 => ("requirements.txt", K::Requirements),
        3 => ("poetry.lock", K::PoetryLock),
        4 => ("uv.lock", K::UvLock),
        5 => ("go.sum", K::GoSum),
        _ => ("go.mod", K::GoMod),
    };
    let sibling = |_: &str| Some(rest.to_vec());
    let _ = reprove_soup::parse_lockfile(path, kind, rest, &sibling);
}

/// `reprove.toml` (config and `[build]` recipe) and `soup.toml`.
pub fn config(data: &[u8]) {
    let t = text(data);
    let _ = reprove_baseline::Config::parse(&t);
    let _ = reprove_build::parse_recipe(&t, "v1.0.0");
    let _ = reprove_soup::Overrides::parse("soup.toml", &t);
}

/// The mismatch explanation of two artifacts (gzip headers, tar members, first difference).
pub fn explain(data: &[u8]) {
    let (a, b) = data.split_at(data.len() / 2);
    let _ = reprove_build::summarize(a, b);
}

/// Image references in Dockerfiles, YAML and `reprove.toml`; the first byte picks the kind.
pub fn scan(data: &[u8]) {
    let Some((&which, rest)) = data.split_first() else {
        return;
    };
    let (name, kind) = match which % 3 {
        0 => ("Dockerfile", reprove_oci::FileKind::Dockerfile),
        1 => ("compose.yaml", reprove_oci::FileKind::Yaml),
        _ => ("reprove.toml", reprove_oci::FileKind::ReproveToml),
    };
    let _ = reprove_oci::scan(name, kind, rest);
}

/// Git objects from a clone: commits (headers read as git reads them), trees, tags.
pub fn git_object(data: &[u8]) {
    reprove_source::fuzzing::git_object(data);
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The committed corpus (seeds and past crashes) still runs clean through every target.
    #[test]
    fn the_committed_corpus_replays_without_a_panic() {
        let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../fuzz/corpus");
        let mut ran = 0;
        for (name, f) in TARGETS {
            let dir = root.join(name);
            let entries = std::fs::read_dir(&dir).unwrap_or_else(|e| {
                panic!(
                    "the corpus of `{name}` is missing at `{}`: {e}",
                    dir.display()
                )
            });
            let mut n = 0;
            for e in entries {
                let data = std::fs::read(e.unwrap().path()).unwrap();
                f(&data);
                n += 1;
            }
            assert!(n > 0, "the corpus of `{name}` is empty");
            ran += n;
        }
        assert!(ran > 0);
    }
}
