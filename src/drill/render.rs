//! The drill report for people: Markdown (for a ticket or a wiki) and one self-contained
//! HTML page (no network, printable) for the auditor.

use super::{DrillReport, Figure};
use crate::config::human_duration;
use crate::report::render::html::esc;

pub fn figure_text(f: &Figure) -> String {
    let secs = |s: f64| human_duration(s.round() as i64);
    match (f.achieved_seconds, f.target_seconds) {
        (Some(a), Some(t)) => format!("{} against a target of {} ({})", secs(a), secs(t), f.status),
        (Some(a), None) => format!("{} (no target set)", secs(a)),
        (None, Some(t)) => format!("not measured (target {})", secs(t)),
        (None, None) => "not measured".into(),
    }
}

fn when(t: &chrono::DateTime<chrono::Utc>) -> String {
    t.format("%Y-%m-%d %H:%M:%S UTC").to_string()
}

fn clock(t: &chrono::DateTime<chrono::Utc>) -> String {
    t.format("%H:%M:%S").to_string()
}

fn verdict(r: &DrillReport) -> &'static str {
    if r.passed {
        "PASSED"
    } else {
        "FAILED"
    }
}

pub fn markdown(r: &DrillReport) -> String {
    let mut s = format!("# DR drill: {} — {}\n\n", r.scenario, verdict(r));
    s.push_str(&format!(
        "| | |\n|---|---|\n| Drill id | `{}` |\n| When | {} to {} |\n| Run by | {} on {} |\n| Repository | {} |\n| lifeboat | {} |\n",
        r.id,
        when(&r.started_at),
        when(&r.finished_at),
        r.run_by,
        r.host,
        r.repository,
        r.lifeboat_version
    ));
    if let Some(b) = &r.backup {
        s.push_str(&format!(
            "| Backup | `{}` (manifest SHA-256 `{}`), consistent at {}, databases {} |\n",
            b.id,
            b.manifest_sha256,
            when(&b.consistent_at),
            b.databases.join(", ")
        ));
    }
    if let Some(e) = &r.rds {
        s.push_str(&format!(
            "| RDS DR copy | `{}` in {} ({}), taken {}; record `{}` |\n| Scratch instance | `{}`{}; {} |\n",
            e.snapshot,
            e.region,
            if e.encrypted { "encrypted" } else { "NOT encrypted" },
            e.taken_at.as_ref().map(when).unwrap_or_else(|| "at an unknown time".into()),
            e.record,
            e.scratch_instance,
            e.endpoint.as_ref().map(|x| format!(" at {x}")).unwrap_or_default(),
            if e.cleaned_up { "deleted after the drill" } else { "**NOT deleted: delete it by hand**" }
        ));
    }
    s.push_str(&format!(
        "| RPO achieved | {} |\n| RTO achieved | {} |\n\n## Steps\n\n| # | step | started | took | result | evidence |\n|---|---|---|---|---|---|\n",
        figure_text(&r.rpo),
        figure_text(&r.rto)
    ));
    for (i, st) in r.steps.iter().enumerate() {
        s.push_str(&format!(
            "| {} | {} | {} | {:.1}s | {} | {} |\n",
            i + 1,
            st.name,
            when(&st.started_at),
            st.seconds,
            match st.result() {
                "FAIL" => "**FAIL**",
                other => other,
            },
            st.evidence.replace('|', "\\|").replace('\n', "<br>")
        ));
    }
    if let Some(v) = &r.verification {
        s.push_str("\n## Checks\n\n| database | check | result | evidence |\n|---|---|---|---|\n");
        for d in &v.databases {
            for c in &d.checks {
                s.push_str(&format!(
                    "| {} | {} {} | {} | {} |\n",
                    d.name,
                    c.kind,
                    c.name,
                    if c.passed { "pass" } else { "**FAIL**" },
                    c.evidence.replace('|', "\\|")
                ));
            }
        }
    }
    s
}

pub fn html(r: &DrillReport) -> String {
    let status_class = if r.passed { "pass" } else { "fail" };
    let mut rows = String::new();
    for (i, st) in r.steps.iter().enumerate() {
        rows.push_str(&format!(
            "<tr class=\"{}\"><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td class=\"num\">{:.1}s</td><td><b>{}</b></td><td>{}</td></tr>\n",
            match st.result() {
                "pass" => "pass",
                "FAIL" => "fail",
                _ => "notrun",
            },
            i + 1,
            esc(&st.name),
            clock(&st.started_at),
            clock(&st.finished_at),
            st.seconds,
            st.result().to_uppercase(),
            esc(&st.evidence).replace('\n', "<br>")
        ));
    }
    let mut checks = String::new();
    if let Some(v) = &r.verification {
        for d in &v.databases {
            let mut sorted: Vec<_> = d.checks.iter().collect();
            sorted.sort_by_key(|c| c.passed);
            for c in sorted {
                checks.push_str(&format!(
                    "<tr class=\"{}\"><td>{}</td><td>{}</td><td>{}</td><td><b>{}</b></td><td>{}</td></tr>\n",
                    if c.passed { "pass" } else { "fail" },
                    esc(&d.name),
                    esc(&c.kind),
                    esc(&c.name),
                    if c.passed { "PASS" } else { "FAIL" },
                    esc(&c.evidence)
                ));
            }
        }
    }
    let backup = r.rds.as_ref().map(rds_html);
    let backup = backup.unwrap_or_else(|| r.backup.as_ref().map_or_else(
        || "<p>No backup was chosen.</p>".to_string(),
        |b| {
            format!(
                "<dl><dt>Backup</dt><dd><code>{}</code></dd><dt>Manifest SHA-256</dt><dd><code>{}</code></dd><dt>Consistent at</dt><dd>{}</dd><dt>Databases</dt><dd>{}</dd><dt>Stored</dt><dd>{} bytes</dd></dl>",
                esc(&b.id),
                esc(&b.manifest_sha256),
                when(&b.consistent_at),
                esc(&b.databases.join(", ")),
                b.stored_bytes
            )
        },
    ));
    let figure = |label: &str, f: &Figure| {
        let class = match f.status.as_str() {
            "met" => "pass",
            "missed" | "not measured" if f.target_seconds.is_some() => "fail",
            _ => "none",
        };
        format!(
            "<div class=\"figure {class}\" id=\"{}\"><div class=\"label\">{label}</div><div class=\"value\">{}</div></div>",
            label.to_lowercase().replace(' ', "-"),
            esc(&figure_text(f))
        )
    };
    format!(
        r#"<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8">
<title>DR drill: {title} — {verdict}</title>
<style>
body {{ font: 15px/1.45 system-ui, sans-serif; margin: 2em auto; max-width: 70em; color: #1d1d1f; padding: 0 1em; }}
h1 {{ margin-bottom: .2em; }}
.status {{ display: inline-block; padding: .3em 1em; border-radius: .3em; font-weight: 700; font-size: 1.4em; color: #fff; }}
.status.pass {{ background: #1a7f37; }} .status.fail {{ background: #cf222e; }}
.figures {{ display: flex; gap: 1em; margin: 1.2em 0; flex-wrap: wrap; }}
.figure {{ border: 2px solid #ccc; border-radius: .4em; padding: .6em 1em; min-width: 18em; }}
.figure.pass {{ border-color: #1a7f37; }} .figure.fail {{ border-color: #cf222e; }}
.figure .label {{ font-size: .85em; color: #57606a; text-transform: uppercase; }}
.figure .value {{ font-size: 1.2em; font-weight: 600; }}
table {{ border-collapse: collapse; width: 100%; margin: .5em 0 1.5em; }}
th, td {{ border-bottom: 1px solid #d0d7de; padding: .35em .5em; text-align: left; vertical-align: top; }}
th {{ background: #f6f8fa; }}
tr.fail td {{ background: #ffebe9; }}
tr.notrun td {{ background: #fff8c5; }}
td.num {{ text-align: right; white-space: nowrap; }}
dl {{ display: grid; grid-template-columns: max-content auto; gap: .2em 1em; }}
dt {{ color: #57606a; }} dd {{ margin: 0; }}
code {{ font-size: .9em; word-break: break-all; }}
@media print {{ body {{ margin: 0; max-width: none; }} .status {{ color: #000; border: 2px solid #000; }} tr.fail td {{ background: none; font-weight: 700; }} }}
</style></head>
<body>
<h1>DR drill: {title}</h1>
<p><span class="status {status_class}" id="status">{verdict}</span></p>
<dl>
<dt>Drill id</dt><dd><code>{id}</code></dd>
<dt>When</dt><dd>{started} to {finished}</dd>
<dt>Run by</dt><dd>{run_by} on {host}</dd>
<dt>Repository</dt><dd>{repo}</dd>
<dt>lifeboat</dt><dd>{version}</dd>
</dl>
<div class="figures">{rpo}{rto}</div>
<h2>Backup restored</h2>
{backup}
<h2>Steps</h2>
<table id="steps"><tr><th>#</th><th>Step</th><th>Started (UTC)</th><th>Finished</th><th>Took</th><th>Result</th><th>Evidence</th></tr>
{rows}</table>
<h2>Checks</h2>
<table id="checks"><tr><th>Database</th><th>Kind</th><th>What</th><th>Result</th><th>Evidence</th></tr>
{checks}</table>
<p><small>The JSON form of this report is stored, signed, in the repository as <code>drills/{id}.json</code>.</small></p>
</body></html>
"#,
        title = esc(&r.scenario),
        verdict = verdict(r),
        id = esc(&r.id),
        started = when(&r.started_at),
        finished = when(&r.finished_at),
        run_by = esc(&r.run_by),
        host = esc(&r.host),
        repo = esc(&r.repository),
        version = esc(&r.lifeboat_version),
        rpo = figure("RPO achieved", &r.rpo),
        rto = figure("RTO achieved", &r.rto),
    )
}

fn rds_html(e: &super::rds::RdsDrillEvidence) -> String {
    format!(
        "<dl><dt>RDS target</dt><dd>{}</dd><dt>DR-region copy</dt><dd><code>{}</code> in {} ({})</dd><dt>Taken at</dt><dd>{}</dd><dt>Record</dt><dd><code>{}</code></dd><dt>Scratch instance</dt><dd><code>{}</code>{}</dd><dt>Clean-up</dt><dd>{}</dd></dl>",
        esc(&e.target),
        esc(&e.snapshot),
        esc(&e.region),
        if e.encrypted { "encrypted" } else { "NOT encrypted" },
        e.taken_at.as_ref().map(when).unwrap_or_else(|| "unknown".into()),
        esc(&e.record),
        esc(&e.scratch_instance),
        e.endpoint.as_ref().map(|x| format!(" at {}", esc(x))).unwrap_or_default(),
        if e.cleaned_up { "deleted after the drill" } else { "<b>NOT deleted: delete it by hand</b>" }
    )
}
