use std::ffi::OsStr;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use std::collections::HashMap;

use crate::commit::{CommitInfo, parse_commit};
use crate::history::History;
use crate::ids::{ObjectId, Tag};
use crate::odb::{MAX_COMMIT, ObjectKind, ObjectReader};
use crate::signature::{SignatureInfo, detect_signature, status_from_verify};
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
    /// What the tag finally names, by its header (a commit, or a tree or blob for odd tags);
    /// `None` when that is missing, unreadable or behind too long a chain of tags.
    pub kind: Option<ObjectKind>,
    /// When the tag was made, in seconds since the epoch: an annotated tag's tagger date, a
    /// lightweight tag's commit date (git's `creatordate`). For ordering releases only —
    /// nothing is decided on it.
    pub date: Option<i64>,
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
        // Before git runs in it: a FIFO as `HEAD` blocks even `rev-parse`.
        let mut seen = std::collections::HashSet::new();
        if let Some(dir) = crate::gitdir::find(path) {
            crate::gitdir::check(&dir, &mut seen)?;
        }
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
                // Unless a `.git` is there that git does not take for a repository (its `HEAD`
                // removed, say): a check that needs the repository must not be skipped then.
                match dot_git_above(path) {
                    Some(dot_git) => SourceError::UnreadableRepository {
                        path: dot_git,
                        reason: stderr,
                    },
                    None => SourceError::NotARepository {
                        path: path.to_owned(),
                    },
                }
            } else {
                SourceError::GitFailed {
                    args: "rev-parse --absolute-git-dir".into(),
                    stderr,
                }
            });
        }
        let git_dir_path =
            PathBuf::from(String::from_utf8_lossy(git_dir.stdout.trim_ascii()).into_owned());
        // A bare repository has no toplevel; git then runs fine from its git dir.
        let top = rev_parse("--show-toplevel")?;
        let chosen = if top.status.success() && !top.stdout.trim_ascii().is_empty() {
            top.stdout
        } else {
            git_dir.stdout
        };
        let root = PathBuf::from(String::from_utf8_lossy(chosen.trim_ascii()).into_owned());
        // And the folder git chose, should it differ from the one found above.
        crate::gitdir::check(&git_dir_path, &mut seen)?;
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
    /// it (relative to their first parent), newest first: `git log --name-only --no-renames`
    /// computed over checked trees. Paths that are not UTF-8 are rendered lossily, as the
    /// baseline's `path` is. `history` must hold `tip` (see [`Repository::history`]).
    pub fn paths_touched(
        &self,
        history: &History,
        base: Option<&ObjectId>,
        tip: &ObjectId,
    ) -> Result<std::collections::BTreeMap<String, Vec<String>>> {
        let range = history.range(base, tip);
        let mut map: std::collections::BTreeMap<String, Vec<String>> = Default::default();
        let mut odb = ObjectReader::start(self)?;
        let mut trees = crate::tree::TreeCache::new(&mut odb);
        let commits: Vec<&ObjectId> = range
            .ids
            .iter()
            .filter(|id| !history.is_merge(id))
            .collect();
        let pairs: Vec<(Option<ObjectId>, Option<ObjectId>)> = commits
            .iter()
            .map(|id| {
                let old = history.first_parent(id).and_then(|p| history.tree(p));
                (old.cloned(), history.tree(id).cloned())
            })
            .collect();
        let changed = crate::tree::changed_paths(&mut trees, &pairs)?;
        for (id, paths) in commits.iter().zip(changed) {
            for path in paths {
                map.entry(String::from_utf8_lossy(&path).into_owned())
                    .or_default()
                    .push(id.to_string());
            }
        }
        drop(trees);
        odb.finish()?;
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

    /// Every tag, sorted by name. Annotated tags are peeled over checked tag objects (the
    /// commit `%(*objectname)` names comes from an unchecked one); what a tag finally names is
    /// only listed here, and read and checked by whoever uses it ([`Repository::resolve_tag`]).
    /// A tag whose object is missing or oversized peels to nothing rather than failing every
    /// tag; a tag object that is not what its id names fails.
    pub fn tags(&self) -> Result<Vec<TagRef>> {
        let out = self.run(&[
            "for-each-ref",
            "--format=%(refname:strip=2)%00%(objectname)%00%(creatordate:unix)",
            "refs/tags",
        ])?;
        let text = String::from_utf8_lossy(&out);
        let mut named: Vec<(String, ObjectId, Option<i64>)> = Vec::new();
        for line in text.lines() {
            let mut f = line.split('\0');
            let (Some(name), Some(target), Some(date), None) =
                (f.next(), f.next(), f.next(), f.next())
            else {
                return Err(SourceError::Unexpected {
                    args: "for-each-ref".into(),
                    detail: line.to_owned(),
                });
            };
            named.push((name.to_owned(), target.parse()?, date.parse().ok()));
        }
        // What each object is (from its header), and what each checked tag object names;
        // peeled a level at a time, each level one request.
        let mut kinds: HashMap<ObjectId, Option<ObjectKind>> = HashMap::new();
        let mut names: HashMap<ObjectId, ObjectId> = HashMap::new();
        let mut odb = ObjectReader::start(self)?;
        let mut level: Vec<ObjectId> = named.iter().map(|(_, t, _)| t.clone()).collect();
        for _ in 0..MAX_TAG_DEPTH {
            level.sort();
            level.dedup();
            let unknown: Vec<&ObjectId> =
                level.iter().filter(|id| !kinds.contains_key(*id)).collect();
            for (id, found) in self.batch_check(&unknown)? {
                kinds.insert(id, found.map(|(k, _)| k));
            }
            let tags: Vec<ObjectId> = level
                .iter()
                .filter(|id| {
                    kinds.get(*id) == Some(&Some(ObjectKind::Tag)) && !names.contains_key(*id)
                })
                .cloned()
                .collect();
            if tags.is_empty() {
                break;
            }
            odb.request(&tags)?;
            let mut next = Vec::new();
            for id in tags {
                match odb.next_whole(Some(ObjectKind::Tag), MAX_COMMIT) {
                    Ok((_, raw)) => {
                        let target = parse_tag_target(&id, &raw)?;
                        next.push(target.clone());
                        names.insert(id, target);
                    }
                    Err(SourceError::MissingObject { .. } | SourceError::ObjectTooLarge { .. }) => {
                        kinds.insert(id, None);
                    }
                    Err(e) => return Err(e),
                }
            }
            level = next;
        }
        odb.finish()?;
        let mut tags = Vec::with_capacity(named.len());
        for (name, target, date) in named {
            let mut at = &target;
            let mut kind = None;
            for _ in 0..=MAX_TAG_DEPTH {
                match (kinds.get(at).copied().flatten(), names.get(at)) {
                    (Some(ObjectKind::Tag), Some(next)) => at = next,
                    (k, _) => {
                        kind = k;
                        break;
                    }
                }
            }
            tags.push(TagRef {
                name,
                commit: (kind == Some(ObjectKind::Commit)).then(|| at.clone()),
                target,
                kind,
                date,
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
        let Some(commit) = found.commit.clone() else {
            return Err(SourceError::TagNotCommit {
                tag: tag.to_string(),
                kind: match found.kind {
                    Some(k) => k.to_string(),
                    None => format!(
                        "missing or unreadable object (or behind more than {MAX_TAG_DEPTH} tags of tags)"
                    ),
                },
            });
        };
        let mut odb = ObjectReader::start(self)?;
        let (kind, raw) = odb.read(&found.target, None, MAX_COMMIT)?;
        let (tag_object, tag_time, tagger, signature) = if kind == ObjectKind::Tag {
            let (tagger, time) = parse_tagger(&raw);
            // git checks the signature over the tag object it reads: the bytes just checked.
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
        let (_, raw_commit) = odb.read(&commit, Some(ObjectKind::Commit), MAX_COMMIT)?;
        odb.finish()?;
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

    /// The parsed commit `commit` (its committer time dates documents derived from it).
    pub fn commit_info(&self, commit: &ObjectId) -> Result<CommitInfo> {
        let mut odb = ObjectReader::start(self)?;
        let (_, raw) = odb.read(commit, Some(ObjectKind::Commit), MAX_COMMIT)?;
        odb.finish()?;
        parse_commit(commit.clone(), &raw)
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

    /// Whether `oid` names an object present in the local object store.
    pub fn has_object(&self, oid: &ObjectId) -> bool {
        self.output(&["cat-file", "-e", oid.as_str()], None)
            .map(|o| o.status.success())
            .unwrap_or(false)
    }

    /// Every entry of the tree at `commit`, recursively, sorted by path bytes: the commit and
    /// every tree read and checked against their ids, blob sizes from `cat-file --batch-check`
    /// (each blob read later must have that size).
    pub fn tree_entries(&self, commit: &ObjectId) -> Result<Vec<TreeEntry>> {
        let mut odb = ObjectReader::start(self)?;
        let (_, raw) = odb.read(commit, Some(ObjectKind::Commit), MAX_COMMIT)?;
        let info = parse_commit(commit.clone(), &raw)?;
        let leaves = crate::tree::walk_tree(&mut odb, &info.tree)?;
        odb.finish()?;
        let blobs: Vec<&ObjectId> = leaves
            .iter()
            .filter(|l| l.kind != TreeEntryKind::Submodule)
            .map(|l| &l.oid)
            .collect();
        let sizes = self.blob_sizes(&blobs)?;
        let mut entries = Vec::with_capacity(leaves.len());
        for l in leaves {
            let size = if l.kind == TreeEntryKind::Submodule {
                None
            } else {
                Some(
                    *sizes
                        .get(&l.oid)
                        .ok_or_else(|| SourceError::MissingObject {
                            oid: l.oid.to_string(),
                        })?,
                )
            };
            entries.push(TreeEntry {
                path: l.path,
                mode: l.mode.to_owned(),
                kind: l.kind,
                oid: l.oid,
                size,
            });
        }
        entries.sort_by(|a, b| a.path.cmp(&b.path));
        Ok(entries)
    }

    /// The sizes of blobs, from their headers (`cat-file --batch-check`).
    fn blob_sizes(&self, blobs: &[&ObjectId]) -> Result<HashMap<ObjectId, u64>> {
        let mut sizes = HashMap::with_capacity(blobs.len());
        for (id, found) in self.batch_check(blobs)? {
            match found {
                Some((ObjectKind::Blob, size)) => {
                    sizes.insert(id, size);
                }
                Some((kind, _)) => {
                    return Err(SourceError::WrongObjectKind {
                        oid: id.to_string(),
                        expected: ObjectKind::Blob,
                        actual: kind,
                    });
                }
                None => {
                    return Err(SourceError::MissingObject {
                        oid: id.to_string(),
                    });
                }
            }
        }
        Ok(sizes)
    }

    /// Each object's kind and size as its header says (`cat-file --batch-check`: unchecked,
    /// so only a guide to what to read and check), `None` when it is missing.
    fn batch_check(&self, ids: &[&ObjectId]) -> Result<Vec<(ObjectId, Option<Header>)>> {
        if ids.is_empty() {
            return Ok(Vec::new());
        }
        let mut input = String::with_capacity(ids.len() * 65);
        for id in ids {
            input.push_str(id.as_str());
            input.push('\n');
        }
        let args = ["cat-file", "--batch-check"];
        let out = self.run_with_input(&args, Some(input.as_bytes()))?;
        let bad = |line: &str| SourceError::Unexpected {
            args: args.join(" "),
            detail: line.to_owned(),
        };
        let text = String::from_utf8_lossy(&out);
        let mut found = Vec::with_capacity(ids.len());
        let mut lines = text.lines();
        for id in ids {
            let line = lines.next().ok_or_else(|| bad("(ended early)"))?;
            let mut f = line.split(' ');
            if f.next() != Some(id.as_str()) {
                return Err(bad(line));
            }
            let entry = match (f.next(), f.next()) {
                (Some("missing"), None) => None,
                (Some(kind), Some(size)) => Some((
                    ObjectKind::parse(kind).ok_or_else(|| bad(line))?,
                    size.parse().map_err(|_| bad(line))?,
                )),
                _ => return Err(bad(line)),
            };
            found.push(((*id).clone(), entry));
        }
        Ok(found)
    }

    /// Whether this is a shallow clone, and its boundary commits (whose parents are missing).
    pub fn shallow_boundary(&self) -> Result<Vec<ObjectId>> {
        let out = self.run(&["rev-parse", "--git-path", "shallow"])?;
        let rel = String::from_utf8_lossy(&out).trim().to_owned();
        let path = self.root.join(rel);
        // Read as untrusted input: a FIFO or a link to a device must not hang or flood us.
        match reprove_digest::read_regular(&path, 64 << 20) {
            Ok(bytes) => String::from_utf8_lossy(&bytes)
                .lines()
                .map(|l| l.trim().parse())
                .collect(),
            Err(e) if e.is_not_found() => Ok(Vec::new()),
            Err(e) => Err(SourceError::Io {
                source: std::io::Error::other(e),
            }),
        }
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
    // Before git 2.42 a repository's `core.useReplaceRefs=true` was read after
    // `GIT_NO_REPLACE_OBJECTS` and switched replacement back on; `false` only ever switches it
    // off. (Objects are checked against their ids anyway: a replaced one would fail that.)
    ("core.useReplaceRefs", "false"),
];

/// The pinned configuration as `-c key=value` arguments (understood by every git version,
/// unlike `GIT_CONFIG_COUNT`), computed once.
fn pinned_config() -> &'static [String] {
    static CONFIG: std::sync::OnceLock<Vec<String>> = std::sync::OnceLock::new();
    CONFIG.get_or_init(|| {
        let outside = |key: &str| -> Option<String> {
            for scope in ["--global", "--system"] {
                // From `/`: run where the user stands, git would first look for a repository
                // there (and block on a FIFO `HEAD`).
                let out = Command::new("git")
                    .current_dir("/")
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

/// The `.git` (folder or file) in `path` or the nearest folder above it that has one, as far
/// up as git's discovery goes.
fn dot_git_above(path: &Path) -> Option<PathBuf> {
    crate::gitdir::ancestors(path)
        .into_iter()
        .map(|d| d.join(".git"))
        .find(|g| g.symlink_metadata().is_ok())
}

/// An object's kind and size, as its header says.
type Header = (ObjectKind, u64);

/// How many tags of tags are followed to reach what they name.
const MAX_TAG_DEPTH: usize = 32;

/// The object an annotated tag names (its `object` header, gitformat-tag).
pub(crate) fn parse_tag_target(tag: &ObjectId, raw: &[u8]) -> Result<ObjectId> {
    raw.split(|&b| b == b'\n')
        .next()
        .and_then(|l| l.strip_prefix(b"object "))
        .and_then(|id| std::str::from_utf8(id).ok())
        .and_then(|id| id.parse().ok())
        .ok_or_else(|| SourceError::Unexpected {
            args: "cat-file --batch".into(),
            detail: format!("tag `{tag}` does not start with an `object` line"),
        })
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
