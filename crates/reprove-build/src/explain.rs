//! Explaining why two artifacts differ: diffoscope when it is installed (its text and HTML
//! reports kept), otherwise reprove's own summary — for gzip the header and the payload, for
//! tar the first members that differ and how, for anything else the sizes and the first
//! differing offset.

use std::io::Read as _;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use reprove_digest::sha256_bytes;

/// Inputs bigger than this are compared by offset only.
const ANALYSE_LIMIT: u64 = 512 << 20;

#[derive(Debug, Clone, serde::Serialize, serde::Deserialize)]
pub struct Explanation {
    pub artifact: String,
    /// `diffoscope` or `reprove`.
    pub tool: String,
    pub summary: Vec<String>,
    /// Report files, by file name inside the folder the explanation was written to.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub reports: Vec<PathBuf>,
}

fn first_difference(a: &[u8], b: &[u8]) -> Option<usize> {
    a.iter()
        .zip(b)
        .position(|(x, y)| x != y)
        .or((a.len() != b.len()).then(|| a.len().min(b.len())))
}

fn hex_window(data: &[u8], at: usize) -> String {
    let end = (at + 16).min(data.len());
    data.get(at..end)
        .map(|w| {
            w.iter()
                .map(|b| format!("{b:02x}"))
                .collect::<Vec<_>>()
                .join(" ")
        })
        .unwrap_or_default()
}

fn is_gzip(d: &[u8]) -> bool {
    d.starts_with(&[0x1f, 0x8b])
}

fn is_tar(d: &[u8]) -> bool {
    d.len() >= 262 && &d[257..262] == b"ustar"
}

fn gunzip(d: &[u8]) -> Option<Vec<u8>> {
    let mut out = Vec::new();
    flate2::read::MultiGzDecoder::new(d)
        .take(ANALYSE_LIMIT)
        .read_to_end(&mut out)
        .ok()?;
    Some(out)
}

struct Member {
    name: String,
    mode: u32,
    uid: u64,
    gid: u64,
    mtime: u64,
    size: u64,
    sha256: String,
}

fn members(d: &[u8]) -> Option<Vec<Member>> {
    let mut out = Vec::new();
    let mut archive = tar::Archive::new(d);
    for e in archive.entries().ok()? {
        let mut e = e.ok()?;
        let h = e.header().clone();
        let mut content = Vec::new();
        e.read_to_end(&mut content).ok()?;
        out.push(Member {
            name: e.path().ok()?.to_string_lossy().into_owned(),
            mode: h.mode().unwrap_or(0),
            uid: h.uid().unwrap_or(0),
            gid: h.gid().unwrap_or(0),
            mtime: h.mtime().unwrap_or(0),
            size: h.size().unwrap_or(0),
            sha256: sha256_bytes(&content).hex(),
        });
    }
    Some(out)
}

fn tar_differences(a: &[u8], b: &[u8], sides: Sides, out: &mut Vec<String>) {
    let (Some(ma), Some(mb)) = (members(a), members(b)) else {
        out.push("one side is not a readable tar archive".into());
        return;
    };
    let names_a: Vec<&str> = ma.iter().map(|m| m.name.as_str()).collect();
    let names_b: Vec<&str> = mb.iter().map(|m| m.name.as_str()).collect();
    if names_a != names_b {
        let only_a: Vec<&&str> = names_a.iter().filter(|n| !names_b.contains(n)).collect();
        let only_b: Vec<&&str> = names_b.iter().filter(|n| !names_a.contains(n)).collect();
        if only_a.is_empty() && only_b.is_empty() {
            out.push("tar: the same members in a different order (sort the archive, e.g. tar --sort=name)".into());
        } else {
            out.push(format!(
                "tar: members only in the {} archive: {only_a:?}; only in the {} one: {only_b:?}",
                sides.a, sides.b
            ));
        }
    }
    let mut shown = 0;
    for x in &ma {
        let Some(y) = mb.iter().find(|m| m.name == x.name) else {
            continue;
        };
        let mut what = Vec::new();
        if x.sha256 != y.sha256 {
            what.push(format!("content (size {} vs {})", x.size, y.size));
        }
        if x.mtime != y.mtime {
            what.push(format!(
                "mtime {} vs {} (GNU tar takes member mtimes from the files, not from SOURCE_DATE_EPOCH: use tar --mtime=@$SOURCE_DATE_EPOCH --clamp-mtime)",
                x.mtime, y.mtime
            ));
        }
        if x.mode != y.mode {
            what.push(format!("mode {:o} vs {:o} (umask)", x.mode, y.mode));
        }
        if (x.uid, x.gid) != (y.uid, y.gid) {
            what.push(format!(
                "owner {}:{} vs {}:{} (tar --owner=0 --group=0)",
                x.uid, x.gid, y.uid, y.gid
            ));
        }
        if !what.is_empty() {
            out.push(format!("tar member `{}`: {}", x.name, what.join(", ")));
            shown += 1;
            if shown >= 10 {
                out.push("…more members differ".into());
                break;
            }
        }
    }
}

/// What the two files compared are called in an explanation.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Sides {
    pub a: &'static str,
    pub b: &'static str,
}

/// The published artifact against the rebuilt one.
pub const PUBLISHED_REBUILT: Sides = Sides {
    a: "published",
    b: "rebuilt",
};
/// The reference build against the varied one (`--variations`).
pub const REFERENCE_VARIANT: Sides = Sides {
    a: "reference",
    b: "variant",
};

/// Our own summary of how `published` and `rebuilt` differ.
pub fn summarize(published: &[u8], rebuilt: &[u8]) -> Vec<String> {
    summarize_as(published, rebuilt, PUBLISHED_REBUILT)
}

/// Our own summary of how two files differ, each named by `sides`.
pub fn summarize_as(published: &[u8], rebuilt: &[u8], sides: Sides) -> Vec<String> {
    let mut out = vec![format!(
        "sizes: {} {} bytes, {} {} bytes",
        sides.a,
        published.len(),
        sides.b,
        rebuilt.len()
    )];
    if let Some(at) = first_difference(published, rebuilt) {
        out.push(format!(
            "first difference at byte {at}: {} `{}`, {} `{}`",
            sides.a,
            hex_window(published, at),
            sides.b,
            hex_window(rebuilt, at)
        ));
    }
    if is_gzip(published) && is_gzip(rebuilt) {
        if published.len() >= 10 && rebuilt.len() >= 10 {
            let mt = |d: &[u8]| u32::from_le_bytes([d[4], d[5], d[6], d[7]]);
            if mt(published) != mt(rebuilt) {
                out.push(format!(
                    "gzip header mtime {} vs {} (use gzip -n)",
                    mt(published),
                    mt(rebuilt)
                ));
            }
            if (published[3] & 0x08) != 0 || (rebuilt[3] & 0x08) != 0 {
                out.push("gzip header carries a file name (use gzip -n)".into());
            }
        }
        match (gunzip(published), gunzip(rebuilt)) {
            (Some(a), Some(b)) if a == b => out.push(
                "gzip payloads are identical: only the gzip header or compression differs".into(),
            ),
            (Some(a), Some(b)) if is_tar(&a) && is_tar(&b) => {
                tar_differences(&a, &b, sides, &mut out)
            }
            (Some(a), Some(b)) => {
                if let Some(at) = first_difference(&a, &b) {
                    out.push(format!("decompressed payloads first differ at byte {at}"));
                }
            }
            _ => out.push("one side is not valid gzip".into()),
        }
    } else if is_tar(published) && is_tar(rebuilt) {
        tar_differences(published, rebuilt, sides, &mut out);
    } else if published.starts_with(b"PK") && rebuilt.starts_with(b"PK") {
        out.push(
            "zip archives: compare member timestamps (zip stores local times) and order".into(),
        );
    }
    out
}

/// The diffoscope to use: `REPROVE_DIFFOSCOPE` names one (empty: never use it), else the
/// first on `PATH`.
fn diffoscope() -> Option<PathBuf> {
    match std::env::var_os("REPROVE_DIFFOSCOPE") {
        Some(p) if p.is_empty() => None,
        Some(p) => Some(PathBuf::from(p)),
        None => std::env::var_os("PATH").and_then(|p| {
            std::env::split_paths(&p)
                .map(|d| d.join("diffoscope"))
                .find(|p| p.is_file())
        }),
    }
}

/// Explains a mismatch between two files, keeping diffoscope's reports in `reports_dir`.
pub fn explain(
    artifact: &str,
    published: &Path,
    rebuilt: &Path,
    reports_dir: &Path,
) -> Explanation {
    explain_as(artifact, published, rebuilt, reports_dir, PUBLISHED_REBUILT)
}

/// [`explain`], with the two sides named by `sides`.
pub fn explain_as(
    artifact: &str,
    published: &Path,
    rebuilt: &Path,
    reports_dir: &Path,
    sides: Sides,
) -> Explanation {
    if let Some(diffoscope) = diffoscope() {
        let text = reports_dir.join(format!("{artifact}.diffoscope.txt"));
        let html = reports_dir.join(format!("{artifact}.diffoscope.html"));
        let ran = Command::new(diffoscope)
            .arg("--text")
            .arg(&text)
            .arg("--html")
            .arg(&html)
            .arg(published)
            .arg(rebuilt)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status()
            // diffoscope exits 1 when the files differ.
            .is_ok_and(|s| s.code() == Some(1) || s.success());
        if ran && text.exists() {
            let head: Vec<String> = std::fs::read_to_string(&text)
                .unwrap_or_default()
                .lines()
                .take(40)
                .map(str::to_owned)
                .collect();
            return Explanation {
                artifact: artifact.to_owned(),
                tool: "diffoscope".into(),
                summary: head,
                reports: [text, html]
                    .iter()
                    .filter_map(|p| p.file_name().map(PathBuf::from))
                    .collect(),
            };
        }
    }
    let read = |p: &Path| -> Vec<u8> {
        let mut v = Vec::new();
        if let Ok(f) = std::fs::File::open(p) {
            let _ = f.take(ANALYSE_LIMIT).read_to_end(&mut v);
        }
        v
    };
    Explanation {
        artifact: artifact.to_owned(),
        tool: "reprove".into(),
        summary: summarize_as(&read(published), &read(rebuilt), sides),
        reports: Vec::new(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tar_with(mtime: u64, content: &[u8]) -> Vec<u8> {
        let mut b = tar::Builder::new(Vec::new());
        let mut h = tar::Header::new_ustar();
        h.set_path("app/readme").unwrap();
        h.set_size(content.len() as u64);
        h.set_mode(0o644);
        h.set_mtime(mtime);
        h.set_cksum();
        b.append(&h, content).unwrap();
        b.into_inner().unwrap()
    }

    #[test]
    fn names_the_tar_member_and_field() {
        let s = summarize(&tar_with(0, b"hello"), &tar_with(1_700_000_000, b"hello"));
        assert!(
            s.iter()
                .any(|l| l.contains("tar member `app/readme`: mtime 0 vs 1700000000")),
            "{s:?}"
        );
    }

    #[test]
    fn gzip_header_only() {
        use std::io::Write as _;
        let gz = |mtime: u32| {
            let mut e = flate2::GzBuilder::new()
                .mtime(mtime)
                .write(Vec::new(), flate2::Compression::default());
            e.write_all(b"same payload").unwrap();
            e.finish().unwrap()
        };
        let s = summarize(&gz(0), &gz(42));
        assert!(
            s.iter().any(|l| l.contains("gzip header mtime 0 vs 42")),
            "{s:?}"
        );
        assert!(
            s.iter().any(|l| l.contains("payloads are identical")),
            "{s:?}"
        );
    }

    #[test]
    fn plain_files_first_offset() {
        let s = summarize(b"abcdef", b"abcxef");
        assert!(
            s.iter()
                .any(|l| l.starts_with("first difference at byte 3")),
            "{s:?}"
        );
        let s = summarize(b"abc", b"abcd");
        assert!(
            s.iter()
                .any(|l| l.starts_with("first difference at byte 3")),
            "{s:?}"
        );
    }
}
