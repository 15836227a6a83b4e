//! The two documents an audit's evidence signals look for: `SOUP-List.md` and
//! `Configuration-Management.md`.

use std::fmt::Write as _;

use serde_json::Value;

use crate::AuditInput;
use crate::escape::{fence_safe, md_text};
use crate::sections::soup_table;

/// The first line of every document `reprove report` writes: which document of which
/// release it is (the tag by sha256, so no tag text can end the comment). `--force` replaces
/// a file only when it carries the same line.
pub fn marker(kind: &str, product: &str, tag: &str) -> String {
    // The product and the tag, each length-prefixed: product A's `v1.0.0` is not product B's.
    let id = format!("{}:{product}{}:{tag}", product.len(), tag.len());
    format!(
        "<!-- reprove report: {kind} of the release whose product and tag hash to sha256:{} -->",
        reprove_digest::sha256_bytes(id.as_bytes()).hex()
    )
}

/// Whether `head` (the start of an existing file) is `kind` of `product`'s release `tag`, as
/// written by `reprove report`.
pub fn written_for(head: &str, kind: &str, product: &str, tag: &str) -> bool {
    head.lines()
        .take(3)
        .any(|l| l == marker(kind, product, tag))
}

/// The product a record is of (its `[project] name`; empty when no baseline names one).
pub(crate) fn product(a: &AuditInput<'_>) -> String {
    a.baseline
        .and_then(|b| b.predicate.project.name.clone())
        .unwrap_or_default()
}

/// The document-control lines under a document's title.
fn control(a: &AuditInput<'_>, suffix: &str) -> String {
    format!(
        "Document ID: {}-{suffix} · revision {} · generated on {} by reprove {} (this machine's clock; every other time is from the signed evidence)\n\n",
        md_text(a.document_id),
        md_text(a.revision),
        a.generated_on,
        a.reprove_version
    )
}

/// `SOUP-List.md`: the SOUP register as a document.
pub fn soup_list(a: &AuditInput<'_>) -> String {
    let mut out = format!(
        "{}\n# SOUP list: {} {}\n\n{}Software of unknown provenance (IEC 62304 §3.29, §8.1.2) in release `{}` (commit {}), from the signed baseline.\n\n",
        marker("soup-list", &product(a), a.tag),
        md_text(
            &a.baseline
                .and_then(|b| b.predicate.project.name.clone())
                .unwrap_or_else(|| "release".into())
        ),
        md_text(a.tag),
        control(a, "SOUP"),
        fence_safe(a.tag),
        md_text(
            a.baseline
                .map(|b| b.predicate.release.commit.as_str())
                .unwrap_or("?")
        ),
    );
    match a.baseline {
        Some(b) => {
            soup_table(b).markdown(&mut out);
            let gaps: Vec<&reprove_baseline::view::FindingView> = b
                .predicate
                .findings
                .iter()
                .filter(|f| {
                    matches!(
                        f.code.as_str(),
                        "missing-supplier"
                            | "unpinned-version"
                            | "missing-checksum"
                            | "unsupported-lockfile"
                            | "unparsable-lockfile"
                    )
                })
                .collect();
            if !gaps.is_empty() {
                out.push_str("\n## Open points\n\n");
                for f in gaps {
                    let _ = writeln!(out, "- `{}` {}", fence_safe(&f.code), md_text(&f.message));
                }
            }
            out.push_str("\nHuman-maintained fields (purpose, safety class, end of support, anomaly review) come from the `[soup] overrides` file named in `reprove.toml`.\n");
        }
        None => out.push_str("No verified baseline: the SOUP list cannot be given.\n"),
    }
    out
}

/// `Configuration-Management.md`: how configuration items are identified, how changes are
/// approved and traced, and how any release is reproduced — with the exact commands.
pub fn configuration_management(a: &AuditInput<'_>) -> String {
    let b = a.baseline;
    let name = md_text(
        &b.and_then(|b| b.predicate.project.name.clone())
            .unwrap_or_else(|| "the product".into()),
    );
    let policy = b.map(|b| &b.predicate.policy);
    let trailers = policy
        .and_then(|p| p.get("trailers"))
        .and_then(Value::as_array)
        .map(|t| {
            t.iter()
                .filter_map(Value::as_str)
                .map(|t| format!("`{}:`", fence_safe(t)))
                .collect::<Vec<_>>()
                .join(" or ")
        })
        .unwrap_or_else(|| "`Reviewed-by:` or `Approved-by:`".into());
    let flag = |k: &str| {
        policy
            .and_then(|p| p.get(k))
            .and_then(Value::as_bool)
            .unwrap_or(false)
    };
    let image = b
        .and_then(|b| b.predicate.build.as_ref())
        .and_then(|m| m.get("image"))
        .and_then(Value::as_str)
        .map(fence_safe)
        .unwrap_or_else(|| "(the [build] image of reprove.toml)".into());
    let command = b
        .and_then(|b| b.predicate.build.as_ref())
        .and_then(|m| m.get("command"))
        .and_then(Value::as_array)
        // Each argument shell-quoted: the command a reader can paste.
        .map(|c| {
            c.iter()
                .filter_map(Value::as_str)
                .map(reprove_escape::shell)
                .collect::<Vec<_>>()
                .join(" ")
        })
        .map(|c| fence_safe(&c))
        .unwrap_or_else(|| "(the [build] command)".into());
    let recipe = recipe_block(a);
    // The tag appears in code spans and in shell commands: git allows backticks, `;`, `$` and
    // `|` in tag names, so the code spans get it fence-safe and the commands shell-quoted.
    let t = fence_safe(a.tag);
    let ts = reprove_escape::shell(a.tag);
    format!(
        r#"{marker}
# Configuration management: {name}

{control}Release `{t}`. This plan describes the practice the
evidence of every release follows (IEC 62304 §8, ISO 13485 §4.2.4–4.2.5).

## 1. Configuration identification (IEC 62304 §8.1)

- A release is a git tag. Its configuration is the committed tree at that tag — never a
  working tree: every tracked file is a configuration item, identified by path, git blob id,
  sha256 and class (source, build, test, docs, config, soup-manifest, other; globs in
  `reprove.toml` `[classes]`).
- Third-party software (SOUP) is read from the lockfiles at the tag, with name, exact
  version, supplier, checksum and package URL; human fields (purpose, safety class, end of
  support, anomaly review) live in the overrides file named by `reprove.toml`. See
  `SOUP-List.md`.
- Container images are referenced by digest; `reprove images check` re-checks every pin.
- The configuration baseline of a release is a signed in-toto statement
  (`baseline.sigstore.json`), canonical JSON: the same tag always yields the same bytes.

```sh
reprove baseline {ts}                 # the baseline, for people
reprove baseline {ts} --format json   # the manifest, canonical JSON
reprove soup {ts} --format cyclonedx  # the SOUP register as a CycloneDX 1.6 SBOM
reprove soup {ts} --format spdx       # the SOUP register as an SPDX 2.3 document
```

## 2. Change control (IEC 62304 §8.2)

- Every commit between two releases is traced with its author, time, signature and
  authorization. A commit is authorized by a {trailers} trailer{signed}{merges}.
- Authorization is required for a release: {required}.
- Changes between two releases, with the commits that made them:

```sh
reprove diff <previous-tag> {ts}
```

## 3. Configuration status accounting (IEC 62304 §8.3)

- Each release's evidence lives in `evidence/<tag>/`, written once, all or nothing, with
  `index.json` listing every file's sha256; it is never replaced without `--force`.
- The state of every release (untracked, baselined, rebuilt, reproducible, attested,
  verified), re-verified from the evidence:

```sh
reprove status --key release.pub
```

## 4. Release and reproduction (IEC 62304 §5.8)

- The release is built by `{command}` in `{image}`, with no network, a fixed build path,
  `SOURCE_DATE_EPOCH` = the commit time, `TZ=UTC`, `LANG=C.UTF-8` and `umask 022`.
{recipe}
- The release engineer runs, at tag time:

```sh
reprove release {ts} --artifacts dist/ --key release.key
```

- Anyone reproduces and verifies a release, offline except for the rebuild's image:

```sh
git clone <repository> && cd <repository> && git checkout {ts}
reprove verify {ts} --evidence evidence/{ts} --artifacts dist/ --key release.pub --rebuild
reprove report {ts} --key release.pub --artifacts dist/
```

## 5. Records (ISO 13485 §4.2.5)

The audit record of a release is `reprove report`'s output together with the evidence folder.
"#,
        marker = marker("configuration-management", &product(a), a.tag),
        control = control(a, "CM"),
        signed = if flag("accept-signed-commits") {
            ", or by a good signature"
        } else {
            ""
        },
        merges = if flag("authorized-merges-cover-their-commits") {
            "; an authorized merge authorizes the commits it brings in"
        } else {
            ""
        },
        required = if flag("require-authorization") {
            "yes — a release with an unauthorized change fails and carries no provenance"
        } else {
            "no (recorded, not enforced; set `[changes] require-authorization = true`)"
        },
    )
}

/// The recipe as the release holds it (its file's bytes, in a fence no line of it can close),
/// or as the signed baseline records it when the file could not be read.
fn recipe_block(a: &AuditInput<'_>) -> String {
    if let Some(r) = a.recipe {
        let longest = r.text.split(|c| c != '`').map(str::len).max().unwrap_or(0);
        let fence = "`".repeat(longest.max(2) + 1);
        // As the file holds it, but for what a reader cannot see (escape sequences, bidi
        // overrides, NUL): shown escaped.
        let text = reprove_escape::terminal_block(r.text.trim_end_matches('\n'));
        return format!(
            "- The recipe, exactly as `{}` holds it{}:\n\n{fence}toml\n{text}\n{fence}\n",
            fence_safe(&r.file),
            if r.external {
                " (from outside the tag: `release --recipe`; not part of the release's baseline, its sha256 is in the provenance)"
            } else {
                ""
            }
        );
    }
    match a.baseline.and_then(|b| b.predicate.build.as_ref()) {
        Some(build) => {
            let json = reprove_escape::terminal_block(
                &serde_json::to_string_pretty(build).unwrap_or_default(),
            );
            let longest = json.split(|c| c != '`').map(str::len).max().unwrap_or(0);
            let fence = "`".repeat(longest.max(2) + 1);
            format!(
                "- The recipe as the signed baseline records it (`reprove.toml` at the tag holds it as TOML):\n\n{fence}json\n{json}\n{fence}\n"
            )
        }
        None => String::new(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_marker_names_kind_product_and_tag() {
        let m = marker("record", "A", "v1.0.0");
        assert!(written_for(
            &format!("<!DOCTYPE html>\n{m}\n"),
            "record",
            "A",
            "v1.0.0"
        ));
        assert!(!written_for(&m, "record", "B", "v1.0.0"), "another product");
        assert!(!written_for(&m, "record", "A", "v1.0.1"), "another release");
        assert!(
            !written_for(&m, "soup-list", "A", "v1.0.0"),
            "another document"
        );
        // Length-prefixed: the product's end cannot be moved into the tag.
        assert_ne!(marker("record", "ab", "c"), marker("record", "a", "bc"));
    }
}
