use std::ffi::OsStr;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use crate::commit::{CommitInfo, parse_commit};
use crate::ids::{ObjectId, Tag};
use crate::signature::{SignatureInfo, SignatureStatus, detect_signature, status_from_verify};
use crate::{Result, SourceError};

/// A git repository, addressed through the `git` binary.
#[derive(Debug, Clone)]
pub struct Repository {
    /// The top of the working tree (or the git dir for a bare repository).
    root: PathBuf,
}

/// A tag as listed by `for-each-ref`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TagRef {
    pub name: String,
    /// What the ref points to: a tag object (annotated) or a commit (lightweight).
    pub target: ObjectId,
    /// The commit the tag peels to, when it peels to one.
    pub commit: Option<ObjectId>,
}

/// Everything the baseline needs to identify a tag.
#[derive(Debug, Clone)]
pub struct TagInfo {
    pub name: Tag,
    /// The tag object id for annotated tags; `None` for lightweight tags.
    pub tag_object: Option<ObjectId>,
    pub commit: ObjectId,
    pub tree: ObjectId,
    /// Seconds since the epoch, from the tag object's `tagger` line.
    pub tag_time: Option<i64>,
    pub tagger: Option<String>,
    pub signature: SignatureInfo,
    pub commit_info: CommitInfo,
}

/// What a tree entry is, from its git mode.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum TreeEntryKind {
    /// `100644`
    File,
    /// `100755`
    Executable,
    /// `120000`: the blob holds the link target; never followed.
    Symlink,
    /// `160000`: a gitlink; the id is the submodule's commit.
    Submodule,
}

/// One entry of a recursively listed tree.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TreeEntry {
    /// The path as raw bytes, exactly as stored in the tree.
    pub path: Vec<u8>,
    /// The git mode in octal, as git prints it (`100644`).
    pub mode: String,
    pub kind: TreeEntryKind,
    pub oid: ObjectId,
    /// Blob size in bytes; `None` for submodules.
    pub size: Option<u64>,
}

impl Repository {
    /// Finds the repository that contains `path`.
    pub fn discover(path: &Path) -> Result<Self> {
        let rev_parse = |flag: &str| {
            git_command()
                .arg("-C")
                .arg(path)
                .args(["rev-parse", flag])
                .stdin(Stdio::null())
                .output()
                .map_err(|source| SourceError::GitMissing {
                    args: format!("rev-parse {flag}"),
                    source,
                })
        };
        let git_dir = rev_parse("--absolute-git-dir")?;
        if !git_dir.status.success() {
            let stderr = String::from_utf8_lossy(&git_dir.stderr).trim().to_owned();
            // Only "not a git repository" means there is none; a repository git refuses to
            // read (an unknown extension, a `safe.directory` refusal) is an error, never an
            // absent repository — a check that needs it must not be skipped.
            // git's own words for "none found" (a `.git` file naming a missing folder says
            // "not a git repository: <path>" instead: that is a broken repository).
            return Err(if stderr.contains("not a git repository (or any") {
                SourceError::NotARepository {
                    path: path.to_owned(),
                }
            } else {
                SourceError::GitFailed {
                    args: "rev-parse --absolute-git-dir".into(),
                    stderr,
                }
            });
        }
        // A bare repository has no toplevel; git then runs fine from its git dir.
        let top = rev_parse("--show-toplevel")?;
        let chosen = if top.status.success() && !top.stdout.trim_ascii().is_empty() {
            top.stdout
        } else {
            git_dir.stdout
        };
        let root = PathBuf::from(String::from_utf8_lossy(chosen.trim_ascii()).into_owned());
        Ok(Repository { root })
    }

    pub fn root(&self) -> &Path {
        &self.root
    }

    fn command<I, S>(&self, args: I) -> Command
    where
        I: IntoIterator<Item = S>,
        S: AsRef<OsStr>,
    {
        let mut cmd = git_command();
        cmd.arg("-C").arg(&self.root).args(args);
        cmd
    }

    /// Runs git and returns its stdout; a non-zero exit is an error carrying stderr.
    pub(crate) fn run(&self, args: &[&str]) -> Result<Vec<u8>> {
        self.run_with_input(args, None)
    }

    pub(crate) fn run_with_input(&self, args: &[&str], input: Option<&[u8]>) -> Result<Vec<u8>> {
        let out = self.output(args, input)?;
        if !out.status.success() {
            return Err(SourceError::GitFailed {
                args: args.join(" "),
                stderr: String::from_utf8_lossy(&out.stderr).trim().to_owned(),
            });
        }
        Ok(out.stdout)
    }

    pub(crate) fn output(
        &self,
        args: &[&str],
        input: Option<&[u8]>,
    ) -> Result<std::process::Output> {
        let missing = |source| SourceError::GitMissing {
            args: args.join(" "),
            source,
        };
        let mut cmd = self.command(args);
        cmd.stdout(Stdio::piped()).stderr(Stdio::piped());
        cmd.stdin(if input.is_some() {
            Stdio::piped()
        } else {
            Stdio::null()
        });
        let mut child = cmd.spawn().map_err(missing)?;
        // Write stdin from another thread so a large input cannot deadlock against a full
        // stdout pipe.
        let writer = match (input, child.stdin.take()) {
            (Some(data), Some(mut stdin)) => {
                let data = data.to_vec();
                Some(std::thread::spawn(move || stdin.write_all(&data)))
            }
            _ => None,
        };
        let out = child.wait_with_output().map_err(missing)?;
        if let Some(w) = writer {
            // A broken pipe means git stopped reading early; its exit status says why.
            let _ = w.join();
        }
        Ok(out)
    }

    pub(crate) fn spawn_batch(&self, args: &[&str]) -> Result<std::process::Child> {
        self.command(args)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .map_err(|source| SourceError::GitMissing {
                args: args.join(" "),
                source,
            })
    }

    /// For every path changed by a non-merge commit in `base..tip`, the commits that changed
    /// it (relative to their first parent), newest first. Paths that are not UTF-8 are
    /// rendered lossily, as the baseline's `path` is.
    pub fn paths_touched(
        &self,
        base: Option<&ObjectId>,
        tip: &ObjectId,
    ) -> Result<std::collections::BTreeMap<String, Vec<String>>> {
        let range = match base {
            Some(b) => format!("{b}..{tip}"),
            None => tip.to_string(),
        };
        let out = self.run(&[
            "log",
            "--format=%x01%H",
            "--name-only",
            "-z",
            "--no-renames",
            &range,
            "--",
        ])?;
        let mut map: std::collections::BTreeMap<String, Vec<String>> = Default::default();
        for record in out.split(|b| *b == 1).filter(|r| !r.is_empty()) {
            let mut fields = record.split(|b| *b == 0);
            let Some(id) = fields.next() else { continue };
            let id = String::from_utf8_lossy(id).trim().to_owned();
            for path in fields {
                let path = path.strip_prefix(b"\n").unwrap_or(path);
                if path.is_empty() {
                    continue;
                }
                map.entry(String::from_utf8_lossy(path).into_owned())
                    .or_default()
                    .push(id.clone());
            }
        }
        Ok(map)
    }

    /// The URL of the `origin` remote, without any user name or password it carries
    /// (`https://user:token@host/x` → `https://host/x`); `None` when there is no origin.
    pub fn origin_url(&self) -> Option<String> {
        let out = self
            .output(&["config", "--get", "remote.origin.url"], None)
            .ok()?;
        if !out.status.success() {
            return None;
        }
        let url = String::from_utf8(out.stdout).ok()?.trim().to_owned();
        (!url.is_empty()).then(|| strip_userinfo(&url))
    }

    /// Every tag, sorted by name.
    pub fn tags(&self) -> Result<Vec<TagRef>> {
        let out = self.run(&[
            "for-each-ref",
            "--format=%(refname:strip=2)%00%(objectname)%00%(objecttype)%00%(*objectname)%00%(*objecttype)",
            "refs/tags",
        ])?;
        let text = String::from_utf8_lossy(&out);
        let mut tags = Vec::new();
        for line in text.lines() {
            let f: Vec<&str> = line.split('\0').collect();
            if f.len() != 5 {
                return Err(SourceError::Unexpected {
                    args: "for-each-ref".into(),
                    detail: line.to_owned(),
                });
            }
            let target: ObjectId = f[1].parse()?;
            let commit = match (f[2], f[4]) {
                ("commit", _) => Some(target.clone()),
                ("tag", "commit") => Some(f[3].parse()?),
                // Nested tags (a tag of a tag) peel further; ask git.
                ("tag", "tag") => self.peel_to_commit(f[1]).ok(),
                _ => None,
            };
            tags.push(TagRef {
                name: f[0].to_owned(),
                target,
                commit,
            });
        }
        tags.sort_by(|a, b| a.name.cmp(&b.name));
        Ok(tags)
    }

    fn peel_to_commit(&self, rev: &str) -> Result<ObjectId> {
        let spec = format!("{rev}^{{commit}}");
        let out = self.run(&["rev-parse", "--verify", "--quiet", &spec])?;
        String::from_utf8_lossy(&out).trim().parse()
    }

    /// The tag names closest to `wanted` (edit distance), for "did you mean" messages.
    pub fn nearest_tags(&self, wanted: &str, limit: usize) -> Result<Vec<String>> {
        let tags = self.tags()?;
        let mut scored: Vec<(usize, String)> = tags
            .into_iter()
            .map(|t| (strsim::levenshtein(wanted, &t.name), t.name))
            .collect();
        scored.sort();
        Ok(scored.into_iter().take(limit).map(|(_, n)| n).collect())
    }

    /// Resolves a tag to its tag object, commit and tree, and checks its signature.
    pub fn resolve_tag(&self, tag: &Tag) -> Result<TagInfo> {
        let tags = self.tags()?;
        let Some(found) = tags.iter().find(|t| t.name == tag.as_str()) else {
            return Err(SourceError::UnknownTag {
                tag: tag.to_string(),
                nearest: self.nearest_tags(tag.as_str(), 3)?,
            });
        };
        let kind = self.object_type(&found.target)?;
        let Some(commit) = found.commit.clone() else {
            return Err(SourceError::TagNotCommit {
                tag: tag.to_string(),
                kind,
            });
        };
        let (tag_object, tag_time, tagger, signature) = if kind == "tag" {
            let raw = self.cat_file("tag", &found.target)?;
            let (tagger, time) = parse_tagger(&raw);
            let sig = match detect_signature(&raw) {
                None => SignatureInfo::unsigned(),
                Some(format) => {
                    let out = self.output(&["verify-tag", "--raw", found.target.as_str()], None)?;
                    status_from_verify(format, &out)
                }
            };
            (Some(found.target.clone()), time, tagger, sig)
        } else {
            (None, None, None, SignatureInfo::unsigned())
        };
        let raw_commit = self.cat_file("commit", &commit)?;
        let commit_info = parse_commit(commit.clone(), &raw_commit)?;
        Ok(TagInfo {
            name: tag.clone(),
            tag_object,
            tree: commit_info.tree.clone(),
            commit,
            tag_time,
            tagger,
            signature,
            commit_info,
        })
    }

    /// Resolves any revision (`HEAD`, a branch, an id) to a commit.
    pub fn resolve_commit(&self, rev: &str) -> Result<ObjectId> {
        self.peel_to_commit(rev)
            .map_err(|_| SourceError::UnknownRevision {
                rev: rev.to_owned(),
            })
    }

    /// Paths tracked in the index (raw bytes), for commands that look at the working tree.
    pub fn tracked_files(&self) -> Result<Vec<Vec<u8>>> {
        let out = self.run(&["ls-files", "-z", "--full-name"])?;
        Ok(out
            .split(|&b| b == 0)
            .filter(|p| !p.is_empty())
            .map(<[u8]>::to_vec)
            .collect())
    }

    fn object_type(&self, oid: &ObjectId) -> Result<String> {
        let out = self.run(&["cat-file", "-t", oid.as_str()])?;
        Ok(String::from_utf8_lossy(&out).trim().to_owned())
    }

    pub(crate) fn cat_file(&self, kind: &str, oid: &ObjectId) -> Result<Vec<u8>> {
        self.run(&["cat-file", kind, oid.as_str()])
    }

    /// Whether `oid` names an object present in the local object store.
    pub fn has_object(&self, oid: &ObjectId) -> bool {
        self.output(&["cat-file", "-e", oid.as_str()], None)
            .map(|o| o.status.success())
            .unwrap_or(false)
    }

    /// Every entry of the tree at `commit`, recursively, sorted by path bytes.
    pub fn tree_entries(&self, commit: &ObjectId) -> Result<Vec<TreeEntry>> {
        let args = [
            "ls-tree",
            "-r",
            "-z",
            "--long",
            "--full-tree",
            commit.as_str(),
        ];
        let out = self.run(&args)?;
        let mut entries = Vec::new();
        for rec in out.split(|&b| b == 0).filter(|r| !r.is_empty()) {
            let bad = || SourceError::Unexpected {
                args: args.join(" "),
                detail: String::from_utf8_lossy(rec).into_owned(),
            };
            let tab = rec.iter().position(|&b| b == b'\t').ok_or_else(bad)?;
            let meta = std::str::from_utf8(&rec[..tab]).map_err(|_| bad())?;
            let path = rec[tab + 1..].to_vec();
            let mut parts = meta.split_ascii_whitespace();
            let (Some(mode), Some(typ), Some(oid), Some(size)) =
                (parts.next(), parts.next(), parts.next(), parts.next())
            else {
                return Err(bad());
            };
            let kind = match (mode, typ) {
                ("100644", "blob") | ("100664", "blob") => TreeEntryKind::File,
                ("100755", "blob") => TreeEntryKind::Executable,
                ("120000", "blob") => TreeEntryKind::Symlink,
                ("160000", "commit") => TreeEntryKind::Submodule,
                _ => return Err(bad()),
            };
            let size = if size == "-" {
                None
            } else {
                Some(size.parse().map_err(|_| bad())?)
            };
            entries.push(TreeEntry {
                path,
                mode: mode.to_owned(),
                kind,
                oid: oid.parse()?,
                size,
            });
        }
        entries.sort_by(|a, b| a.path.cmp(&b.path));
        Ok(entries)
    }

    /// Whether this is a shallow clone, and its boundary commits (whose parents are missing).
    pub fn shallow_boundary(&self) -> Result<Vec<ObjectId>> {
        let out = self.run(&["rev-parse", "--git-path", "shallow"])?;
        let rel = String::from_utf8_lossy(&out).trim().to_owned();
        let path = self.root.join(rel);
        match std::fs::read_to_string(&path) {
            Ok(text) => text.lines().map(|l| l.trim().parse()).collect(),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(Vec::new()),
            Err(source) => Err(SourceError::Io { source }),
        }
    }

    /// The commits reachable from `tip` but not from `base`, newest first in topological
    /// order (`git rev-list --topo-order`), each read from its raw object.
    pub fn commits_between(
        &self,
        base: Option<&ObjectId>,
        tip: &ObjectId,
    ) -> Result<Vec<CommitInfo>> {
        let ids = self.rev_list(base, tip)?;
        let raws = self.read_objects(&ids, "commit")?;
        let mut commits = Vec::with_capacity(ids.len());
        for (id, raw) in ids.into_iter().zip(raws) {
            commits.push(parse_commit(id, &raw)?);
        }
        // Signature status: ask git only about the commits that carry a signature.
        let signed: Vec<String> = commits
            .iter()
            .filter(|c| c.signature.format.is_some())
            .map(|c| c.id.to_string())
            .collect();
        if !signed.is_empty() {
            let input = signed.join("\n") + "\n";
            let out = self.run_with_input(
                &[
                    "log",
                    "--no-walk=unsorted",
                    "--stdin",
                    "--format=%H %G? %GK",
                ],
                Some(input.as_bytes()),
            )?;
            for line in String::from_utf8_lossy(&out).lines() {
                let mut f = line.split(' ');
                let (Some(id), Some(code)) = (f.next(), f.next()) else {
                    continue;
                };
                let key = f.next().filter(|k| !k.is_empty()).map(str::to_owned);
                if let Some(c) = commits.iter_mut().find(|c| c.id.as_str() == id) {
                    c.signature.status = SignatureStatus::from_git_code(code);
                    c.signature.key = key;
                }
            }
        }
        Ok(commits)
    }

    /// Whether `ancestor` is an ancestor of (or the same commit as) `of`.
    pub fn is_ancestor(&self, ancestor: &ObjectId, of: &ObjectId) -> Result<bool> {
        let out = self.output(
            &[
                "merge-base",
                "--is-ancestor",
                ancestor.as_str(),
                of.as_str(),
            ],
            None,
        )?;
        match out.status.code() {
            Some(0) => Ok(true),
            Some(1) => Ok(false),
            _ => Err(SourceError::GitFailed {
                args: format!("merge-base --is-ancestor {ancestor} {of}"),
                stderr: String::from_utf8_lossy(&out.stderr).trim().to_owned(),
            }),
        }
    }

    /// Commit ids reachable from `tip` but not from `base`, newest first in topological order.
    pub fn rev_list(&self, base: Option<&ObjectId>, tip: &ObjectId) -> Result<Vec<ObjectId>> {
        let mut args = vec!["rev-list", "--topo-order", tip.as_str()];
        let exclude;
        if let Some(b) = base {
            exclude = format!("^{b}");
            args.push(&exclude);
        }
        args.push("--");
        let out = self.run(&args)?;
        String::from_utf8_lossy(&out)
            .lines()
            .map(str::parse)
            .collect()
    }

    /// Reads small objects (commits, tags) in one `cat-file --batch` run.
    fn read_objects(&self, ids: &[ObjectId], kind: &str) -> Result<Vec<Vec<u8>>> {
        if ids.is_empty() {
            return Ok(Vec::new());
        }
        let mut input = String::new();
        for id in ids {
            input.push_str(id.as_str());
            input.push('\n');
        }
        let out = self.run_with_input(&["cat-file", "--batch"], Some(input.as_bytes()))?;
        let mut rest = &out[..];
        let mut objects = Vec::with_capacity(ids.len());
        for id in ids {
            let nl = rest.iter().position(|&b| b == b'\n').ok_or_else(|| {
                SourceError::MissingObject {
                    oid: id.to_string(),
                }
            })?;
            let header = String::from_utf8_lossy(&rest[..nl]).into_owned();
            let mut h = header.split(' ');
            let (Some(_), Some(typ), Some(size)) = (h.next(), h.next(), h.next()) else {
                return Err(SourceError::MissingObject {
                    oid: id.to_string(),
                });
            };
            let size: usize = size.parse().map_err(|_| SourceError::Unexpected {
                args: "cat-file --batch".into(),
                detail: header.clone(),
            })?;
            if typ != kind || rest.len() < nl + 1 + size {
                return Err(SourceError::Unexpected {
                    args: "cat-file --batch".into(),
                    detail: format!("expected a {kind}, got `{header}`"),
                });
            }
            objects.push(rest[nl + 1..nl + 1 + size].to_vec());
            rest = rest.get(nl + 2 + size..).unwrap_or_default();
        }
        Ok(objects)
    }
}

/// Environment for every git call: stable output and no surprises from the outside.
fn base_env() -> [(&'static str, &'static str); 7] {
    [
        // Machine-readable output must not be translated.
        ("LC_ALL", "C"),
        // `git replace` and grafts (`.git/info/grafts`) could otherwise make the history we
        // read differ from the objects.
        ("GIT_NO_REPLACE_OBJECTS", "1"),
        ("GIT_GRAFT_FILE", "/nonexistent/reprove-no-grafts"),
        // A partial clone must not fetch missing blobs from the network behind our back
        // (git >= 2.45), and no transport may run at all: a repository's own
        // `protocol.<name>.allow` outranks a general setting, but not this (any git version).
        ("GIT_NO_LAZY_FETCH", "1"),
        ("GIT_ALLOW_PROTOCOL", "none"),
        ("GIT_TERMINAL_PROMPT", "0"),
        // Never page.
        ("GIT_PAGER", "cat"),
    ]
}

/// Settings a repository's own `.git/config` must not choose, because a clone is input from
/// outside: the programs git runs to check signatures (`gpg.program` set to a script would run
/// it as the auditor), which signers count as trusted, hooks, fsmonitor, any transport, and the
/// commit-graph cache. Each takes the user's global or system value, else git's default, and
/// is passed as command-line configuration (`-c`), which outranks the repository's.
const PINNED: &[(&str, &str)] = &[
    ("gpg.program", "gpg"),
    ("gpg.ssh.program", "ssh-keygen"),
    ("gpg.x509.program", "gpgsm"),
    ("gpg.ssh.allowedSignersFile", ""),
    ("gpg.ssh.revocationFile", ""),
    ("gpg.ssh.defaultKeyCommand", ""),
    ("gpg.minTrustLevel", "undefined"),
    ("log.showSignature", "false"),
    ("core.fsmonitor", "false"),
    ("core.hooksPath", "/dev/null"),
    ("core.sshCommand", "false"),
    ("protocol.allow", "never"),
    // A hand-edited commit-graph file rewrites parents for `rev-list`, `log` and
    // `merge-base`; the commit objects themselves are the truth.
    ("core.commitGraph", "false"),
];

/// The pinned configuration as `-c key=value` arguments (understood by every git version,
/// unlike `GIT_CONFIG_COUNT`), computed once.
fn pinned_config() -> &'static [String] {
    static CONFIG: std::sync::OnceLock<Vec<String>> = std::sync::OnceLock::new();
    CONFIG.get_or_init(|| {
        let outside = |key: &str| -> Option<String> {
            for scope in ["--global", "--system"] {
                let out = Command::new("git")
                    .args(["config", scope, "--get", key])
                    .stdin(Stdio::null())
                    .stderr(Stdio::null())
                    .output()
                    .ok()?;
                if out.status.success() {
                    return Some(String::from_utf8_lossy(&out.stdout).trim().to_owned());
                }
            }
            None
        };
        let mut args = Vec::with_capacity(PINNED.len() * 2);
        for (key, default) in PINNED {
            // `gpg.openpgp.program` is the newer name of `gpg.program`: the user's either.
            let value = match *key {
                "gpg.program" => outside("gpg.openpgp.program").or_else(|| outside(key)),
                _ => outside(key),
            }
            .unwrap_or_else(|| (*default).to_owned());
            // An empty value unsets nothing; leaving the key out would let the repository's
            // value through, so an empty file path stands for "none".
            args.push("-c".to_owned());
            args.push(format!("{key}={value}"));
        }
        args
    })
}

/// A `git` command with the environment and pinned configuration every call gets.
pub fn git_command() -> Command {
    let mut cmd = Command::new("git");
    cmd.envs(base_env()).args(pinned_config());
    cmd
}

fn parse_tagger(raw: &[u8]) -> (Option<String>, Option<i64>) {
    for line in raw.split(|&b| b == b'\n') {
        if line.is_empty() {
            break;
        }
        if let Some(rest) = line.strip_prefix(b"tagger ") {
            let text = String::from_utf8_lossy(rest);
            let (ident, time) = crate::commit::split_ident(&text);
            return (Some(ident), time);
        }
    }
    (None, None)
}

/// Drops `user[:password]@` from a URL with a scheme; scp-like `git@host:path` is kept (its
/// user is a fixed account name, not a secret).
fn strip_userinfo(url: &str) -> String {
    let Some((scheme, rest)) = url.split_once("://") else {
        return url.to_owned();
    };
    let authority_end = rest.find('/').unwrap_or(rest.len());
    match rest[..authority_end].rfind('@') {
        Some(at) => format!("{scheme}://{}", &rest[at + 1..]),
        None => url.to_owned(),
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn origin_urls_lose_their_credentials() {
        assert_eq!(
            super::strip_userinfo("https://ci:s3cret@example.com/a/b.git"),
            "https://example.com/a/b.git"
        );
        assert_eq!(
            super::strip_userinfo("https://example.com/a@b"),
            "https://example.com/a@b"
        );
        assert_eq!(
            super::strip_userinfo("git@example.com:a/b.git"),
            "git@example.com:a/b.git"
        );
        assert_eq!(super::strip_userinfo("/srv/git/x"), "/srv/git/x");
    }
}
