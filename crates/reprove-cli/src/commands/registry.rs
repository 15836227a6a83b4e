//! Evidence in OCI registries: `reprove push-evidence`, `reprove pull-evidence`, and the
//! helpers through which `release --push`, `verify`, `report` and `status` reach a registry.

use std::path::{Path, PathBuf};

use anyhow::{Result, bail};
use clap::Args;
use reprove_escape::terminal;
use reprove_oci::registry::{ClientOptions, RegistryClient};
use reprove_release::registry::{self as store, EvidenceRepo, EvidenceSource, Pushed};

use crate::outcome::Outcome;
use crate::output::{note, stdout_text};

/// The registry client for evidence: credentials as `images check` finds them
/// (`REGISTRY_AUTH_FILE`, else `~/.docker/config.json`), plain HTTP only for loopback and
/// the `--insecure-registry` hosts.
pub fn client(insecure: &[String]) -> Result<RegistryClient> {
    Ok(RegistryClient::new(ClientOptions {
        insecure_registries: insecure.to_vec(),
        // Evidence blobs can be large (rebuilt artifacts): minutes, not seconds.
        timeout: std::time::Duration::from_secs(600),
        ..Default::default()
    })?)
}

/// Tells the user what the client gathered (credentials withheld from a token service).
pub fn client_notes(client: &RegistryClient) {
    for n in client.notes() {
        note(&format!("note: {n}"));
    }
}

/// One line saying what a push did.
pub fn pushed_line(p: &Pushed) -> String {
    let attached = p.referrers.len();
    if p.unchanged {
        format!(
            "`{}` already holds this evidence ({} files); {attached} bundles attached",
            terminal(&p.reference),
            p.files
        )
    } else {
        format!(
            "pushed {} files ({} bytes) to `{}`; {attached} bundles attached as referrers",
            p.files,
            p.bytes,
            terminal(&p.reference)
        )
    }
}

/// A release's evidence to read: the folder itself, or a registry's copy pulled into a
/// temporary folder (removed when this is dropped).
pub struct Evidence {
    pub dir: PathBuf,
    /// `oci://…:TAG@sha256:…` when it came from a registry: what the output names.
    pub from_registry: Option<String>,
    _tmp: Option<tempfile::TempDir>,
}

impl Evidence {
    /// A report of the pulled copy as the user should read it: the registry reference where
    /// the temporary folder's path would be.
    pub fn name_in(&self, report: &mut reprove_release::verify::VerifyReport) {
        let Some(reference) = &self.from_registry else {
            return;
        };
        let tmp = self.dir.display().to_string();
        report.evidence = reference.clone();
        for c in &mut report.checks {
            for text in
                std::iter::once(&mut c.detail).chain(c.findings.iter_mut().map(|f| &mut f.message))
            {
                *text = text.replace(&tmp, reference);
            }
        }
    }
}

/// The evidence of `tag` from `--evidence` (a folder or `oci://…`), else `evidence/<tag>` in
/// the repository. A registry's copy is pulled and checked blob by blob first; whether it
/// proves anything is then decided as for any folder.
pub fn evidence_for(
    given: Option<&EvidenceSource>,
    repo: Option<&reprove_source::Repository>,
    tag: &reprove_source::Tag,
    insecure: &[String],
    signers: &[reprove_attest::verify::Signer],
    trusted_root: Option<&str>,
) -> Result<Evidence> {
    // With a key, a registry's copy is gated: its signed index is checked first, and only
    // what that vouches for is downloaded.
    let gate = store::Gate {
        signers,
        root: trusted_root,
    };
    let gate = (!signers.is_empty()).then_some(&gate);
    match given {
        Some(EvidenceSource::Registry(from)) => {
            let c = client(insecure)?;
            let reference = from.reference(Some(tag.as_str()))?;
            let tmp = tempfile::Builder::new()
                .prefix("reprove-evidence-")
                .tempdir()?;
            let dir = tmp.path().join("evidence");
            // A temporary copy: no fsync.
            let pulled = store::pull(&c, from, &reference, &dir, false, false, gate)?;
            client_notes(&c);
            note(&format!(
                "pulled {} files ({} bytes) from `{}`",
                pulled.files,
                pulled.bytes,
                terminal(&pulled.reference)
            ));
            if pulled.not_downloaded > 0 {
                note(&format!(
                    "{} file(s) not downloaded: the signed index does not vouch for them",
                    pulled.not_downloaded
                ));
            }
            Ok(Evidence {
                dir,
                from_registry: Some(pulled.reference),
                _tmp: Some(tmp),
            })
        }
        other => {
            let folder = match other {
                Some(EvidenceSource::Folder(p)) => Some(p.as_path()),
                _ => None,
            };
            let dir = super::evidence_dir(folder, repo, tag)?;
            super::require_evidence(&dir, tag)?;
            Ok(Evidence {
                dir,
                from_registry: None,
                _tmp: None,
            })
        }
    }
}

/// Store release evidence in an OCI registry, as OCI 1.1 artifacts
///
/// Each folder becomes one artifact tagged with its release tag (every file a layer named
/// by org.opencontainers.image.title, so `oras pull` gives the same folder); each Sigstore
/// bundle is attached to it as a referrer with the bundle media type, so `oras discover`
/// and cosign find them (the referrers API, or the fallback tag where the registry has
/// none). A tag that holds other evidence is replaced only with --force. Plain HTTP only to
/// loopback or --insecure-registry.
#[derive(Debug, Args)]
#[command(
    after_help = "Examples:\n  reprove push-evidence evidence/v1.4.0 --to oci://ghcr.io/acme/app-evidence\n  reprove push-evidence evidence/* --to oci://127.0.0.1:5000/acme/evidence"
)]
pub struct PushEvidenceArgs {
    /// Evidence folders (each written by `reprove release`).
    #[arg(required = true, value_name = "DIR")]
    folders: Vec<PathBuf>,
    /// The repository: oci://REGISTRY/REPOSITORY.
    #[arg(long, value_name = "OCI")]
    to: EvidenceRepo,
    /// Replace a tag that holds other evidence.
    #[arg(long)]
    force: bool,
    /// A registry (host:port) reached over plain HTTP; loopback registries always are (repeatable).
    #[arg(long = "insecure-registry", value_name = "HOST")]
    insecure_registry: Vec<String>,
}

/// `reprove push-evidence`.
pub fn push(args: PushEvidenceArgs) -> Result<Outcome> {
    let c = client(&args.insecure_registry)?;
    let mut out = String::new();
    for dir in &args.folders {
        let p = store::push(&c, dir, &args.to, args.force).map_err(|e| {
            anyhow::Error::new(e).context(format!("failed to push `{}`", dir.display()))
        })?;
        note(&pushed_line(&p));
        out.push_str(&format!("{}\n", terminal(&p.reference)));
    }
    client_notes(&c);
    stdout_text(&out)?;
    Ok(Outcome::Pass)
}

/// Copy release evidence from an OCI registry into folders, for offline audit
///
/// With a release (`:TAG` or `@DIGEST`) its evidence goes to --out (default
/// evidence/<tag>); without one every release the repository holds goes under --out
/// (default evidence/), one folder per release. Every blob is checked against its digest and
/// size, file names must be plain relative paths, and a folder appears only when complete;
/// whether the evidence proves anything is `reprove verify`'s to say. An existing folder is
/// replaced only with --force.
#[derive(Debug, Args)]
#[command(
    after_help = "Examples:\n  reprove pull-evidence oci://ghcr.io/acme/app-evidence:v1.4.0\n  reprove pull-evidence oci://ghcr.io/acme/app-evidence --out audit/evidence\n  reprove verify v1.4.0 --evidence oci://ghcr.io/acme/app-evidence --key release.pub --artifacts dist/"
)]
pub struct PullEvidenceArgs {
    /// oci://REGISTRY/REPOSITORY, with :TAG or @DIGEST for one release.
    #[arg(value_name = "OCI")]
    from: EvidenceRepo,
    /// Where to write: the release's folder, or the root of every release's folder.
    #[arg(long, value_name = "DIR")]
    out: Option<PathBuf>,
    /// Replace existing folders.
    #[arg(long)]
    force: bool,
    /// A registry (host:port) reached over plain HTTP; loopback registries always are (repeatable).
    #[arg(long = "insecure-registry", value_name = "HOST")]
    insecure_registry: Vec<String>,
}

/// `reprove pull-evidence`.
pub fn pull(dir: &Path, args: PullEvidenceArgs) -> Result<Outcome> {
    let c = client(&args.insecure_registry)?;
    let mut out = String::new();
    if args.from.names_release() {
        let reference = args.from.reference(None)?;
        let listing = store::list(&c, &args.from, &reference)?;
        let target = match args.out.clone() {
            Some(t) => t,
            None => store::folder_under(
                &dir.join("evidence"),
                &listing.folder_name(args.from.image().tag().unwrap_or(&reference)),
            )?,
        };
        let p = store::download(
            &c,
            &args.from,
            &listing,
            &target,
            args.force,
            store::CONCURRENCY,
            true,
            None,
        )?;
        note(&format!(
            "pulled {} files ({} bytes) from `{}`",
            p.files,
            p.bytes,
            terminal(&p.reference)
        ));
        out.push_str(&format!("{}\n", terminal(&target.display().to_string())));
        client_notes(&c);
        stdout_text(&out)?;
        return Ok(Outcome::Pass);
    }
    let root = args.out.clone().unwrap_or_else(|| dir.join("evidence"));
    let tags = store::release_tags(&c, &args.from)?;
    if tags.is_empty() {
        bail!("`{}` holds no evidence", terminal(&args.from.to_string()));
    }
    let results = store::pull_each(
        &c,
        &args.from,
        &tags,
        &|t, listing| store::folder_under(&root, &listing.folder_name(t)),
        args.force,
        true,
        // An offline copy for the audit: everything, within the bounds of a listing.
        None,
    );
    let mut failed = 0;
    for (t, r) in tags.iter().zip(results) {
        match r {
            // The OCI tag, not the manifest's unverified annotation.
            Ok(p) => out.push_str(&format!("{}  {}\n", terminal(t), terminal(&p.reference))),
            Err(e) => {
                failed += 1;
                crate::output::warn(&format!(
                    "error: `{}`: {}",
                    terminal(t),
                    reprove_attest::verify::error_chain(&e)
                ));
            }
        }
    }
    client_notes(&c);
    stdout_text(&out)?;
    note(&format!(
        "pulled {} of {} releases into `{}`",
        tags.len() - failed,
        tags.len(),
        terminal(&root.display().to_string())
    ));
    Ok(if failed == 0 {
        Outcome::Pass
    } else {
        Outcome::CouldNotCheck
    })
}
