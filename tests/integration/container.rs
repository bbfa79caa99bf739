//! The container image and deploy/, checked without a container engine (none runs where
//! lifeboat is developed): the Dockerfile passes hadolint and installs the client tools of
//! every supported major; the entrypoint script runs one-shot commands and answers the
//! health check against a local build; every manifest in deploy/ parses, and every lifeboat
//! command in them is one the CLI accepts.

use super::docs::Cli;
use std::path::{Path, PathBuf};

fn root() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

fn env_or_die(name: &str) -> String {
    std::env::var(name)
        .unwrap_or_else(|_| panic!("{name} is not set: run the tests through tests/run.sh"))
}

#[test]
fn the_dockerfile_passes_hadolint_and_carries_every_supported_client() {
    let out = std::process::Command::new(env_or_die("LIFEBOAT_TEST_HADOLINT"))
        .arg(root().join("Dockerfile"))
        .current_dir(root())
        .output()
        .expect("hadolint runs (tests/servers.sh installs it)");
    assert!(
        out.status.success(),
        "hadolint:\n{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    let dockerfile = std::fs::read_to_string(root().join("Dockerfile")).unwrap();
    let readme = std::fs::read_to_string(root().join("README.md")).unwrap();
    // "Supported servers: PostgreSQL 14 to 18."
    let supported = readme
        .split("Supported servers: PostgreSQL ")
        .nth(1)
        .and_then(|s| s.split('.').next())
        .expect("README names the supported majors");
    let (low, high) = supported.split_once(" to ").unwrap();
    let (low, high): (u32, u32) = (low.parse().unwrap(), high.parse().unwrap());
    for major in low..=high {
        assert!(
            dockerfile.contains(&format!("postgresql-client-{major}")),
            "the image lacks pg_dump {major}"
        );
    }
    assert!(
        dockerfile.contains(&format!("postgresql-{high} ")),
        "a server for verify"
    );
    for tool in [
        "age",
        "zstd",
        "minisign",
        "USER 10001",
        "HEALTHCHECK",
        "strip",
    ] {
        assert!(dockerfile.contains(tool), "{tool}");
    }
}

#[test]
fn the_entrypoint_runs_one_command_and_answers_the_health_check() {
    let bin = Path::new(env!("CARGO_BIN_EXE_lifeboat")).parent().unwrap();
    let home = tempfile::tempdir().unwrap();
    let path = format!("{}:{}", bin.display(), std::env::var("PATH").unwrap());
    let run = |args: &[&str]| {
        std::process::Command::new("sh")
            .arg(root().join("docker/entrypoint.sh"))
            .args(args)
            .env("PATH", &path)
            .env("HOME", home.path())
            .output()
            .unwrap()
    };
    let out = run(&["--version"]);
    assert!(out.status.success());
    assert!(String::from_utf8_lossy(&out.stdout).starts_with("lifeboat "));
    let out = run(&["lifeboat", "verify", "--help"]);
    assert!(String::from_utf8_lossy(&out.stdout).contains("--scratch-url"));
    // No daemon in this container: a one-shot container is healthy while it runs.
    assert!(run(&["healthcheck"]).status.success());
    // A bad command keeps lifeboat's exit code.
    assert_eq!(run(&["restore"]).status.code(), Some(2));
}

/// Every lifeboat argument list in deploy/'s YAML (Kubernetes containers running the
/// lifeboat image, compose services built from it), as JSON arrays, via PyYAML.
fn yaml_commands(file: &Path) -> Vec<Vec<String>> {
    let script = r#"
import json, sys, yaml
found = []
def walk(node):
    if isinstance(node, dict):
        image = str(node.get("image", ""))
        if "lifeboat" in image or node.get("build"):
            args = node.get("args", node.get("command"))
            if isinstance(args, list) and not node.get("entrypoint"):
                found.append([str(a) for a in args])
        for v in node.values():
            walk(v)
    elif isinstance(node, list):
        for v in node:
            walk(v)
for doc in yaml.safe_load_all(open(sys.argv[1])):
    walk(doc)
print(json.dumps(found))
"#;
    let out = std::process::Command::new(env_or_die("LIFEBOAT_TEST_PYTHON"))
        .args(["-c", script])
        .arg(file)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{} does not parse as YAML: {}",
        file.display(),
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).unwrap()
}

fn files_under(dir: &Path, ext: &str) -> Vec<PathBuf> {
    let mut out = Vec::new();
    for e in std::fs::read_dir(dir).unwrap().flatten() {
        let p = e.path();
        if p.is_dir() {
            out.extend(files_under(&p, ext));
        } else if p.extension().is_some_and(|x| x == ext) {
            out.push(p);
        }
    }
    out.sort();
    out
}

#[test]
fn every_deploy_manifest_parses_and_its_commands_are_accepted() {
    let mut cli = Cli::new();
    let mut problems = Vec::new();
    let mut commands = 0;
    for file in files_under(&root().join("deploy"), "yml")
        .into_iter()
        .chain(files_under(&root().join("deploy"), "yaml"))
        .chain(files_under(&root().join("schedules"), "yaml"))
    {
        for args in yaml_commands(&file) {
            // `run` is the entrypoint's name for the daemon.
            let words: Vec<String> = args.into_iter().skip_while(|a| a == "lifeboat").collect();
            commands += 1;
            problems.extend(cli.check(&words, &format!("{}: {words:?}", file.display())));
            let help = std::process::Command::new(env!("CARGO_BIN_EXE_lifeboat"))
                .args(words.iter().take_while(|w| !w.starts_with('-')))
                .arg("--help")
                .output()
                .unwrap();
            if !help.status.success() {
                problems.push(format!(
                    "{}: {words:?} is not a lifeboat command",
                    file.display()
                ));
            }
        }
    }
    assert!(commands >= 5, "only {commands} commands found in deploy/");
    assert!(problems.is_empty(), "{}", problems.join("\n"));
}
