//! One self-contained HTML file: inline CSS, inline SVG, no script, no network. The status
//! of every database comes first, then each database's controls, figures and charts.
//! Printable (`@media print`). Every text from the repository is escaped.

use std::fmt::Write;

use chrono_tz::Tz;

use super::svg;
use super::zone;
use crate::report::format::{duration, gap_span, seconds, target, time, time_exact};
use crate::report::model::*;

/// Escapes text for HTML and SVG, in content and in quoted attributes.
pub fn esc(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for ch in text.chars() {
        match ch {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

fn status_class(s: Status) -> &'static str {
    match s {
        Status::Ok => "ok",
        Status::AtRisk => "risk",
        Status::Breach => "breach",
    }
}

const CSS: &str = r#"
:root { --ok:#1a7f37; --ok-bg:#dafbe1; --risk:#9a6700; --risk-bg:#fff8c5; --breach:#cf222e; --breach-bg:#ffebe9; --muted:#57606a; --line:#d0d7de; }
* { box-sizing: border-box; }
body { font: 15px/1.45 system-ui, -apple-system, "Segoe UI", Roboto, "Helvetica Neue", Arial, sans-serif; color:#1f2328; margin:0; background:#f6f8fa; }
main { max-width: 1100px; margin: 0 auto; padding: 24px; }
h1 { font-size: 22px; margin: 0 0 4px; }
h2 { font-size: 19px; margin: 0; }
h3 { font-size: 15px; margin: 18px 0 6px; color:#24292f; }
.meta { color: var(--muted); font-size: 13px; }
.banner { border-radius: 10px; padding: 18px 22px; margin: 16px 0; border: 2px solid; display:flex; align-items:center; gap: 24px; flex-wrap: wrap; }
.banner .big { font-size: 34px; font-weight: 800; letter-spacing: .5px; }
.banner.ok { background: var(--ok-bg); border-color: var(--ok); color: var(--ok); }
.banner.risk { background: var(--risk-bg); border-color: var(--risk); color: var(--risk); }
.banner.breach { background: var(--breach-bg); border-color: var(--breach); color: var(--breach); }
.chips { display:flex; flex-wrap:wrap; gap:10px; }
.chip { background:#fff; border:1px solid var(--line); border-radius: 8px; padding: 8px 12px; color:#1f2328; min-width: 180px; }
.chip .name { font-weight: 700; }
.badge { display:inline-block; font-weight:700; font-size: 12px; padding: 2px 8px; border-radius: 999px; border:1px solid; white-space: nowrap; }
.badge.ok, .badge.pass { color: var(--ok); background: var(--ok-bg); border-color: var(--ok); }
.badge.risk { color: var(--risk); background: var(--risk-bg); border-color: var(--risk); }
.badge.breach, .badge.fail { color: var(--breach); background: var(--breach-bg); border-color: var(--breach); }
.badge.nc { color: var(--muted); background: #f6f8fa; border-color: var(--line); }
.note { background:#fff; border-left: 4px solid var(--risk); padding: 8px 12px; margin: 8px 0; }
section.db { background:#fff; border: 1px solid var(--line); border-radius: 10px; padding: 18px 22px; margin: 18px 0; }
section.db > header { display:flex; align-items:center; gap: 12px; border-bottom: 1px solid var(--line); padding-bottom: 10px; }
table { border-collapse: collapse; width: 100%; font-size: 14px; }
th, td { text-align: left; padding: 6px 8px; border-bottom: 1px solid #eaeef2; vertical-align: top; }
th { font-size: 12px; text-transform: uppercase; color: var(--muted); letter-spacing: .4px; }
td.control code { font-weight: 600; }
td.control small { display:block; color: var(--muted); }
.stats { display:grid; grid-template-columns: repeat(auto-fill, minmax(160px, 1fr)); gap: 10px; margin-top: 12px; }
.stat { border:1px solid #eaeef2; border-radius: 8px; padding: 8px 10px; }
.stat .label { color: var(--muted); font-size: 12px; }
.stat .value { font-size: 20px; font-weight: 700; }
.stat .sub { color: var(--muted); font-size: 12px; }
svg.chart { max-width: 100%; height: auto; display:block; }
svg .tick { font-size: 11px; fill: #57606a; }
svg .empty { font-size: 14px; fill: #57606a; }
svg .target-label { font-size: 12px; font-weight: 700; }
.charts { display:grid; grid-template-columns: 1fr; gap: 6px; }
ul.failures li { margin-bottom: 6px; }
ul.failures code, .evidence { font-size: 13px; }
.finding { color: var(--risk); }
footer { color: var(--muted); font-size: 12px; margin: 24px 0; }
@media print {
  @page { size: A4; margin: 12mm; }
  body { background: #fff; font-size: 11px; }
  main { max-width: none; padding: 0; }
  * { -webkit-print-color-adjust: exact; print-color-adjust: exact; }
  section.db { border-color: #999; }
  .chart-box, table.controls tr, .stats, .banner { break-inside: avoid; }
  h2, h3 { break-after: avoid; }
}
"#;

pub fn render(r: &Report) -> String {
    let tz = zone(r);
    let mut o = String::new();
    let _ = write!(
        o,
        "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">\
         <meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\
         <title>{} — backup compliance report: {}</title><style>{CSS}</style></head><body><main>",
        esc(r.status.label()),
        esc(&r.repository)
    );
    header(&mut o, r, tz);
    for d in &r.databases {
        database(&mut o, r, d, tz);
    }
    if !r.ignored.is_empty() {
        o.push_str("<section class=\"db\" id=\"ignored\"><h2>Ignored: not evidence</h2><ul>");
        for i in &r.ignored {
            let _ = write!(
                o,
                "<li>{} <code>{}</code>: {}</li>",
                esc(&i.kind),
                esc(&i.id),
                esc(&i.reason)
            );
        }
        o.push_str("</ul></section>");
    }
    let _ = write!(
        o,
        "<footer>Generated by lifeboat {} at {} from the signed manifests and verification \
         records of {}. Schema version {}; the JSON form (<code>--format json</code>) holds \
         every figure.</footer></main></body></html>",
        esc(&r.lifeboat_version),
        esc(&time_exact(r.generated_at, tz)),
        esc(&r.repository),
        r.schema_version
    );
    o.push('\n');
    o
}

fn header(o: &mut String, r: &Report, tz: Tz) {
    let _ = write!(
        o,
        "<h1>Backup compliance report</h1><div class=\"meta\">Repository <code>{}</code> · \
         window {} to {} ({}) · time zone {}</div>",
        esc(&r.repository),
        esc(&time(r.window.start, tz)),
        esc(&time(r.window.end, tz)),
        esc(&duration(r.window.seconds)),
        esc(&r.window.timezone)
    );
    let _ = write!(
        o,
        "<div class=\"banner {}\" id=\"status\"><div class=\"big\">{}</div><div class=\"chips\">",
        status_class(r.status),
        esc(r.status.label())
    );
    for d in &r.databases {
        let f = &d.figures;
        let _ = write!(
            o,
            "<a class=\"chip\" href=\"#db-{}\" style=\"text-decoration:none\"><span class=\"name\">{}</span> \
             <span class=\"badge {}\" data-status=\"{}\">{}</span><br><small>current RPO {} · last restore {}</small></a>",
            esc(&anchor(&d.name)),
            esc(&d.name),
            status_class(d.status),
            esc(d.status.label()),
            esc(d.status.label()),
            esc(&f.current_rpo_seconds.map_or("none".into(), duration)),
            esc(&f
                .last_restore
                .as_ref()
                .and_then(|x| x.restore_seconds)
                .map_or("never measured".into(), seconds))
        );
    }
    o.push_str("</div></div>");
    for n in &r.notes {
        let _ = write!(o, "<div class=\"note\">{}</div>", esc(n));
    }
}

/// A fragment id from a database name (any characters are allowed in names).
fn anchor(name: &str) -> String {
    name.bytes()
        .map(|b| {
            if b.is_ascii_alphanumeric() || b == b'_' {
                (b as char).to_string()
            } else {
                format!("-{b:02x}")
            }
        })
        .collect()
}

fn database(o: &mut String, r: &Report, d: &DatabaseReport, tz: Tz) {
    let _ = write!(
        o,
        "<section class=\"db\" id=\"db-{}\"><header><h2>{}</h2><span class=\"badge {}\">{}</span></header>",
        esc(&anchor(&d.name)),
        esc(&d.name),
        status_class(d.status),
        esc(d.status.label())
    );
    let t = &d.targets;
    let show = |v: Option<u64>| v.map_or("not set".to_string(), target);
    let _ = write!(
        o,
        "<p class=\"meta\">Targets: RPO <b>{}</b> · RTO <b>{}</b> · verify within <b>{}</b> · \
         minimum retention <b>{}</b></p>",
        esc(&show(t.rpo)),
        esc(&show(t.rto)),
        esc(&show(t.verify_within)),
        esc(&show(t.min_retention))
    );
    if let Some(line) = super::rds_summary(d, tz) {
        let _ = write!(o, "<p class=\"meta\">{}</p>", esc(&line));
    }
    controls(o, d);
    stats(o, d, tz);
    o.push_str(
        "<div class=\"charts\"><div class=\"chart-box\"><h3>Backup age against the RPO \
         target</h3>",
    );
    o.push_str(&svg::age_chart(
        &d.backup_age,
        t.rpo,
        r.window.start,
        r.window.end,
        tz,
    ));
    o.push_str(
        "</div><div class=\"chart-box\"><h3>Restore time per verification against the RTO \
         target</h3>",
    );
    o.push_str(&svg::restore_chart(
        &d.restores,
        t.rto,
        r.window.start,
        r.window.end,
        tz,
    ));
    let _ = write!(
        o,
        "</div><div class=\"chart-box\"><h3>Calendar ({}): backups and verifications</h3>",
        esc(&r.window.timezone)
    );
    o.push_str(&svg::calendar(&d.calendar));
    o.push_str("</div></div>");
    if !d.failures.is_empty() {
        o.push_str("<h3>Failed verifications</h3><ul class=\"failures\">");
        for f in &d.failures {
            let _ = write!(
                o,
                "<li><b>{}</b>: verification <code>{}</code> of backup <code>{}</code>{}",
                esc(&time(f.at, tz)),
                esc(&f.record),
                esc(&f.backup),
                f.error
                    .as_ref()
                    .map(|e| format!(": {}", esc(e)))
                    .unwrap_or_default()
            );
            if !f.failed_checks.is_empty() {
                o.push_str("<ul>");
                for c in &f.failed_checks {
                    let _ = write!(
                        o,
                        "<li class=\"evidence\">{} <code>{}</code>: {}</li>",
                        esc(&c.kind),
                        esc(&c.name),
                        esc(&c.evidence)
                    );
                }
                o.push_str("</ul>");
            }
            o.push_str("</li>");
        }
        o.push_str("</ul>");
    }
    if !d.findings.is_empty() {
        o.push_str("<h3>Findings</h3><ul>");
        for f in &d.findings {
            let _ = write!(o, "<li class=\"finding\">{}</li>", esc(f));
        }
        o.push_str("</ul>");
    }
    o.push_str("</section>");
}

fn controls(o: &mut String, d: &DatabaseReport) {
    o.push_str(
        "<h3>Controls</h3><table class=\"controls\"><thead><tr><th>Control</th><th>Result</th>\
         <th>Reason</th></tr></thead><tbody>",
    );
    for c in &d.controls {
        let (class, label) = match (c.status, c.at_risk) {
            (ControlStatus::Pass, true) => ("risk", "PASS · AT RISK"),
            (ControlStatus::Pass, false) => ("pass", "PASS"),
            (ControlStatus::Fail, _) => ("fail", "FAIL"),
            (ControlStatus::NotConfigured, _) => ("nc", "NOT CONFIGURED"),
        };
        let _ = write!(
            o,
            "<tr data-control=\"{}\"><td class=\"control\"><code>{}</code><small>{}</small></td>\
             <td><span class=\"badge {class}\">{label}</span></td><td>{}</td></tr>",
            c.id.name(),
            c.id.name(),
            esc(c.id.question()),
            esc(&c.reason)
        );
    }
    o.push_str("</tbody></table>");
}

fn stats(o: &mut String, d: &DatabaseReport, tz: Tz) {
    let f = &d.figures;
    o.push_str("<div class=\"stats\">");
    let mut stat = |id: &str, label: &str, value: String, sub: String| {
        let _ = write!(
            o,
            "<div class=\"stat\" id=\"{}-{id}\"><div class=\"label\">{}</div><div class=\"value\">{}</div><div class=\"sub\">{}</div></div>",
            esc(&anchor(&d.name)),
            esc(label),
            esc(&value),
            esc(&sub)
        );
    };
    stat(
        "current-rpo",
        "Current RPO",
        f.current_rpo_seconds.map_or("none".into(), duration),
        f.newest_backup
            .as_ref()
            .map_or("no restorable backup".into(), |b| {
                format!("newest {}", time(b.consistent_at, tz))
            }),
    );
    stat(
        "worst-rpo",
        "Worst RPO (verified)",
        duration(f.worst_rpo.seconds),
        gap_span(&f.worst_rpo, tz),
    );
    stat(
        "last-restore",
        "Last restore (RTO)",
        f.last_restore
            .as_ref()
            .and_then(|r| r.restore_seconds)
            .map_or("never".into(), seconds),
        f.last_restore
            .as_ref()
            .map_or("no measurement".into(), |r| time(r.at, tz)),
    );
    stat(
        "pass-rate",
        "Verification pass rate",
        f.pass_rate
            .map_or("–".into(), |p| format!("{:.0}%", p * 100.0)),
        format!("{} of {} passed", f.verifications_passed, f.verifications),
    );
    stat(
        "backups",
        "Backups in window",
        f.backups_in_window.to_string(),
        format!("{} verified", f.verified_points_in_window),
    );
    stat(
        "retention",
        "Retention reaches back",
        f.retention_seconds.map_or("none".into(), duration),
        f.oldest_backup.as_ref().map_or(String::new(), |b| {
            format!("oldest {}", time(b.consistent_at, tz))
        }),
    );
    o.push_str("</div>");
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn escapes_markup() {
        assert_eq!(
            esc(r#"<script>"a" & 'b'</script>"#),
            "&lt;script&gt;&quot;a&quot; &amp; &#39;b&#39;&lt;/script&gt;"
        );
        assert_eq!(anchor("a b<"), "a-20b-3c");
    }
}
