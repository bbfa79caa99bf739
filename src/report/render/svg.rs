//! Inline SVG charts for the HTML report: backup age against the RPO, restore time against
//! the RTO, and a calendar of the window. No script, no external resource; every text
//! escaped. Each series has its own colour, used nowhere else on the page, so a test can
//! tell from a screenshot that a chart was drawn.

use std::fmt::Write;

use chrono::{DateTime, Datelike, Utc};
use chrono_tz::Tz;

use super::html::esc;
use crate::report::format::{duration, seconds, target};
use crate::report::model::{AgePoint, CalendarDay, RestorePoint};

/// The backup-age sawtooth.
pub const AGE_LINE: &str = "#1f6feb";
/// The RPO target line.
pub const RPO_TARGET: &str = "#e8590c";
/// The restore-time line and the rim of its points.
pub const RESTORE_LINE: &str = "#8250df";
/// The RTO target line.
pub const RTO_TARGET: &str = "#d6336c";
/// A passing and a failing verification (in the restore chart and the calendar).
pub const PASS: &str = "#2ea043";
pub const FAIL: &str = "#f0443a";
/// Calendar: a day with a restorable backup, and one without.
pub const BACKUP_DAY: &str = "#54aeff";
pub const EMPTY_DAY: &str = "#e4e7eb";

const W: f64 = 980.0;
const H: f64 = 230.0;
const LEFT: f64 = 70.0;
const RIGHT: f64 = 20.0;
const TOP: f64 = 14.0;
const BOTTOM: f64 = 30.0;

/// Maps times and values into the plot area.
struct Frame {
    start: DateTime<Utc>,
    end: DateTime<Utc>,
    y_max: f64,
}

impl Frame {
    fn pw() -> f64 {
        W - LEFT - RIGHT
    }
    fn ph() -> f64 {
        H - TOP - BOTTOM
    }
    fn x(&self, t: DateTime<Utc>) -> f64 {
        let span = (self.end - self.start).num_milliseconds().max(1) as f64;
        let at = (t - self.start).num_milliseconds() as f64;
        LEFT + (at / span).clamp(0.0, 1.0) * Self::pw()
    }
    fn y(&self, v: f64) -> f64 {
        TOP + Self::ph() - (v / self.y_max).clamp(0.0, 1.0) * Self::ph()
    }
}

/// A round step for a seconds axis up to `max`, about five ticks.
fn step(max: f64) -> f64 {
    const STEPS: [f64; 20] = [
        1.0, 5.0, 10.0, 30.0, 60.0, 300.0, 600.0, 1800.0, 3600.0, 7200.0, 10800.0, 21600.0,
        43200.0, 86400.0, 172800.0, 604800.0, 1209600.0, 2592000.0, 7776000.0, 31536000.0,
    ];
    STEPS
        .iter()
        .copied()
        .find(|s| max / s <= 5.0)
        .unwrap_or(31536000.0 * (max / 31536000.0 / 5.0).ceil())
}

fn axes(o: &mut String, f: &Frame, tz: Tz, y_label: &str) {
    let (x0, x1, y0) = (LEFT, W - RIGHT, TOP + Frame::ph());
    let _ = write!(
        o,
        r##"<line x1="{x0}" y1="{TOP}" x2="{x0}" y2="{y0}" stroke="#8c959f" stroke-width="1"/><line x1="{x0}" y1="{y0}" x2="{x1}" y2="{y0}" stroke="#8c959f" stroke-width="1"/>"##
    );
    let s = step(f.y_max);
    let mut v = 0.0;
    while v <= f.y_max + 1e-9 {
        let y = f.y(v);
        let _ = write!(
            o,
            r##"<line x1="{x0}" y1="{y:.1}" x2="{x1}" y2="{y:.1}" stroke="#eaeef2" stroke-width="1"/><text x="{:.1}" y="{:.1}" text-anchor="end" class="tick">{}</text>"##,
            x0 - 6.0,
            y + 4.0,
            esc(&duration(v as i64))
        );
        v += s;
    }
    let span = (f.end - f.start).num_seconds();
    let fmt = match span {
        s if s < 3_600 => "%H:%M:%S",
        s if s <= 2 * 86_400 => "%H:%M",
        _ => "%b %d",
    };
    for i in 0..=5 {
        let t = f.start + (f.end - f.start) * i / 5;
        let x = f.x(t);
        let anchor = match i {
            0 => "start",
            5 => "end",
            _ => "middle",
        };
        let _ = write!(
            o,
            r#"<text x="{x:.1}" y="{:.1}" text-anchor="{anchor}" class="tick">{}</text>"#,
            y0 + 18.0,
            esc(&t.with_timezone(&tz).format(fmt).to_string())
        );
    }
    let _ = write!(
        o,
        r#"<text x="14" y="{:.1}" transform="rotate(-90 14 {:.1})" text-anchor="middle" class="tick">{}</text>"#,
        TOP + Frame::ph() / 2.0,
        TOP + Frame::ph() / 2.0,
        esc(y_label)
    );
}

fn target_line(o: &mut String, f: &Frame, value: f64, colour: &str, label: &str) {
    let y = f.y(value).round();
    let _ = write!(
        o,
        r#"<line class="target" x1="{LEFT}" y1="{y}" x2="{}" y2="{y}" stroke="{colour}" stroke-width="2" stroke-dasharray="10 5" shape-rendering="crispEdges"/><text x="{}" y="{}" text-anchor="end" class="target-label" fill="{colour}">{}</text>"#,
        W - RIGHT,
        W - RIGHT - 4.0,
        y - 5.0,
        esc(label)
    );
}

fn open(o: &mut String, class: &str, title: &str) {
    let _ = write!(
        o,
        r#"<svg class="chart {class}" viewBox="0 0 {W} {H}" width="{W}" height="{H}" role="img" xmlns="http://www.w3.org/2000/svg"><title>{}</title>"#,
        esc(title)
    );
}

fn empty(o: &mut String, text: &str) {
    let _ = write!(
        o,
        r#"<text x="{:.1}" y="{:.1}" text-anchor="middle" class="empty">{}</text>"#,
        LEFT + Frame::pw() / 2.0,
        TOP + Frame::ph() / 2.0,
        esc(text)
    );
}

/// Backup age over the window (sawtooth) with the RPO target.
pub fn age_chart(
    points: &[AgePoint],
    rpo: Option<u64>,
    start: DateTime<Utc>,
    end: DateTime<Utc>,
    tz: Tz,
) -> String {
    let peak = points.iter().map(|p| p.seconds).max().unwrap_or(0) as f64;
    let t = rpo.map(|t| t as f64).unwrap_or(0.0);
    let f = Frame {
        start,
        end,
        y_max: (peak.max(t) * 1.1).max(60.0),
    };
    let mut o = String::new();
    open(
        &mut o,
        "age",
        "Age of the newest restorable backup against the RPO target",
    );
    axes(&mut o, &f, tz, "backup age");
    if let Some(rpo) = rpo {
        target_line(
            &mut o,
            &f,
            rpo as f64,
            RPO_TARGET,
            &format!("RPO {}", target(rpo)),
        );
    }
    if points.is_empty() {
        empty(&mut o, "no restorable backup in the window");
    } else {
        let path: Vec<String> = points
            .iter()
            .map(|p| format!("{:.1},{:.1}", f.x(p.at), f.y(p.seconds as f64)))
            .collect();
        let _ = write!(
            o,
            r#"<polyline class="age-line" points="{}" fill="none" stroke="{AGE_LINE}" stroke-width="3" stroke-linejoin="round"/>"#,
            path.join(" ")
        );
    }
    o.push_str("</svg>");
    o
}

/// Restore time per verification with the RTO target; failed restores are red crosses on
/// the axis.
pub fn restore_chart(
    restores: &[RestorePoint],
    rto: Option<u64>,
    start: DateTime<Utc>,
    end: DateTime<Utc>,
    tz: Tz,
) -> String {
    let peak = restores
        .iter()
        .filter_map(|r| r.restore_seconds)
        .fold(0.0_f64, f64::max);
    let t = rto.map(|t| t as f64).unwrap_or(0.0);
    let f = Frame {
        start,
        end,
        y_max: (peak.max(t) * 1.15).max(10.0),
    };
    let mut o = String::new();
    open(
        &mut o,
        "restore",
        "Measured restore time per verification against the RTO target",
    );
    axes(&mut o, &f, tz, "restore time");
    if let Some(rto) = rto {
        target_line(
            &mut o,
            &f,
            rto as f64,
            RTO_TARGET,
            &format!("RTO {}", target(rto)),
        );
    }
    if restores.is_empty() {
        empty(&mut o, "no verification in the window");
    }
    let measured: Vec<(f64, f64)> = restores
        .iter()
        .filter_map(|r| r.restore_seconds.map(|s| (f.x(r.at), f.y(s))))
        .collect();
    if measured.len() > 1 {
        let path: Vec<String> = measured
            .iter()
            .map(|(x, y)| format!("{x:.1},{y:.1}"))
            .collect();
        let _ = write!(
            o,
            r#"<polyline class="restore-line" points="{}" fill="none" stroke="{RESTORE_LINE}" stroke-width="3" stroke-linejoin="round"/>"#,
            path.join(" ")
        );
    }
    for r in restores {
        let x = f.x(r.at);
        let when = r.at.with_timezone(&tz).format("%Y-%m-%d %H:%M %Z");
        match r.restore_seconds {
            Some(s) => {
                let _ = write!(
                    o,
                    r#"<circle cx="{x:.1}" cy="{:.1}" r="6" fill="{}" stroke="{RESTORE_LINE}" stroke-width="3"><title>{}</title></circle>"#,
                    f.y(s),
                    if r.passed { PASS } else { FAIL },
                    esc(&format!(
                        "{when}: restore {} ({}), backup {}",
                        seconds(s),
                        if r.passed { "passed" } else { "failed" },
                        r.backup
                    ))
                );
            }
            None => {
                let y = TOP + Frame::ph();
                let _ = write!(
                    o,
                    r#"<path d="M{:.1},{:.1} l10,10 m0,-10 l-10,10" stroke="{FAIL}" stroke-width="3"><title>{}</title></path>"#,
                    x - 5.0,
                    y - 5.0,
                    esc(&format!("{when}: restore failed, backup {}", r.backup))
                );
            }
        }
    }
    o.push_str("</svg>");
    o
}

/// The window's days as a grid: one column per week (Monday first), one cell per day;
/// blue when a restorable backup's consistent point falls on it, with a green dot for a
/// passing verification and a red one for a failing one.
pub fn calendar(days: &[CalendarDay]) -> String {
    const CELL: f64 = 15.0;
    const GAP: f64 = 3.0;
    const X0: f64 = 34.0;
    const Y0: f64 = 22.0;
    let offset = days
        .first()
        .map_or(0, |d| d.date.weekday().num_days_from_monday() as usize);
    let weeks = (days.len() + offset).div_ceil(7).max(1);
    // Wide enough for the legend under a short window.
    let width = (X0 + weeks as f64 * (CELL + GAP) + 10.0).max(340.0);
    let height = Y0 + 7.0 * (CELL + GAP) + 28.0;
    let mut o = String::new();
    let _ = write!(
        o,
        r#"<svg class="chart calendar" viewBox="0 0 {width} {height}" width="{width}" height="{height}" role="img" xmlns="http://www.w3.org/2000/svg"><title>Calendar of backups and verifications</title>"#
    );
    for (row, label) in [(0, "Mon"), (2, "Wed"), (4, "Fri"), (6, "Sun")] {
        let _ = write!(
            o,
            r#"<text x="{}" y="{:.1}" text-anchor="end" class="tick">{label}</text>"#,
            X0 - 5.0,
            Y0 + row as f64 * (CELL + GAP) + CELL - 3.0
        );
    }
    let mut last_month = None;
    let mut last_label_x = f64::MIN;
    for (i, d) in days.iter().enumerate() {
        let slot = i + offset;
        let (col, row) = (slot / 7, slot % 7);
        let x = X0 + col as f64 * (CELL + GAP);
        let y = Y0 + row as f64 * (CELL + GAP);
        if last_month != Some(d.date.month()) && (row == 0 || i == 0) && x - last_label_x > 30.0 {
            last_month = Some(d.date.month());
            last_label_x = x;
            let _ = write!(
                o,
                r#"<text x="{x}" y="{}" class="tick">{}</text>"#,
                Y0 - 7.0,
                d.date.format("%b")
            );
        }
        let verifications = d.verifications_passed + d.verifications_failed;
        let tip = format!(
            "{}: {} backup(s), {} verification(s) passed, {} failed",
            d.date, d.backups, d.verifications_passed, d.verifications_failed
        );
        let _ = write!(
            o,
            r#"<g class="day" data-date="{}"><title>{}</title><rect x="{x}" y="{y}" width="{CELL}" height="{CELL}" rx="2" fill="{}"/>"#,
            d.date,
            esc(&tip),
            if d.backups > 0 { BACKUP_DAY } else { EMPTY_DAY }
        );
        if verifications > 0 {
            let _ = write!(
                o,
                r#"<circle cx="{}" cy="{}" r="4" fill="{}"/>"#,
                x + CELL / 2.0,
                y + CELL / 2.0,
                if d.verifications_failed > 0 {
                    FAIL
                } else {
                    PASS
                }
            );
        }
        o.push_str("</g>");
    }
    let ly = height - 10.0;
    let _ = write!(
        o,
        r#"<rect x="{X0}" y="{:.1}" width="11" height="11" rx="2" fill="{BACKUP_DAY}"/><text x="{:.1}" y="{ly}" class="tick">backup</text><circle cx="{:.1}" cy="{:.1}" r="4" fill="{PASS}"/><text x="{:.1}" y="{ly}" class="tick">verified</text><circle cx="{:.1}" cy="{:.1}" r="4" fill="{FAIL}"/><text x="{:.1}" y="{ly}" class="tick">verification failed</text>"#,
        ly - 9.0,
        X0 + 15.0,
        X0 + 72.0,
        ly - 4.0,
        X0 + 80.0,
        X0 + 140.0,
        ly - 4.0,
        X0 + 148.0,
    );
    o.push_str("</svg>");
    o
}
