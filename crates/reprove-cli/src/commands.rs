use std::io::IsTerminal as _;
use std::path::{Path, PathBuf};

use anyhow::{Context as _, Result, bail};
use clap::{Parser, Subcommand, ValueEnum};
use reprove_baseline::{Options, Progress};
use reprove_source::{Repository, Tag};

use crate::output::{emit, note};

/// Exit status of a command that ran.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    /// The check holds.
    Pass = 0,
    /// The check ran and failed (a policy failed).
    Fail = 1,
    /// Part of the check could not run (a registry was unreachable); results were printed.
    CouldNotCheck = 2,
}

impl Outcome {
    /// 0 holds, 1 failed, anything higher could not check.
    pub fn from_severity(worst: u8) -> Outcome {
        match worst {
            0 => Outcome::Pass,
            1 => Outcome::Fail,
            _ => Outcome::CouldNotCheck,
        }
    }
}

/// Rebuild a tagged release, prove it matches, and sign the evidence.
///
/// Exit status: 0 the check holds, 1 the check ran and failed, 2 it could not run.
#[derive(Debug, Parser)]
#[command(name = "reprove", version, about, max_term_width = 100)]
pub struct Cli {
    /// Run as if started in DIR.
    #[arg(short = 'C', global = true, value_name = "DIR")]
    pub dir: Option<PathBuf>,
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Assemble the configuration baseline manifest of a tag (IEC 62304 §8.1)
    ///
    /// Reads the committed tree at the tag, never the working tree: every tracked file with
    /// its digests and class, the SOUP register, the container images, and every change since
    /// the previous release tag with its authorization. The JSON form is an in-toto Statement
    /// v1 in canonical JSON (RFC 8785): the same tag always gives the same bytes.
    Baseline {
        /// The release tag.
        tag: Tag,
        /// Base of the change trace (default: the previous release tag by version order).
        #[arg(long, value_name = "TAG")]
        previous: Option<Tag>,
        /// Add the release artifacts in DIR (flat files) as subjects.
        #[arg(long, value_name = "DIR")]
        artifacts: Option<PathBuf>,
        /// Output format (default: text, or json when writing to a file).
        #[arg(long, value_enum)]
        format: Option<BaselineFormat>,
        /// Write to FILE (atomically) instead of stdout.
        #[arg(short, long, value_name = "FILE")]
        output: Option<PathBuf>,
        /// Overwrite FILE if it exists.
        #[arg(long)]
        force: bool,
        /// Sign the manifest: the output is a Sigstore bundle (DSSE over the canonical bytes).
        #[arg(long, requires = "key")]
        sign: bool,
        /// Private key for --sign.
        #[arg(long, value_name = "KEY", requires = "sign")]
        key: Option<PathBuf>,
    },
    /// Print the SOUP register (IEC 62304 §8.1.2) of a tag, or of HEAD
    Soup {
        /// The release tag (default: the commit at HEAD).
        tag: Option<Tag>,
        #[arg(long, value_enum, default_value_t = SoupFormat::Markdown)]
        format: SoupFormat,
        /// Write to FILE (atomically) instead of stdout.
        #[arg(short, long, value_name = "FILE")]
        output: Option<PathBuf>,
        /// Overwrite FILE if it exists.
        #[arg(long)]
        force: bool,
    },
    /// Write a commented reprove.toml for this repository (never overwrites one)
    Init,
    /// Generate a signing key or print a public key
    #[command(subcommand)]
    Key(KeyCommand),
    /// Rebuild a tag in its pinned image with no network and compare with the published artifacts
    ///
    /// Exit 0 when every artifact matches (or, without --artifacts, the build succeeded),
    /// 1 on any difference, 2 when the rebuild could not run.
    Rebuild {
        /// The release tag.
        tag: Tag,
        /// Published artifacts: a flat directory, or a SHA256SUMS file.
        #[arg(long, value_name = "DIR|SHA256SUMS")]
        artifacts: Option<PathBuf>,
        /// Container engine (default: docker or podman, whichever is on PATH).
        #[arg(long, value_enum)]
        engine: Option<EngineArg>,
        /// Build a second time varying build path, time zone, locale, umask, hostname and user.
        #[arg(long)]
        variations: bool,
        /// Keep the build log, rebuilt artifacts, explanations and report in DIR.
        #[arg(long, value_name = "DIR")]
        keep: Option<PathBuf>,
        /// Replace DIR if it exists.
        #[arg(long)]
        force: bool,
        #[arg(long, value_enum, default_value_t = RebuildFormat::Text)]
        format: RebuildFormat,
    },
    /// Write the SLSA provenance v1 of a rebuild report and sign it
    ///
    /// The subjects are the rebuilt artifacts; the recipe, the pinned environment, the commit,
    /// the build image and the lockfiles are recorded by digest. Refuses (exit 1) a report that
    /// did not reproduce, or whose tag has moved since.
    Attest {
        /// The release tag.
        tag: Tag,
        /// The report of `reprove rebuild --format json`.
        #[arg(long, value_name = "FILE")]
        rebuild_report: PathBuf,
        /// Private key to sign with.
        #[arg(long, value_name = "KEY")]
        key: PathBuf,
        /// Other files the rebuild produced (build log, diffoscope output), recorded by digest.
        #[arg(long, value_name = "FILE")]
        byproduct: Vec<PathBuf>,
        /// Write the bundle to FILE (atomically) instead of stdout.
        #[arg(short, long, value_name = "FILE")]
        output: Option<PathBuf>,
        /// Overwrite FILE if it exists.
        #[arg(long)]
        force: bool,
    },
    /// Release a tag: baseline, rebuild, compare, provenance, sign, evidence folder
    ///
    /// Writes the evidence folder (default `evidence/<tag>/`) all at once: it appears only when
    /// everything was written. Exit 0 released; 1 the rebuild differs, the build fails or the
    /// change policy fails (the folder records why, with no provenance); 2 it could not run
    /// (nothing is written).
    Release {
        /// The release tag.
        tag: Tag,
        /// The published artifacts (a flat folder).
        #[arg(long, value_name = "DIR")]
        artifacts: PathBuf,
        /// Private key to sign the baseline and the provenance with.
        #[arg(long, value_name = "KEY")]
        key: PathBuf,
        /// The evidence folder to create (default: evidence/<tag> in the repository).
        #[arg(long, value_name = "DIR")]
        evidence: Option<PathBuf>,
        /// Replace an existing evidence folder.
        #[arg(long)]
        force: bool,
        /// Base of the change trace (default: the previous release tag by version order).
        #[arg(long, value_name = "TAG")]
        previous: Option<Tag>,
        #[arg(long, value_enum)]
        engine: Option<EngineArg>,
    },
    /// Verify a release's evidence, offline: signatures, artifacts, agreement, tag, policy
    ///
    /// Checks every bundle's signature, each artifact's sha256 against the provenance, that
    /// baseline and provenance agree, that the tag still points at the signed commit, and the
    /// change policy; --check-images asks the registries, --rebuild rebuilds. Exit 0 verified,
    /// 1 a check failed, 2 a check could not run.
    Verify {
        /// The release tag.
        tag: Tag,
        /// The release's evidence folder (default: evidence/<tag> in the repository).
        #[arg(long, value_name = "DIR")]
        evidence: Option<PathBuf>,
        /// The published artifacts: the folder of downloaded files, whose bytes are hashed.
        /// Every entry counts: a file no subject names, a subfolder or a symlink fails.
        #[arg(long, value_name = "DIR", conflicts_with_all = ["artifact", "no_artifacts"])]
        artifacts: Option<PathBuf>,
        /// One published file to check against the subject of its name (repeatable); the
        /// release's other artifacts are then not required.
        #[arg(
            long = "artifact",
            value_name = "FILE",
            conflicts_with = "no_artifacts"
        )]
        artifact: Vec<PathBuf>,
        /// Check the evidence only, no published file; the verdict and the summary say so.
        #[arg(long)]
        no_artifacts: bool,
        /// The product: the signed baseline and provenance must name this `[project] name`.
        #[arg(long, value_name = "NAME")]
        project: Option<String>,
        /// The source repository the provenance must name (any form: github.com/org/repo,
        /// https://…, git@…).
        #[arg(long, value_name = "URI")]
        source_uri: Option<String>,
        /// Public key of the release signer: the index, the baseline and the release's own
        /// provenance must be signed with it (repeatable, e.g. across a key rotation).
        #[arg(long = "key", value_name = "PUB")]
        keys: Vec<PathBuf>,
        /// Public key of another rebuilder whose provenance counts toward --require; it can
        /// never sign for the release itself (repeatable).
        #[arg(long = "rebuilder-key", value_name = "PUB")]
        rebuilder_keys: Vec<PathBuf>,
        /// Keyless: expected certificate identity (exact).
        #[arg(long, value_name = "ID", requires = "certificate_oidc_issuer")]
        certificate_identity: Option<String>,
        /// Keyless: expected OIDC issuer (exact).
        #[arg(long, value_name = "URL", requires = "certificate_identity")]
        certificate_oidc_issuer: Option<String>,
        /// Trusted root JSON for keyless bundles (default: Sigstore's production root, built in).
        #[arg(long, value_name = "FILE")]
        trusted_root: Option<PathBuf>,
        /// Independent signers whose provenance must agree (k-of-n).
        #[arg(long, value_name = "N", default_value_t = 1)]
        require: usize,
        /// Also check every image pin against its registry (needs the network).
        #[arg(long)]
        check_images: bool,
        #[arg(long = "insecure-registry", value_name = "HOST")]
        insecure_registry: Vec<String>,
        /// Also rebuild the tag and compare with the attested digests (needs an engine).
        #[arg(long)]
        rebuild: bool,
        #[arg(long, value_enum)]
        engine: Option<EngineArg>,
        #[arg(long, value_enum, default_value_t = RebuildFormat::Text)]
        format: RebuildFormat,
        /// Sign the SLSA verification summary with this key.
        #[arg(long, value_name = "KEY")]
        vsa_key: Option<PathBuf>,
        /// Write the signed verification summary (bundle) to FILE.
        #[arg(long, value_name = "FILE")]
        vsa_output: Option<PathBuf>,
        /// Overwrite the --vsa-output file.
        #[arg(long)]
        force: bool,
    },
    /// Every release tag with the state its evidence proves (IEC 62304 §8.3)
    ///
    /// untracked, baselined, rebuilt, reproducible / not-reproducible, attested, verified —
    /// re-verified from each `evidence/<tag>/`, not trusted; `invalid` when evidence fails a
    /// check (bad signature, files not matching the index, a moved tag). Without --key the
    /// signatures are not checked and the state stops at attested. Exit 1 when any release's
    /// evidence is invalid.
    Status {
        /// Where the evidence folders are (default: evidence/ in the repository).
        #[arg(long, value_name = "DIR")]
        evidence_root: Option<PathBuf>,
        /// Public key of a trusted signer (repeatable).
        #[arg(long = "key", value_name = "PUB")]
        keys: Vec<PathBuf>,
        #[arg(long, value_name = "ID", requires = "certificate_oidc_issuer")]
        certificate_identity: Option<String>,
        #[arg(long, value_name = "URL", requires = "certificate_identity")]
        certificate_oidc_issuer: Option<String>,
        #[arg(long, value_name = "FILE")]
        trusted_root: Option<PathBuf>,
        /// Also check every release's image pins against the registries (drift).
        #[arg(long)]
        check_images: bool,
        #[arg(long = "insecure-registry", value_name = "HOST")]
        insecure_registry: Vec<String>,
        #[arg(long, value_enum, default_value_t = TextOrJson::Text)]
        format: TextOrJson,
    },
    /// What changed between two releases, with each change's authorization
    ///
    /// OLD and NEW are baseline files (manifest or signed bundle) or tags. Configuration
    /// items added, removed and modified (with both digests and the commits that touched
    /// them), SOUP added, removed, upgraded or downgraded, images changed, and every commit
    /// between them with its authorization. Exit 1 when an unauthorized change breaks the
    /// policy.
    Diff {
        old: String,
        new: String,
        /// Verify baseline bundles with this key (repeatable); without it they are read
        /// unverified, and a note says so.
        #[arg(long = "key", value_name = "PUB")]
        keys: Vec<PathBuf>,
        #[arg(long, value_enum, default_value_t = crate::audit::DiffFormat::Text)]
        format: crate::audit::DiffFormat,
    },
    /// The audit report of a release: a self-contained HTML (or Markdown) configuration
    /// management record, plus SOUP-List.md and Configuration-Management.md beside it
    ///
    /// Verifies the evidence first (offline) and reports clause by clause: IEC 62304 §8.1–8.3,
    /// 5.8.4, 5.8.5, 5.8.8 and ISO 13485 §4.2.4, 4.2.5. Exit 0 when the evidence verifies, 1
    /// when a check fails, 2 when one could not run; the documents are written in every case.
    Report {
        /// The release tag.
        tag: Tag,
        /// The release's evidence folder (default: evidence/<tag> in the repository).
        #[arg(long, value_name = "DIR")]
        evidence: Option<PathBuf>,
        /// The published artifacts, to check against the provenance (without it the record
        /// says no artifact was checked).
        #[arg(long, value_name = "DIR")]
        artifacts: Option<PathBuf>,
        /// The product the signed statements must name (`[project] name`).
        #[arg(long, value_name = "NAME")]
        project: Option<String>,
        /// The source repository the provenance must name.
        #[arg(long, value_name = "URI")]
        source_uri: Option<String>,
        #[arg(long = "key", value_name = "PUB")]
        keys: Vec<PathBuf>,
        #[arg(long, value_name = "ID", requires = "certificate_oidc_issuer")]
        certificate_identity: Option<String>,
        #[arg(long, value_name = "URL", requires = "certificate_identity")]
        certificate_oidc_issuer: Option<String>,
        #[arg(long, value_name = "FILE")]
        trusted_root: Option<PathBuf>,
        #[arg(long, value_enum, default_value_t = crate::audit::ReportFormat::Html)]
        format: crate::audit::ReportFormat,
        /// The report file (default: reprove-report-<tag>.html or .md here); the two documents
        /// go in the same folder.
        #[arg(short, long, value_name = "FILE")]
        output: Option<PathBuf>,
        /// Overwrite existing files.
        #[arg(long)]
        force: bool,
    },
    /// Find container image references, check their pins, pin them
    #[command(subcommand)]
    Images(ImagesCommand),
    /// Sign an in-toto statement into a Sigstore bundle (or, with --dsse, a DSSE envelope)
    ///
    /// The statement file's exact bytes are the signed payload. The password of an encrypted
    /// key comes from REPROVE_PASSWORD or COSIGN_PASSWORD, or a prompt on the terminal.
    Sign {
        /// The in-toto Statement v1 (JSON) to sign.
        statement: PathBuf,
        /// Private key (PKCS#8, SEC1, or cosign's encrypted format).
        #[arg(long, value_name = "KEY")]
        key: PathBuf,
        /// Where to write the bundle (atomically).
        #[arg(short, long, value_name = "BUNDLE")]
        output: PathBuf,
        /// Write a bare DSSE envelope (for in-toto/securesystemslib tools) instead of a bundle.
        #[arg(long)]
        dsse: bool,
        /// Overwrite BUNDLE if it exists.
        #[arg(long)]
        force: bool,
    },
    /// Verify a Sigstore bundle for a file or digest, offline
    ///
    /// Key-signed bundles are checked against --key; keyless ones against the certificate
    /// identity and OIDC issuer, with Sigstore's production trusted root built in
    /// (--trusted-root replaces it). Follows the sigstore-conformance CLI protocol.
    /// Exit 0 verified, 1 rejected, 2 unusable input.
    #[command(name = "verify-bundle")]
    VerifyBundle {
        #[arg(long, value_name = "FILE")]
        bundle: PathBuf,
        /// Public key (SPKI PEM) for key-signed bundles.
        #[arg(long, value_name = "PUB", conflicts_with_all = ["certificate_identity", "certificate_oidc_issuer"], required_unless_present = "certificate_identity")]
        key: Option<PathBuf>,
        /// Expected certificate identity (subject alternative name), exact match.
        #[arg(long, value_name = "ID", requires = "certificate_oidc_issuer")]
        certificate_identity: Option<String>,
        /// Expected OIDC issuer, exact match.
        #[arg(long, value_name = "URL", requires = "certificate_identity")]
        certificate_oidc_issuer: Option<String>,
        /// Trusted root JSON to use instead of Sigstore's production root.
        #[arg(long, value_name = "FILE")]
        trusted_root: Option<PathBuf>,
        #[arg(long, value_enum, default_value_t = TextOrJson::Text)]
        format: TextOrJson,
        /// The signed file, or `sha256:<64 hex>`.
        file_or_digest: String,
    },
}

#[derive(Debug, Subcommand)]
pub enum ImagesCommand {
    /// Check every image reference's pin against its registry
    ///
    /// Verdicts: ok, unpinned-image, tag-moved, digest-missing, index-republished,
    /// digest-mismatch, unparsable-image, registry-unreachable. Exit 0 when every pin holds,
    /// 1 when one is broken or missing, 2 when a registry could not be asked.
    Check {
        /// Files or folders to scan (default: the repository's tracked files).
        paths: Vec<PathBuf>,
        /// Check the images recorded in a baseline (manifest or signed bundle) instead.
        #[arg(long, value_name = "B", conflicts_with = "paths")]
        baseline: Option<PathBuf>,
        /// Public key to check the baseline bundle's signature with.
        #[arg(long, value_name = "PUB", requires = "baseline")]
        key: Option<PathBuf>,
        /// Registry host (with port) to reach over plain HTTP; loopback registries always are.
        #[arg(long = "insecure-registry", value_name = "HOST")]
        insecure_registry: Vec<String>,
        /// Requests in flight at once.
        #[arg(long, default_value_t = 16)]
        concurrency: usize,
        /// Seconds before a registry request is abandoned (registry-unreachable).
        #[arg(long, value_name = "SECONDS", default_value_t = 30)]
        timeout: u64,
        #[arg(long, value_enum, default_value_t = ImagesFormat::Text)]
        format: ImagesFormat,
    },
    /// Rewrite unpinned references to `name:tag@sha256:…` in place (multi-arch: the index)
    Pin {
        /// Files or folders to rewrite (default: the repository's tracked files).
        paths: Vec<PathBuf>,
        /// Print the diff instead of writing.
        #[arg(long)]
        dry_run: bool,
        #[arg(long = "insecure-registry", value_name = "HOST")]
        insecure_registry: Vec<String>,
        #[arg(long, default_value_t = 16)]
        concurrency: usize,
        /// Seconds before a registry request is abandoned.
        #[arg(long, value_name = "SECONDS", default_value_t = 30)]
        timeout: u64,
    },
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum EngineArg {
    Docker,
    Podman,
}

impl From<EngineArg> for reprove_build::EngineKind {
    fn from(e: EngineArg) -> Self {
        match e {
            EngineArg::Docker => reprove_build::EngineKind::Docker,
            EngineArg::Podman => reprove_build::EngineKind::Podman,
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum RebuildFormat {
    Text,
    Json,
    Junit,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum ImagesFormat {
    Text,
    Json,
    Sarif,
}

#[derive(Debug, Subcommand)]
pub enum KeyCommand {
    /// Write PREFIX.key (PKCS#8 PEM, mode 0600; cosign-encrypted when REPROVE_PASSWORD or
    /// COSIGN_PASSWORD is set) and PREFIX.pub (SPKI PEM)
    Generate {
        #[arg(long, value_enum, default_value_t = AlgorithmArg::P256)]
        algorithm: AlgorithmArg,
        /// Path prefix of the two files.
        #[arg(long, value_name = "PREFIX")]
        output: PathBuf,
        /// Overwrite existing files.
        #[arg(long)]
        force: bool,
    },
    /// Print the public key (SPKI PEM) of a private or public key file
    Public { key: PathBuf },
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum AlgorithmArg {
    P256,
    Ed25519,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum TextOrJson {
    Text,
    Json,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum BaselineFormat {
    Text,
    Json,
    Markdown,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum SoupFormat {
    #[value(alias = "text")]
    Markdown,
    Csv,
    Json,
    Cyclonedx,
}

pub fn run(cli: Cli) -> Result<Outcome> {
    let dir = match cli.dir.clone() {
        Some(d) => d,
        None => std::env::current_dir().context("failed to read the current directory")?,
    };
    match cli.command {
        Command::Baseline {
            tag,
            previous,
            artifacts,
            format,
            output,
            force,
            sign: _,
            key,
        } => baseline(
            &dir,
            &tag,
            BaselineArgs {
                previous,
                artifacts: artifacts.as_deref(),
                format,
                output: output.as_deref(),
                force,
                key: key.as_deref(),
            },
        ),
        Command::Soup {
            tag,
            format,
            output,
            force,
        } => soup(&dir, tag.as_ref(), format, output.as_deref(), force),
        Command::Init => init(&dir),
        Command::Rebuild {
            tag,
            artifacts,
            engine,
            variations,
            keep,
            force,
            format,
        } => crate::rebuild::run(
            &dir,
            &tag,
            crate::rebuild::Args {
                artifacts,
                engine,
                variations,
                keep,
                force,
                format,
            },
        ),
        Command::Attest {
            tag,
            rebuild_report,
            key,
            byproduct,
            output,
            force,
        } => crate::release::attest(
            &dir,
            &tag,
            crate::release::AttestArgs {
                rebuild_report,
                key,
                output,
                force,
                byproducts: byproduct,
            },
        ),
        Command::Release {
            tag,
            artifacts,
            key,
            evidence,
            force,
            previous,
            engine,
        } => crate::release::release(
            &dir,
            &tag,
            crate::release::ReleaseArgs {
                artifacts,
                key,
                evidence,
                force,
                engine,
                previous,
            },
        ),
        Command::Verify {
            tag,
            evidence,
            artifacts,
            artifact,
            no_artifacts,
            project,
            source_uri,
            keys,
            rebuilder_keys,
            certificate_identity,
            certificate_oidc_issuer,
            trusted_root,
            require,
            check_images,
            insecure_registry,
            rebuild,
            engine,
            format,
            vsa_key,
            vsa_output,
            force,
        } => crate::release::verify(
            &dir,
            &tag,
            crate::release::VerifyArgs {
                evidence,
                artifacts,
                artifact,
                no_artifacts,
                project,
                source_uri,
                keys,
                rebuilder_keys,
                identity: certificate_identity.zip(certificate_oidc_issuer),
                trusted_root,
                require,
                check_images,
                insecure_registry,
                rebuild,
                engine,
                format,
                vsa_key,
                vsa_output,
                force,
            },
        ),
        Command::Status {
            evidence_root,
            keys,
            certificate_identity,
            certificate_oidc_issuer,
            trusted_root,
            check_images,
            insecure_registry,
            format,
        } => crate::audit::status(
            &dir,
            crate::audit::StatusArgs {
                evidence_root,
                keys,
                identity: certificate_identity.zip(certificate_oidc_issuer),
                trusted_root,
                check_images,
                insecure_registry,
                format,
            },
        ),
        Command::Diff {
            old,
            new,
            keys,
            format,
        } => crate::audit::diff(
            &dir,
            crate::audit::DiffArgs {
                old,
                new,
                keys,
                format,
            },
        ),
        Command::Report {
            tag,
            evidence,
            artifacts,
            project,
            source_uri,
            keys,
            certificate_identity,
            certificate_oidc_issuer,
            trusted_root,
            format,
            output,
            force,
        } => crate::audit::report(
            &dir,
            &tag,
            crate::audit::ReportArgs {
                evidence,
                artifacts,
                project,
                source_uri,
                keys,
                identity: certificate_identity.zip(certificate_oidc_issuer),
                trusted_root,
                format,
                output,
                force,
            },
        ),
        Command::Key(KeyCommand::Generate {
            algorithm,
            output,
            force,
        }) => {
            let alg = match algorithm {
                AlgorithmArg::P256 => reprove_attest::KeyAlgorithm::P256,
                AlgorithmArg::Ed25519 => reprove_attest::KeyAlgorithm::Ed25519,
            };
            crate::sign::generate(alg, &output, force).map(|()| Outcome::Pass)
        }
        Command::Images(ImagesCommand::Check {
            paths,
            baseline,
            key,
            insecure_registry,
            concurrency,
            timeout,
            format,
        }) => crate::images::check(
            &dir,
            crate::images::CheckArgs {
                paths: &paths,
                baseline: baseline.as_deref(),
                key: key.as_deref(),
                insecure: &insecure_registry,
                concurrency,
                timeout: std::time::Duration::from_secs(timeout),
                format,
            },
        ),
        Command::Images(ImagesCommand::Pin {
            paths,
            dry_run,
            insecure_registry,
            concurrency,
            timeout,
        }) => crate::images::pin(
            &dir,
            &paths,
            &insecure_registry,
            concurrency,
            std::time::Duration::from_secs(timeout),
            dry_run,
        ),
        Command::Key(KeyCommand::Public { key }) => {
            crate::sign::public(&key).map(|()| Outcome::Pass)
        }
        Command::Sign {
            statement,
            key,
            output,
            dsse,
            force,
        } => crate::sign::sign(&statement, &key, &output, dsse, force).map(|()| Outcome::Pass),
        Command::VerifyBundle {
            bundle,
            key,
            certificate_identity,
            certificate_oidc_issuer,
            trusted_root,
            format,
            file_or_digest,
        } => crate::verify::verify_bundle(
            &bundle,
            key.as_deref(),
            certificate_identity.zip(certificate_oidc_issuer),
            trusted_root.as_deref(),
            format,
            &file_or_digest,
        ),
    }
}

fn open_repo(dir: &Path) -> Result<Repository> {
    Ok(Repository::discover(dir)?)
}

/// The repository at `dir` when there is one. A repository git refuses to read (an unknown
/// extension, a `safe.directory` refusal) is an error, not "no repository": the checks that
/// need it (the tag still names the signed commit) must not be quietly skipped.
pub fn optional_repo(dir: &Path) -> Result<Option<Repository>> {
    match Repository::discover(dir) {
        Ok(r) => Ok(Some(r)),
        Err(reprove_source::SourceError::NotARepository { .. }) => Ok(None),
        Err(e) => Err(anyhow::Error::new(e).context(format!(
            "`{}` is in a git repository that git refuses to read; the tag cannot be checked",
            dir.display()
        ))),
    }
}

fn progress_bar() -> Option<indicatif::ProgressBar> {
    if !std::io::stderr().is_terminal() {
        return None;
    }
    let pb = indicatif::ProgressBar::new(0);
    pb.set_style(
        indicatif::ProgressStyle::with_template(
            "{msg} [{bar:30}] {bytes}/{total_bytes} {bytes_per_sec}",
        )
        .unwrap_or_else(|_| indicatif::ProgressStyle::default_bar())
        .progress_chars("=> "),
    );
    Some(pb)
}

struct BaselineArgs<'a> {
    previous: Option<Tag>,
    artifacts: Option<&'a Path>,
    format: Option<BaselineFormat>,
    output: Option<&'a Path>,
    force: bool,
    key: Option<&'a Path>,
}

fn baseline(dir: &Path, tag: &Tag, args: BaselineArgs<'_>) -> Result<Outcome> {
    let BaselineArgs {
        previous,
        artifacts,
        format,
        output,
        force,
        key,
    } = args;
    let repo = open_repo(dir)?;
    if !force
        && let Some(o) = output
        && o.exists()
    {
        bail!(
            "`{}` already exists; pass --force to overwrite it",
            o.display()
        );
    }
    if key.is_some() && format.is_some_and(|f| f != BaselineFormat::Json) {
        bail!(
            "--sign writes a Sigstore bundle; it cannot be combined with --format text or markdown"
        );
    }
    // Load the key first: a wrong password must not cost a full baseline.
    let signing_key = match key {
        Some(k) => Some(crate::sign::read_private_key(k)?),
        None => None,
    };
    let pb = progress_bar();
    let progress = |p: Progress| {
        if let Some(pb) = &pb {
            match p {
                Progress::Reading { files, bytes } => {
                    pb.set_length(bytes);
                    pb.set_message(format!("hashing {files} files"));
                }
                Progress::Hashed { bytes } => pb.inc(bytes),
                Progress::Tracing => pb.set_message("tracing changes"),
            }
        }
    };
    // The artifacts folder, hashed once: regular files only, at least one.
    let artifact_digests = artifacts
        .map(|dir| {
            reprove_digest::release_folder(dir)
                .map(|f| f.digests())
                .with_context(|| format!("cannot use `{}` as the release artifacts", dir.display()))
        })
        .transpose()?;
    let opts = Options {
        previous,
        artifacts: artifact_digests.as_ref(),
        progress: &progress,
    };
    let result = reprove_baseline::assemble(&repo, tag, &opts);
    if let Some(pb) = &pb {
        pb.finish_and_clear();
    }
    let baseline = result?;
    let format = format.unwrap_or(if output.is_some() || signing_key.is_some() {
        BaselineFormat::Json
    } else {
        BaselineFormat::Text
    });
    let bytes = match (format, &signing_key) {
        (_, Some(k)) => reprove_release::pipeline::sign_statement(baseline.canonical_json()?, k)?,
        (BaselineFormat::Json, None) => {
            let mut b = baseline.canonical_json()?;
            if output.is_none() {
                b.push(b'\n');
            }
            b
        }
        (BaselineFormat::Text, None) => {
            reprove_baseline::to_text(baseline.predicate()).into_bytes()
        }
        (BaselineFormat::Markdown, None) => {
            reprove_baseline::to_markdown(baseline.predicate()).into_bytes()
        }
    };
    emit(output, &bytes, force, &format!("the baseline of `{tag}`"))?;
    let failures: Vec<_> = baseline.policy_failures().collect();
    if failures.is_empty() {
        Ok(Outcome::Pass)
    } else {
        note(&format!(
            "policy failed: {} finding(s) break a policy switched on in reprove.toml",
            failures.len()
        ));
        Ok(Outcome::Fail)
    }
}

fn soup(
    dir: &Path,
    tag: Option<&Tag>,
    format: SoupFormat,
    output: Option<&Path>,
    force: bool,
) -> Result<Outcome> {
    let repo = open_repo(dir)?;
    let reg = reprove_baseline::soup_register(&repo, tag)?;
    let mut bytes = match format {
        SoupFormat::Markdown => {
            let mut s = reprove_soup::to_markdown(&reg.items);
            if !reg.findings.is_empty() {
                s.push_str(&format!("\n**Findings ({}):**\n\n", reg.findings.len()));
                for f in &reg.findings {
                    let at = match (&f.file, f.line) {
                        (Some(file), Some(l)) => format!("{file}:{l}: "),
                        (Some(file), None) => format!("{file}: "),
                        _ => String::new(),
                    };
                    s.push_str(&format!("- `{}` {at}{}\n", f.code.as_str(), f.message));
                }
            }
            s.into_bytes()
        }
        SoupFormat::Csv => reprove_soup::to_csv(&reg.items).into_bytes(),
        SoupFormat::Json => serde_json::to_vec_pretty(&serde_json::json!({
            "commit": reg.commit.to_string(),
            "items": reg.items,
            "findings": reg.findings,
        }))?,
        SoupFormat::Cyclonedx => {
            let meta = reprove_soup::BomMetadata {
                name: reg.project.name.clone(),
                version: tag.map(ToString::to_string),
                supplier: reg.project.supplier.clone(),
                commit: Some(reg.commit.to_string()),
            };
            serde_json::to_vec_pretty(&reprove_soup::to_cyclonedx(&meta, &reg.items))?
        }
    };
    if format != SoupFormat::Csv && !bytes.ends_with(b"\n") {
        bytes.push(b'\n');
    }
    if format == SoupFormat::Csv || format == SoupFormat::Cyclonedx {
        for f in &reg.findings {
            note(&format!("{}: {}", f.code.as_str(), f.message));
        }
    }
    emit(output, &bytes, force, "the SOUP register")?;
    Ok(Outcome::Pass)
}

fn init(dir: &Path) -> Result<Outcome> {
    let repo = open_repo(dir)?;
    let path = repo.root().join("reprove.toml");
    if path.exists() {
        bail!(
            "`{}` already exists; reprove init never overwrites it",
            path.display()
        );
    }
    let text = crate::init::render(&repo).context("failed to inspect the repository")?;
    crate::output::write_file(&path, text.as_bytes(), false)?;
    note(&format!(
        "wrote `{}`; review it, then commit it (it is read from each release tag)",
        path.display()
    ));
    Ok(Outcome::Pass)
}
