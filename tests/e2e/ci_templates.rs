//! The CI templates in `examples/ci` stay correct against the real CLI: each is parsed as
//! YAML (PyYAML, as the CI systems read it), every `reprove` command in its scripts is found,
//! its subcommand and flags are checked against the binary's own help, and the command is run
//! with its variables filled in to prove it parses.

use std::path::Path;
use std::process::Command;

use serde_json::Value;

use crate::support::python_with;

fn yaml_to_json(python: &str, path: &Path) -> Value {
    let out = Command::new(python)
        .args([
            "-c",
            "import json, sys, yaml; print(json.dumps(yaml.safe_load(open(sys.argv[1]))))",
        ])
        .arg(path)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "`{}` is not valid YAML: {}",
        path.display(),
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).unwrap()
}

/// Shell words of one command line: quotes removed, `$VAR`/`${VAR}` replaced by `value`.
fn words(line: &str, value: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut cur = String::new();
    let mut quote: Option<char> = None;
    let mut chars = line.chars().peekable();
    let mut started = false;
    while let Some(c) = chars.next() {
        match (quote, c) {
            (None, ' ' | '\t') => {
                if started {
                    out.push(std::mem::take(&mut cur));
                    started = false;
                }
            }
            (None, '>') => break, // redirection: the rest is not arguments
            (None, '\'' | '"') => {
                quote = Some(c);
                started = true;
            }
            (Some(q), c) if c == q => quote = None,
            (Some('\''), c) => cur.push(c),
            (_, '$') => {
                started = true;
                if chars.peek() == Some(&'{') {
                    for n in chars.by_ref() {
                        if n == '}' {
                            break;
                        }
                    }
                } else {
                    while chars
                        .peek()
                        .is_some_and(|n| n.is_ascii_alphanumeric() || *n == '_')
                    {
                        chars.next();
                    }
                }
                cur.push_str(value);
            }
            (_, c) => {
                cur.push(c);
                started = true;
            }
        }
    }
    if started {
        out.push(cur);
    }
    out
}

/// Every `reprove …` command line in a list of scripts (continuations joined).
fn reprove_commands(scripts: &[String]) -> Vec<String> {
    let mut out = Vec::new();
    for s in scripts {
        let joined = s.replace("\\\n", " ");
        for line in joined.lines() {
            let t = line.trim();
            if t.starts_with("reprove ") {
                out.push(t.to_owned());
            }
        }
    }
    out
}

fn strings(v: &Value) -> Vec<String> {
    match v {
        Value::String(s) => vec![s.clone()],
        Value::Array(a) => a
            .iter()
            .filter_map(|x| x.as_str().map(str::to_owned))
            .collect(),
        _ => Vec::new(),
    }
}

fn check_command(line: &str) {
    let bin = env!("CARGO_BIN_EXE_reprove");
    let args = words(line, "v1.0.0");
    assert_eq!(args[0], "reprove");
    let sub: Vec<&str> = args[1..]
        .iter()
        .take_while(|a| !a.starts_with('-'))
        .take(2)
        .map(String::as_str)
        .collect();
    let help = Command::new(bin)
        .args(&sub[..1])
        .arg("--help")
        .output()
        .unwrap();
    assert!(help.status.success(), "`reprove {}` does not exist", sub[0]);
    let help = String::from_utf8_lossy(&help.stdout).into_owned();
    for a in &args {
        if let Some(flag) = a.strip_prefix("--") {
            let flag = flag.split('=').next().unwrap();
            assert!(
                help.contains(&format!("--{flag}")),
                "`{line}` uses --{flag}, which `reprove {}` does not have",
                sub[0]
            );
        }
    }
    // Run it for real in an empty folder: whatever it then fails on, it must not be the
    // command line itself (clap's usage errors).
    let dir = tempfile::tempdir().unwrap();
    let out = Command::new(bin)
        .current_dir(dir.path())
        .args(&args[1..])
        .env("DOCKER_HOST", "unix:///nonexistent")
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    for usage in [
        "unexpected argument",
        "invalid value",
        "required arguments were not provided",
        "Usage:",
    ] {
        assert!(!err.contains(usage), "`{line}` does not parse: {err}");
    }
}

#[test]
fn github_actions_template_runs_real_commands() {
    let Some(py) = python_with("yaml") else {
        return;
    };
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../examples/ci");
    let doc = yaml_to_json(&py, &root.join("github-actions.yml"));
    let mut scripts = Vec::new();
    for (_, job) in doc["jobs"].as_object().unwrap() {
        for step in job["steps"].as_array().unwrap() {
            scripts.extend(strings(&step["run"]));
        }
    }
    let cmds = reprove_commands(&scripts);
    assert!(
        cmds.iter()
            .any(|c| c.starts_with("reprove verify") && c.contains("--rebuild")),
        "{cmds:?}"
    );
    for c in &cmds {
        check_command(c);
    }
}

#[test]
fn gitlab_template_runs_real_commands() {
    let Some(py) = python_with("yaml") else {
        return;
    };
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../examples/ci");
    let doc = yaml_to_json(&py, &root.join("gitlab-ci.yml"));
    let mut scripts = Vec::new();
    for (_, job) in doc.as_object().unwrap() {
        for key in ["before_script", "script", "after_script"] {
            scripts.extend(strings(&job[key]));
        }
    }
    let cmds = reprove_commands(&scripts);
    assert!(
        cmds.iter()
            .any(|c| c.starts_with("reprove verify") && c.contains("--rebuild")),
        "{cmds:?}"
    );
    for c in &cmds {
        check_command(c);
    }
}

#[test]
fn the_checker_catches_a_wrong_flag() {
    let r = std::panic::catch_unwind(|| check_command("reprove verify \"$TAG\" --evidnce x"));
    assert!(r.is_err());
    assert_eq!(
        words(
            "reprove verify \"$TAG\" --evidence \"evidence/${TAG}\" > out.xml",
            "v1"
        ),
        ["reprove", "verify", "v1", "--evidence", "evidence/v1"]
    );
}
