//! The documentation cannot drift from the CLI: every `lifeboat …` command line in README,
//! runbooks/, schedules/ and deploy/ names a real subcommand, and every flag it uses is one
//! that subcommand (or the global options) accepts, as `--help` lists them.

use std::collections::HashMap;
use std::path::{Path, PathBuf};

fn doc_files() -> Vec<PathBuf> {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let mut out = vec![root.join("README.md")];
    for dir in ["runbooks", "schedules", "deploy", "docs"] {
        let Ok(entries) = std::fs::read_dir(root.join(dir)) else {
            continue;
        };
        for e in entries.flatten() {
            let p = e.path();
            if p.is_dir() {
                for e in std::fs::read_dir(&p).unwrap().flatten() {
                    out.push(e.path());
                }
            } else {
                out.push(p);
            }
        }
    }
    out.retain(|p| p.is_file());
    out.sort();
    out
}

/// Every `lifeboat …` invocation in a text: joined across `\` continuations, cut at shell
/// operators and comments, one entry per invocation.
fn command_lines(text: &str) -> Vec<String> {
    let mut joined = Vec::new();
    let mut current = String::new();
    for line in text.lines() {
        let l = line.trim_end();
        if let Some(stripped) = l.strip_suffix('\\') {
            current.push_str(stripped);
            current.push(' ');
            continue;
        }
        current.push_str(l);
        joined.push(std::mem::take(&mut current));
    }
    let mut out = Vec::new();
    for line in joined {
        let mut rest = line.as_str();
        while let Some(i) = find_invocation(rest) {
            let after = &rest[i + "lifeboat ".len()..];
            let end = after
                .find(['`', '|', ';', '#', ')', '&'])
                .unwrap_or(after.len());
            out.push(after[..end].trim().to_string());
            rest = &after[end..];
        }
    }
    out
}

/// Where `lifeboat ` starts as a command (not inside a word, a path or a URL).
fn find_invocation(text: &str) -> Option<usize> {
    let mut from = 0;
    while let Some(j) = text[from..].find("lifeboat ") {
        let i = from + j;
        let before = text[..i].chars().last();
        let ok = match before {
            None => true,
            Some(c) => c == ' ' || c == '`' || c == '"' || c == '\'' || c == '(' || c == '$',
        };
        // `/usr/local/bin/lifeboat run …` counts; `lifeboat-…` or `…/lifeboat/` do not.
        let path = text[..i].ends_with('/')
            && text[..i]
                .rsplit(' ')
                .next()
                .is_some_and(|w| w.starts_with('/'));
        if ok || path {
            return Some(i);
        }
        from = i + 1;
    }
    None
}

fn tokens(line: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut cur = String::new();
    let mut quote: Option<char> = None;
    for c in line.chars() {
        match (quote, c) {
            (Some(q), c) if c == q => quote = None,
            (Some(_), c) => cur.push(c),
            (None, '"' | '\'') => quote = Some(c),
            (None, c) if c.is_whitespace() => {
                if !cur.is_empty() {
                    out.push(std::mem::take(&mut cur));
                }
            }
            (None, c) => cur.push(c),
        }
    }
    if !cur.is_empty() {
        out.push(cur);
    }
    out
}

pub struct Cli {
    help: HashMap<String, Option<String>>,
}

impl Cli {
    pub fn new() -> Self {
        Cli {
            help: HashMap::new(),
        }
    }

    fn help(&mut self, path: &[String]) -> Option<String> {
        let key = path.join(" ");
        self.help
            .entry(key)
            .or_insert_with(|| {
                let out = std::process::Command::new(env!("CARGO_BIN_EXE_lifeboat"))
                    .args(path)
                    .arg("--help")
                    .output()
                    .expect("lifeboat runs");
                out.status
                    .success()
                    .then(|| String::from_utf8_lossy(&out.stdout).into_owned())
            })
            .clone()
    }

    /// The subcommand path a line names (`config check`, `key generate`, `verify`…).
    fn subcommand(&mut self, words: &[String]) -> Vec<String> {
        let mut path: Vec<String> = Vec::new();
        for w in words {
            if w.starts_with('-') {
                continue;
            }
            let mut candidate = path.clone();
            candidate.push(w.clone());
            let parent = self.help(&path).unwrap_or_default();
            let listed = parent
                .lines()
                .any(|l| l.split_whitespace().next() == Some(w.as_str()));
            if listed && self.help(&candidate).is_some() {
                path = candidate;
            } else {
                break;
            }
        }
        path
    }
}

impl Cli {
    /// Problems with one command line (its words after `lifeboat`), each prefixed by `origin`.
    pub fn check(&mut self, words: &[String], origin: &str) -> Vec<String> {
        let mut problems = Vec::new();
        let Some(first) = words.first() else {
            return problems;
        };
        let global = self.help(&[]).unwrap_or_default();
        let path = self.subcommand(words);
        if path.is_empty() {
            if !first.starts_with('-')
                && self.help(std::slice::from_ref(first)).is_none()
                && words.iter().any(|w| w.starts_with("--"))
            {
                problems.push(format!("{origin}: no subcommand `{first}`"));
            }
            return problems;
        }
        let help = self.help(&path).unwrap_or_default();
        for w in words {
            if let Some(flag) = w.strip_prefix("--") {
                let flag = flag.split('=').next().unwrap_or(flag);
                if flag.is_empty() || flag.contains('…') || flag.contains('<') {
                    continue;
                }
                let spelled = format!("--{flag}");
                let known = |h: &str| {
                    h.split(|c: char| !(c.is_ascii_alphanumeric() || c == '-'))
                        .any(|t| t == spelled)
                };
                if !known(&help) && !known(&global) {
                    problems.push(format!(
                        "{origin}: `lifeboat {}` has no {spelled}",
                        path.join(" ")
                    ));
                }
            }
        }
        problems
    }
}

#[test]
fn every_documented_command_line_is_accepted_by_the_cli() {
    let mut cli = Cli::new();
    let mut checked = 0;
    let mut problems = Vec::new();
    for file in doc_files() {
        let text = std::fs::read_to_string(&file).unwrap_or_default();
        for line in command_lines(&text) {
            let words = tokens(&line);
            // Prose such as "lifeboat is…" or placeholders are not commands.
            let Some(first) = words.first() else { continue };
            if !(first.starts_with('-') || first.chars().all(|c| c.is_ascii_lowercase())) {
                continue;
            }
            problems.extend(cli.check(&words, &format!("{}: `lifeboat {line}`", file.display())));
            checked += 1;
        }
    }
    assert!(
        checked > 30,
        "only {checked} command lines found: the extractor is broken"
    );
    assert!(problems.is_empty(), "{}", problems.join("\n"));
}

#[test]
fn the_extractor_finds_commands_and_ignores_prose() {
    let text = "Run `lifeboat verify --at \"2026-11-24 03:00\"` then\n\
                lifeboat restore latest \\\n  --into postgres://x --create # comment\n\
                lifeboat is a tool; see /usr/bin/lifeboat-helper.\n";
    let lines = command_lines(text);
    assert_eq!(
        lines,
        [
            "verify --at \"2026-11-24 03:00\"",
            "restore latest    --into postgres://x --create",
            "is a tool"
        ]
    );
    assert_eq!(tokens(&lines[0]), ["verify", "--at", "2026-11-24 03:00"]);
}
