//! Reading real repositories made here with git: what reprove computes over checked objects
//! matches git's own plumbing on a sound repository, and an object store rewritten behind the
//! ids (the attacks git's plumbing does not notice) is refused.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::collections::BTreeMap;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use reprove_source::{
    Ancestry, BlobRequest, ObjectId, Repository, SourceError, Tag, TreeEntryKind, git_command,
};

/// Runs git in `dir` with a fixed identity and clock; `input` goes to stdin.
fn git_in(dir: &Path, args: &[&str], input: Option<&[u8]>) -> Vec<u8> {
    let mut cmd = git_command();
    cmd.arg("-C")
        .arg(dir)
        .args(args)
        .env("GIT_AUTHOR_NAME", "A U Thor")
        .env("GIT_AUTHOR_EMAIL", "author@example.com")
        .env("GIT_COMMITTER_NAME", "C O Mitter")
        .env("GIT_COMMITTER_EMAIL", "committer@example.com")
        .env("GIT_AUTHOR_DATE", "1700000000 +0000")
        .env("GIT_COMMITTER_DATE", "1700000000 +0000")
        // The test's own transports (a shallow clone over file://).
        .env("GIT_ALLOW_PROTOCOL", "file")
        .stdin(if input.is_some() {
            Stdio::piped()
        } else {
            Stdio::null()
        })
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    let mut child = cmd.spawn().unwrap();
    if let Some(data) = input {
        child.stdin.take().unwrap().write_all(data).unwrap();
    }
    let out = child.wait_with_output().unwrap();
    assert!(
        out.status.success(),
        "git {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    out.stdout
}

fn git(dir: &Path, args: &[&str]) -> String {
    String::from_utf8(git_in(dir, args, None))
        .unwrap()
        .trim()
        .to_owned()
}

fn new_repo() -> tempfile::TempDir {
    let d = tempfile::tempdir().unwrap();
    git(d.path(), &["init", "-q", "-b", "main"]);
    // Objects stay loose, so a test can rewrite one.
    git(d.path(), &["config", "gc.auto", "0"]);
    d
}

fn write(dir: &Path, path: &str, content: &[u8]) {
    let p = dir.join(path);
    std::fs::create_dir_all(p.parent().unwrap()).unwrap();
    std::fs::write(p, content).unwrap();
}

/// Commits everything with `message` (at `time`, so orders are deterministic) and returns the id.
fn commit_all(dir: &Path, message: &str, time: u64) -> String {
    git(dir, &["add", "-A"]);
    commit_index(dir, message, time)
}

/// Commits the index as it is.
fn commit_index(dir: &Path, message: &str, time: u64) -> String {
    let date = format!("{time} +0000");
    let mut cmd = git_command();
    let out = cmd
        .arg("-C")
        .arg(dir)
        .args(["commit", "-q", "--allow-empty", "-m", message])
        .env("GIT_AUTHOR_NAME", "A U Thor")
        .env("GIT_AUTHOR_EMAIL", "author@example.com")
        .env("GIT_COMMITTER_NAME", "C O Mitter")
        .env("GIT_COMMITTER_EMAIL", "committer@example.com")
        .env("GIT_AUTHOR_DATE", &date)
        .env("GIT_COMMITTER_DATE", &date)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    git(dir, &["rev-parse", "HEAD"])
}

fn id(s: &str) -> ObjectId {
    s.parse().unwrap()
}

fn loose(dir: &Path, oid: &str) -> PathBuf {
    dir.join(".git/objects").join(&oid[..2]).join(&oid[2..])
}

/// Makes the object store serve `replacement`'s content under `victim`'s id: the loose file
/// of one copied over the other's, as an attacker with write access to a clone would.
fn swap_object(dir: &Path, victim: &str, replacement: &str) {
    let from = loose(dir, replacement);
    let to = loose(dir, victim);
    assert!(to.exists(), "{victim} is not loose");
    std::fs::remove_file(&to).unwrap();
    std::fs::copy(from, to).unwrap();
}

/// Writes an object literally (no checks) and returns its id.
fn hash_object(dir: &Path, kind: &str, content: &[u8]) -> String {
    let out = git_in(
        dir,
        &["hash-object", "-t", kind, "-w", "--literally", "--stdin"],
        Some(content),
    );
    String::from_utf8(out).unwrap().trim().to_owned()
}

/// Path, mode, id, size, kind.
type Listed = (Vec<u8>, String, String, Option<u64>, TreeEntryKind);

#[test]
fn tree_listing_matches_ls_tree() {
    let d = new_repo();
    let p = d.path();
    write(p, "a.txt", b"alpha\n");
    write(p, "bin/run", b"#!/bin/sh\n");
    write(p, "deep/x/y/z.txt", b"zed\n");
    write(p, "same/one", b"alpha\n");
    std::os::unix::fs::symlink("a.txt", p.join("link")).unwrap();
    std::fs::write(
        p.join(std::ffi::OsStr::new(
            &<std::ffi::OsString as std::os::unix::ffi::OsStringExt>::from_vec(b"caf\xe9".to_vec()),
        )),
        b"latin-1 name\n",
    )
    .unwrap();
    git(p, &["add", "-A"]);
    git(p, &["update-index", "--chmod=+x", "bin/run"]);
    git(
        p,
        &[
            "update-index",
            "--add",
            "--cacheinfo",
            "160000,0123456789abcdef0123456789abcdef01234567,vendor/sub",
        ],
    );
    let head = commit_index(p, "tree", 1_700_000_000);
    let repo = Repository::discover(p).unwrap();
    let ours: Vec<Listed> = repo
        .tree_entries(&id(&head))
        .unwrap()
        .into_iter()
        .map(|e| (e.path, e.mode, e.oid.to_string(), e.size, e.kind))
        .collect();
    let listing = git_in(
        p,
        &["ls-tree", "-r", "-z", "--long", "--full-tree", &head],
        None,
    );
    let mut theirs = Vec::new();
    for rec in listing.split(|&b| b == 0).filter(|r| !r.is_empty()) {
        let tab = rec.iter().position(|&b| b == b'\t').unwrap();
        let meta = String::from_utf8(rec[..tab].to_vec()).unwrap();
        let f: Vec<&str> = meta.split_ascii_whitespace().collect();
        let kind = match f[0] {
            "100644" => TreeEntryKind::File,
            "100755" => TreeEntryKind::Executable,
            "120000" => TreeEntryKind::Symlink,
            _ => TreeEntryKind::Submodule,
        };
        let size = (f[3] != "-").then(|| f[3].parse().unwrap());
        theirs.push((
            rec[tab + 1..].to_vec(),
            f[0].to_owned(),
            f[2].to_owned(),
            size,
            kind,
        ));
    }
    theirs.sort_by(|a, b| a.0.cmp(&b.0));
    assert_eq!(ours.len(), 7);
    assert_eq!(ours, theirs);
}

/// main: c1 - c2 ------------ m1 ------ m2
///          \               /          /
/// side:     b1 - b2 ------           /
///            \                      /
/// other:      d1 ------------------
fn merge_repo() -> (tempfile::TempDir, BTreeMap<&'static str, String>) {
    let d = new_repo();
    let p = d.path().to_owned();
    let mut ids = BTreeMap::new();
    write(&p, "f", b"1\n");
    ids.insert("c1", commit_all(&p, "c1", 1_700_000_100));
    git(&p, &["checkout", "-q", "-b", "side"]);
    write(&p, "side/s", b"b1\n");
    ids.insert("b1", commit_all(&p, "b1", 1_700_000_200));
    git(&p, &["checkout", "-q", "-b", "other"]);
    write(&p, "other/o", b"d1\n");
    ids.insert("d1", commit_all(&p, "d1", 1_700_000_250));
    git(&p, &["checkout", "-q", "side"]);
    write(&p, "side/s", b"b2\n");
    ids.insert("b2", commit_all(&p, "b2", 1_700_000_300));
    git(&p, &["checkout", "-q", "main"]);
    write(&p, "f", b"2\n");
    ids.insert("c2", commit_all(&p, "c2", 1_700_000_400));
    git(&p, &["merge", "-q", "--no-ff", "--no-edit", "side"]);
    ids.insert("m1", git(&p, &["rev-parse", "HEAD"]));
    git(&p, &["merge", "-q", "--no-ff", "--no-edit", "other"]);
    ids.insert("m2", git(&p, &["rev-parse", "HEAD"]));
    (d, ids)
}

#[test]
fn history_order_matches_rev_list_topo_order() {
    let (d, ids) = merge_repo();
    let p = d.path();
    let repo = Repository::discover(p).unwrap();
    for (base, tip) in [
        (None, "m2"),
        (Some("c1"), "m2"),
        (Some("b1"), "m2"),
        (Some("c2"), "m1"),
        (Some("m1"), "m2"),
        (Some("m2"), "c1"),
    ] {
        let mut args = vec!["rev-list", "--topo-order", ids[tip].as_str()];
        let exclude = base.map(|b| format!("^{}", ids[b]));
        args.extend(exclude.as_deref());
        let theirs: Vec<String> = git(p, &args)
            .lines()
            .map(str::to_owned)
            .filter(|l| !l.is_empty())
            .collect();
        let range = repo
            .commits_between(base.map(|b| id(&ids[b])).as_ref(), &id(&ids[tip]))
            .unwrap();
        let ours: Vec<String> = range.commits.iter().map(|c| c.id.to_string()).collect();
        assert_eq!(ours, theirs, "{base:?}..{tip}");
        assert!(range.cut.is_empty());
    }
    let h = repo.history(&[&id(&ids["m2"])]).unwrap();
    assert_eq!(h.ancestry(&id(&ids["d1"]), &id(&ids["m2"])), Ancestry::Yes);
    assert_eq!(h.ancestry(&id(&ids["m2"]), &id(&ids["d1"])), Ancestry::No);
    assert_eq!(h.ancestry(&id(&ids["b2"]), &id(&ids["c2"])), Ancestry::No);
}

#[test]
fn changed_paths_match_git_log_name_only() {
    let d = new_repo();
    let p = d.path();
    write(p, "keep", b"k\n");
    write(p, "d", b"a file that becomes a folder\n");
    write(p, "x/y/z", b"1\n");
    write(p, "tool", b"#!/bin/sh\n");
    let base = commit_all(p, "base", 1_700_000_000);
    write(p, "x/y/z", b"2\n");
    write(p, "x/new", b"new\n");
    commit_all(p, "edit", 1_700_000_100);
    std::fs::remove_file(p.join("d")).unwrap();
    write(p, "d/inside", b"now a folder\n");
    git(p, &["add", "-A"]);
    git(p, &["update-index", "--chmod=+x", "tool"]);
    commit_index(p, "file to folder, chmod", 1_700_000_200);
    std::fs::remove_dir_all(p.join("x")).unwrap();
    commit_all(p, "remove a folder", 1_700_000_300);
    git(p, &["checkout", "-q", "-b", "side", &base]);
    write(p, "side", b"s\n");
    commit_all(p, "side", 1_700_000_350);
    git(p, &["checkout", "-q", "main"]);
    git(p, &["merge", "-q", "--no-ff", "--no-edit", "side"]);
    let tip = git(p, &["rev-parse", "HEAD"]);

    let repo = Repository::discover(p).unwrap();
    let history = repo.history(&[&id(&tip), &id(&base)]).unwrap();
    for from in [None, Some(base.as_str())] {
        let ours = repo
            .paths_touched(&history, from.map(id).as_ref(), &id(&tip))
            .unwrap();
        let range = match from {
            Some(b) => format!("{b}..{tip}"),
            None => tip.clone(),
        };
        let log = git_in(
            p,
            &[
                "log",
                "--format=%x01%H",
                "--name-only",
                "-z",
                "--no-renames",
                &range,
                "--",
            ],
            None,
        );
        let mut theirs: BTreeMap<String, Vec<String>> = BTreeMap::new();
        for record in log.split(|b| *b == 1).filter(|r| !r.is_empty()) {
            let mut fields = record.split(|b| *b == 0);
            let c = String::from_utf8_lossy(fields.next().unwrap())
                .trim()
                .to_owned();
            for path in fields {
                let path = path.strip_prefix(b"\n").unwrap_or(path);
                if !path.is_empty() {
                    theirs
                        .entry(String::from_utf8_lossy(path).into_owned())
                        .or_default()
                        .push(c.clone());
                }
            }
        }
        assert!(theirs.contains_key("d/inside") && theirs.contains_key("tool"));
        assert_eq!(ours, theirs, "from {from:?}");
    }
}

#[test]
fn a_blob_rewritten_behind_its_id_is_refused() {
    let d = new_repo();
    let p = d.path();
    write(p, "app.py", b"print('reviewed')\n");
    let head = commit_all(p, "app", 1_700_000_000);
    let blob = git(p, &["rev-parse", "HEAD:app.py"]);
    let evil = hash_object(p, "blob", b"print('evil')\n");
    swap_object(p, &blob, &evil);
    // git itself serves the evil bytes under the reviewed id.
    assert_eq!(git(p, &["cat-file", "blob", &blob]), "print('evil')");

    let repo = Repository::discover(p).unwrap();
    let entries = repo.tree_entries(&id(&head)).unwrap();
    let req: Vec<BlobRequest> = entries
        .iter()
        .map(|e| BlobRequest {
            oid: e.oid.clone(),
            size: e.size.unwrap(),
            keep: true,
        })
        .collect();
    let err = repo.read_blobs(&req, 1 << 20, &|_| {}).unwrap_err();
    assert!(
        matches!(&err, SourceError::ObjectMismatch { oid, actual } if *oid == blob && *actual == evil),
        "{err}"
    );
    assert!(err.to_string().contains("does not hash to its id"), "{err}");
    let mut seen = Vec::new();
    let err = repo
        .stream_blobs(&[id(&blob)], &mut |_, _, r| {
            std::io::copy(r, &mut seen).map(|_| ())
        })
        .unwrap_err();
    assert!(matches!(err, SourceError::ObjectMismatch { .. }), "{err}");
}

#[test]
fn a_commit_rewritten_behind_its_id_is_refused() {
    let d = new_repo();
    let p = d.path();
    write(p, "f", b"0\n");
    let c0 = commit_all(p, "c0", 1_700_000_000);
    write(p, "f", b"sneaky\n");
    let sneaky = commit_all(p, "sneaky change", 1_700_000_100);
    write(p, "f", b"2\n");
    let c2 = commit_all(p, "c2", 1_700_000_200);
    let repo = Repository::discover(p).unwrap();
    assert_eq!(
        repo.commits_between(Some(&id(&c0)), &id(&c2))
            .unwrap()
            .commits
            .len(),
        2
    );

    // 1. The unreviewed commit given a review trailer.
    let raw = git_in(p, &["cat-file", "commit", &sneaky], None);
    let mut forged = raw.clone();
    forged.extend_from_slice(b"\nReviewed-by: Someone <s@example.com>\n");
    let f = hash_object(p, "commit", &forged);
    let genuine = std::fs::read(loose(p, &sneaky)).unwrap();
    swap_object(p, &sneaky, &f);
    let err = repo.commits_between(Some(&id(&c0)), &id(&c2)).unwrap_err();
    assert!(matches!(err, SourceError::ObjectMismatch { .. }), "{err}");
    // The genuine object back: read again.
    std::fs::remove_file(loose(p, &sneaky)).unwrap();
    std::fs::write(loose(p, &sneaky), genuine).unwrap();
    repo.commits_between(Some(&id(&c0)), &id(&c2)).unwrap();

    // 2. The release commit's parent line made to skip the unreviewed commit.
    let raw = git_in(p, &["cat-file", "commit", &c2], None);
    let text = String::from_utf8(raw).unwrap().replace(&sneaky, &c0);
    let f = hash_object(p, "commit", text.as_bytes());
    swap_object(p, &c2, &f);
    assert_eq!(
        git(p, &["rev-list", &c2, &format!("^{c0}")]),
        c2,
        "git itself now hides the unreviewed commit"
    );
    let err = repo.commits_between(Some(&id(&c0)), &id(&c2)).unwrap_err();
    assert!(matches!(err, SourceError::ObjectMismatch { .. }), "{err}");
    let err = repo.tree_entries(&id(&c2)).unwrap_err();
    assert!(matches!(err, SourceError::ObjectMismatch { .. }), "{err}");
}

#[test]
fn a_base_commit_given_an_extra_parent_is_refused() {
    // Hiding a commit by making the excluded side reach it.
    let d = new_repo();
    let p = d.path();
    write(p, "f", b"0\n");
    let c0 = commit_all(p, "c0", 1_700_000_000);
    write(p, "f", b"sneaky\n");
    let sneaky = commit_all(p, "sneaky", 1_700_000_100);
    let raw = String::from_utf8(git_in(p, &["cat-file", "commit", &c0], None)).unwrap();
    let forged = raw.replacen('\n', &format!("\nparent {sneaky}\n"), 1);
    let f = hash_object(p, "commit", forged.as_bytes());
    swap_object(p, &c0, &f);
    let repo = Repository::discover(p).unwrap();
    let err = repo
        .commits_between(Some(&id(&c0)), &id(&sneaky))
        .unwrap_err();
    assert!(matches!(err, SourceError::ObjectMismatch { .. }), "{err}");
}

#[test]
fn a_tag_rewritten_behind_its_id_is_refused() {
    let d = new_repo();
    let p = d.path();
    write(p, "f", b"good\n");
    let good = commit_all(p, "good", 1_700_000_000);
    git(p, &["tag", "-a", "-m", "release", "v1.0"]);
    write(p, "f", b"evil\n");
    let evil = commit_all(p, "evil", 1_700_000_100);
    let tag_obj = git(p, &["rev-parse", "refs/tags/v1.0"]);
    let raw = String::from_utf8(git_in(p, &["cat-file", "tag", &tag_obj], None)).unwrap();
    let f = hash_object(p, "tag", raw.replace(&good, &evil).as_bytes());
    swap_object(p, &tag_obj, &f);
    // git's peeled view of the ref now names the other commit.
    assert_eq!(
        git(
            p,
            &["for-each-ref", "--format=%(*objectname)", "refs/tags/v1.0"]
        ),
        evil
    );
    let repo = Repository::discover(p).unwrap();
    let err = repo.tags().unwrap_err();
    assert!(matches!(err, SourceError::ObjectMismatch { .. }), "{err}");
    let tag: Tag = "v1.0".parse().unwrap();
    assert!(repo.resolve_tag(&tag).is_err());
}

#[test]
fn a_blob_asked_for_as_another_kind_is_refused() {
    let d = new_repo();
    let p = d.path();
    write(p, "f", b"x\n");
    let head = commit_all(p, "c", 1_700_000_000);
    let repo = Repository::discover(p).unwrap();
    let err = repo
        .stream_blobs(&[id(&head)], &mut |_, _, _| Ok(()))
        .unwrap_err();
    assert!(matches!(err, SourceError::WrongObjectKind { .. }), "{err}");
}

#[test]
fn a_shallow_clone_makes_ancestry_unknown() {
    let origin = new_repo();
    let o = origin.path();
    let mut ids = Vec::new();
    for i in 0..4 {
        write(o, "f", format!("{i}\n").as_bytes());
        ids.push(commit_all(o, &format!("c{i}"), 1_700_000_000 + i * 100));
    }
    let d = tempfile::tempdir().unwrap();
    let url = format!("file://{}", o.display());
    git(d.path(), &["clone", "-q", "--depth", "2", &url, "shallow"]);
    let p = d.path().join("shallow");
    let repo = Repository::discover(&p).unwrap();
    let (c2, c3) = (id(&ids[2]), id(&ids[3]));
    let h = repo.history(&[&c3]).unwrap();
    // Forward is known; backward needs what the clone cut off.
    assert_eq!(h.ancestry(&c2, &c3), Ancestry::Yes);
    assert_eq!(h.ancestry(&c3, &c2), Ancestry::Unknown);
    let range = h.range(None, &c3);
    assert_eq!(range.cut, vec![c2.clone()]);
    assert!(!range.complete());
    // A base inside what is visible: complete.
    assert!(h.range(Some(&c2), &c3).complete());
}

#[test]
fn a_fifo_in_the_git_folder_is_refused() {
    let d = new_repo();
    let p = d.path();
    write(p, "f", b"x\n");
    commit_all(p, "c", 1_700_000_000);
    let fifo = p.join(".git/objects/ab/cdef0123456789abcdef0123456789abcdef01");
    std::fs::create_dir_all(fifo.parent().unwrap()).unwrap();
    let status = Command::new("mkfifo").arg(&fifo).status().unwrap();
    assert!(status.success());
    let err = Repository::discover(p).unwrap_err();
    assert!(
        matches!(err, SourceError::UnreadableRepository { .. }),
        "{err}"
    );
    assert!(err.to_string().contains("FIFO"), "{err}");
}

#[test]
fn a_git_folder_git_does_not_recognise_is_an_error() {
    let d = new_repo();
    let p = d.path();
    write(p, "f", b"x\n");
    commit_all(p, "c", 1_700_000_000);
    std::fs::remove_file(p.join(".git/HEAD")).unwrap();
    std::fs::create_dir_all(p.join("sub")).unwrap();
    let err = Repository::discover(&p.join("sub")).unwrap_err();
    assert!(
        matches!(&err, SourceError::UnreadableRepository { path, .. } if path.ends_with(".git")),
        "{err}"
    );
    // Truly no repository: still "not a repository".
    let none = tempfile::tempdir().unwrap();
    assert!(matches!(
        Repository::discover(none.path()),
        Err(SourceError::NotARepository { .. })
    ));
}

/// A raw tree object from `(mode, name, id)` entries.
fn raw_tree(entries: &[(&str, &[u8], &str)]) -> Vec<u8> {
    let mut t = Vec::new();
    for (mode, name, oid) in entries {
        t.extend_from_slice(mode.as_bytes());
        t.push(b' ');
        t.extend_from_slice(name);
        t.push(0);
        t.extend_from_slice(&hex::decode(oid).unwrap());
    }
    t
}

fn commit_tree(dir: &Path, tree: &str) -> String {
    git(dir, &["commit-tree", tree, "-m", "crafted"])
}

#[test]
fn crafted_trees_are_refused() {
    let d = new_repo();
    let p = d.path();
    let blob = hash_object(p, "blob", b"x\n");
    let sub = hash_object(p, "tree", &raw_tree(&[("100644", b"f", &blob)]));
    let other = hash_object(p, "tree", &raw_tree(&[("100644", b"g", &blob)]));
    let repo = Repository::discover(p).unwrap();
    let cases: Vec<(Vec<u8>, &str)> = vec![
        (
            raw_tree(&[("100644", b"a/b", &blob)]),
            "has a `/` in its name",
        ),
        (
            raw_tree(&[("40000", b"dir", &sub), ("40000", b"dir", &other)]),
            "appears twice",
        ),
        (raw_tree(&[("100644", b"", &blob)]), "empty name"),
        (raw_tree(&[("170000", b"odd", &blob)]), "has the mode"),
    ];
    for (tree, reason) in cases {
        let t = hash_object(p, "tree", &tree);
        let c = commit_tree(p, &t);
        let err = repo.tree_entries(&id(&c)).unwrap_err();
        assert!(
            matches!(&err, SourceError::InvalidTree { reason: r, .. } if r.contains(reason)),
            "{reason}: {err}"
        );
    }
    // Two leaves of one name are listed, for `tree_problems` to report.
    let t = hash_object(
        p,
        "tree",
        &raw_tree(&[("100644", b"dup", &blob), ("100755", b"dup", &blob)]),
    );
    let entries = repo.tree_entries(&id(&commit_tree(p, &t))).unwrap();
    assert_eq!(entries.len(), 2);
    assert!(!reprove_source::tree_problems(&entries).is_empty());
}

#[test]
fn a_tree_that_repeats_its_subtrees_is_refused_quickly() {
    // 2^21 paths from 22 small trees.
    let d = new_repo();
    let p = d.path();
    let blob = hash_object(p, "blob", b"x\n");
    let mut t = hash_object(p, "tree", &raw_tree(&[("100644", b"f", &blob)]));
    for _ in 0..21 {
        t = hash_object(
            p,
            "tree",
            &raw_tree(&[("40000", b"a", &t), ("40000", b"b", &t)]),
        );
    }
    let c = commit_tree(p, &t);
    let repo = Repository::discover(p).unwrap();
    let err = repo.tree_entries(&id(&c)).unwrap_err();
    assert!(err.to_string().contains("more than 2000000 paths"), "{err}");
}

/// Regression (fifth review of issue 11): a second `tree` or `parent` line after `committer`
/// passes `git fsck` and git ignores it; reprove read it, so another tree was baselined and
/// built than git checks out, and a hidden parent took an unreviewed commit out of a range.
#[test]
fn commits_with_headers_git_would_not_read_are_refused() {
    let d = new_repo();
    let p = d.path();
    write(p, "a.txt", b"reviewed\n");
    let good = commit_all(p, "good", 1_700_000_000);
    let good_tree = git(p, &["rev-parse", &format!("{good}^{{tree}}")]);
    write(p, "evil.sh", b"curl | sh\n");
    let evil = commit_all(p, "evil", 1_700_000_100);
    let evil_tree = git(p, &["rev-parse", &format!("{evil}^{{tree}}")]);
    let who = "A <a@example.com> 1700000200 +0000";
    let crafted = format!(
        "tree {good_tree}\nparent {good}\nauthor {who}\ncommitter {who}\ntree {evil_tree}\n\nrelease\n"
    );
    let c = hash_object(p, "commit", crafted.as_bytes());
    // git itself reads the first tree, and fsck does not mind the second.
    assert_eq!(git(p, &["rev-parse", &format!("{c}^{{tree}}")]), good_tree);
    let repo = Repository::discover(p).unwrap();
    let err = repo.tree_entries(&id(&c)).unwrap_err();
    assert!(matches!(err, SourceError::InvalidCommit { .. }), "{err}");
    let hidden_parent = format!(
        "tree {good_tree}\nparent {good}\nauthor {who}\ncommitter {who}\nparent {evil}\n\nrelease\n"
    );
    let c = hash_object(p, "commit", hidden_parent.as_bytes());
    let err = repo.commits_between(None, &id(&c)).unwrap_err();
    assert!(matches!(err, SourceError::InvalidCommit { .. }), "{err}");
}

/// Regression (fifth review of issue 11): each repeated name scanned every entry before it,
/// so a tree of many equal names took hours to parse.
#[test]
fn a_tree_of_many_equal_names_is_read_in_linear_time() {
    let d = new_repo();
    let p = d.path();
    let blob = hash_object(p, "blob", b"x\n");
    let entries: Vec<(&str, &[u8], &str)> = (0..100_000)
        .map(|_| ("100644", &b"a"[..], blob.as_str()))
        .collect();
    let t = hash_object(p, "tree", &raw_tree(&entries));
    let repo = Repository::discover(p).unwrap();
    let listed = repo.tree_entries(&id(&commit_tree(p, &t))).unwrap();
    assert_eq!(listed.len(), 100_000);
    assert!(!reprove_source::tree_problems(&listed).is_empty());
}

/// Regression (fifth review of issue 11): a commit adding a tree that repeats its subtrees
/// (and the next one removing it) made the changed-path listing of `diff` grow without bound.
#[test]
fn a_subtree_bomb_in_a_diff_is_refused() {
    let d = new_repo();
    let p = d.path();
    let blob = hash_object(p, "blob", b"x\n");
    let names: Vec<String> = (0..100).map(|i| format!("n{i:02}")).collect();
    let mut t = hash_object(p, "tree", &raw_tree(&[("100644", b"f", &blob)]));
    for _ in 0..4 {
        let entries: Vec<(&str, &[u8], &str)> = names
            .iter()
            .map(|n| ("40000", n.as_bytes(), t.as_str()))
            .collect();
        t = hash_object(p, "tree", &raw_tree(&entries));
    }
    let root = hash_object(
        p,
        "tree",
        &raw_tree(&[("40000", b"bomb", &t), ("100644", b"f", &blob)]),
    );
    let a = commit_tree(p, &root);
    let plain = hash_object(p, "tree", &raw_tree(&[("100644", b"f", &blob)]));
    let b = git(p, &["commit-tree", &plain, "-p", &a, "-m", "remove it"]);
    let repo = Repository::discover(p).unwrap();
    let history = repo.history(&[&id(&b)]).unwrap();
    let err = repo.paths_touched(&history, None, &id(&b)).unwrap_err();
    assert!(err.to_string().contains("more than 2000000 paths"), "{err}");
}

/// Regression (fifth review of issue 11): every tag target was read whole, so one tag on a
/// large blob failed every command that lists tags; tags of tags stopped after 8.
#[test]
fn odd_tags_do_not_break_the_others() {
    let d = new_repo();
    let p = d.path();
    write(p, "f", b"x\n");
    commit_all(p, "c", 1_700_000_000);
    git(p, &["tag", "-a", "-m", "release", "v1.0"]);
    let big = hash_object(p, "blob", &vec![b'x'; 17 << 20]);
    git(p, &["tag", "big-blob", &big]);
    let mut prev = "v1.0".to_owned();
    for i in 0..12 {
        let name = format!("chain{i}");
        git(p, &["tag", "-a", "-m", "chained", &name, &prev]);
        prev = name;
    }
    let repo = Repository::discover(p).unwrap();
    let tags = repo.tags().unwrap();
    let head = git(p, &["rev-parse", "HEAD"]);
    let get = |n: &str| tags.iter().find(|t| t.name == n).unwrap();
    assert_eq!(get("big-blob").commit, None);
    assert_eq!(
        get("chain11").commit.as_ref().map(ToString::to_string),
        Some(head.clone())
    );
    let chain: Tag = "chain11".parse().unwrap();
    assert_eq!(repo.resolve_tag(&chain).unwrap().commit.to_string(), head);
    let err = repo.resolve_tag(&"big-blob".parse().unwrap()).unwrap_err();
    assert!(matches!(err, SourceError::TagNotCommit { .. }), "{err}");
}

/// Regression (fifth review of issue 11): a FIFO as `HEAD` blocked the first `git rev-parse`,
/// before the git folder was looked at.
#[test]
fn a_fifo_head_is_refused_before_git_runs() {
    let d = new_repo();
    let p = d.path();
    std::fs::remove_file(p.join(".git/HEAD")).unwrap();
    assert!(
        Command::new("mkfifo")
            .arg(p.join(".git/HEAD"))
            .status()
            .unwrap()
            .success()
    );
    let err = Repository::discover(p).unwrap_err();
    assert!(err.to_string().contains("FIFO"), "{err}");
}
