//! Human-readable output: short tables and lines a person reads in a terminal. `--json` skips
//! all of this and prints the control function's answer as it came.

use clawkeeper_core::control::doctor::{DoctorReport, Verdict};
use clawkeeper_core::control::status::{
    ChannelsView, EcsState, GatewayStatus, ProbeView, StatusReport, Watchdog, WatchdogView,
};
use clawkeeper_core::watch::channel_runtime::{AdminRpc, ChannelStart};
use clawkeeper_core::watch::health::{ProbeMode, ProbeOutcome};
use clawkeeper_core::watch::time::format_utc;
use serde_json::Value;

fn s(v: &Value) -> &str {
    v.as_str().unwrap_or("-")
}

fn utc(v: &Value) -> String {
    v.as_i64().map_or_else(|| "-".to_string(), format_utc)
}

/// Bytes for people.
pub fn size(bytes: u64) -> String {
    const UNITS: [&str; 4] = ["B", "KB", "MB", "GB"];
    let mut value = bytes as f64;
    let mut unit = 0;
    while value >= 1024.0 && unit < UNITS.len() - 1 {
        value /= 1024.0;
        unit += 1;
    }
    if unit == 0 {
        format!("{bytes} B")
    } else {
        format!("{value:.1} {}", UNITS[unit])
    }
}

/// Columns padded to their widest cell.
pub fn table(header: &[&str], rows: &[Vec<String>]) -> String {
    let mut widths: Vec<usize> = header.iter().map(|h| h.chars().count()).collect();
    for row in rows {
        for (i, cell) in row.iter().enumerate() {
            if let Some(w) = widths.get_mut(i) {
                *w = (*w).max(cell.chars().count());
            }
        }
    }
    let line = |cells: Vec<String>| {
        let mut out = String::new();
        for (i, cell) in cells.iter().enumerate() {
            if i + 1 == cells.len() {
                out.push_str(cell);
            } else {
                out.push_str(&format!("{cell:<w$}  ", w = widths[i]));
            }
        }
        out.trim_end().to_string()
    };
    let mut out = vec![line(header.iter().map(|h| h.to_string()).collect())];
    out.extend(rows.iter().map(|r| line(r.clone())));
    out.join("\n")
}

/// Renders an answer of `control` for `action`.
pub fn answer(action: &str, v: &Value) -> String {
    match action {
        "status" => status(v),
        "history" => history(v),
        "snapshots" => snapshots(v),
        "restore" => restore(v),
        "snapshot" => snapshot(v),
        "test" => doctor(v),
        "register" => registered(v),
        "unregister" => unregistered(v),
        "gateways" => gateways(v),
        _ => changed(action, v),
    }
}

/// The `test` report: one line per check, and under a check that is not ok its fix.
fn doctor(v: &Value) -> String {
    let Ok(report) = serde_json::from_value::<DoctorReport>(v.clone()) else {
        return v.to_string();
    };
    let mut out = Vec::new();
    for check in &report.checks {
        let mark = match check.verdict {
            Verdict::Ok => "ok  ",
            Verdict::Warn => "WARN",
            Verdict::Fail => "FAIL",
            Verdict::Skipped => "--  ",
        };
        let name = match &check.gateway {
            Some(g) => format!("{} ({g})", check.name),
            None => check.name.clone(),
        };
        out.push(format!("{mark}  {name:<22} {}", check.detail));
        if let Some(fix) = check.fix.as_deref().filter(|_| check.verdict != Verdict::Ok) {
            out.push(format!("      fix: {fix}"));
        }
    }
    out.push(if report.ok {
        "All checks passed.".to_string()
    } else {
        "Something is wrong: see the FAIL lines.".to_string()
    });
    out.join("\n")
}

fn ecs_words(ecs: &EcsState) -> String {
    match ecs {
        EcsState::Service(service) => format!(
            "{} desired {} running {} pending {}",
            service.status, service.desired, service.running, service.pending
        ),
        EcsState::Standalone { running, pending, .. } => format!("standalone: running {running} pending {pending}"),
        EcsState::Missing { reason } => format!("missing: {reason}"),
        EcsState::Error { message, .. } => format!("ECS error: {message}"),
    }
}

/// How the watchdog sees the gateway: `task_ip: live`, `probe_url: failed (2 in a row)`,
/// `unavailable`; `-` before the reconciler's first pass.
fn probe_words(probe: Option<&ProbeView>) -> String {
    let Some(probe) = probe else {
        return "-".into();
    };
    let mode = probe.status.mode.as_str();
    match probe.status.last_outcome {
        _ if probe.status.mode == ProbeMode::Unavailable => mode.to_string(),
        Some(ProbeOutcome::Failed) if probe.failures > 0 => format!("{mode}: failed ({} in a row)", probe.failures),
        Some(outcome) => format!("{mode}: {}", outcome.as_str()),
        None => format!("{mode}: not probed yet"),
    }
}

/// `/readyz` at the last probe: `ready`, `not ready`, `-` (not asked or not understood).
fn ready_words(probe: Option<&ProbeView>) -> String {
    match probe.and_then(|p| p.status.ready) {
        Some(true) => "ready".into(),
        Some(false) => "not ready".into(),
        None => "-".into(),
    }
}

/// `/startupz` at the last probe: `started`, `starting`, `draining`, `-`.
fn startup_words(probe: Option<&ProbeView>) -> String {
    probe
        .and_then(|p| p.status.startup)
        .map_or_else(|| "-".into(), |s| s.as_str().to_string())
}

/// The channels of one gateway, as `channels.status` last reported them: a line saying why they
/// are unknown, and a table of the accounts with their lifecycle since when.
fn channels_block(id: &str, channels: &ChannelsView) -> String {
    let mut out = match &channels.admin_rpc {
        AdminRpc::Unavailable(why) if channels.accounts.is_empty() => {
            return format!("Channels of {id}: unknown: {why}");
        }
        AdminRpc::Unavailable(why) => format!("Channels of {id} (channels.status, last answer; now unknown: {why}):"),
        AdminRpc::Read | AdminRpc::NotAsked => format!("Channels of {id} (channels.status):"),
    };
    if channels.accounts.is_empty() {
        out.push_str(" none reported");
        return out;
    }
    let rows: Vec<Vec<String>> = channels
        .accounts
        .iter()
        .map(|a| {
            let restart = match (&a.restarted_at_utc, &a.restart_answer) {
                (Some(at), Some(ChannelStart::Started { outcome })) => {
                    format!("restarted by clawkeeper {at} ({outcome})")
                }
                (Some(at), Some(ChannelStart::NotStarted { why })) => format!("restart {at} failed: {why}"),
                (Some(at), _) => format!("restart asked {at}"),
                (None, _) => "-".into(),
            };
            vec![
                a.channel.clone(),
                a.account.clone(),
                a.lifecycle.map_or("-", |l| l.as_str()).to_string(),
                a.since_utc.clone(),
                a.trouble.map_or("-", |t| t.as_str()).to_string(),
                restart,
            ]
        })
        .collect();
    let table = table(
        &["CHANNEL", "ACCOUNT", "LIFECYCLE", "SINCE", "TROUBLE", "RESTART"],
        &rows,
    );
    for line in table.lines() {
        out.push_str("\n  ");
        out.push_str(line);
    }
    out
}

/// A line under the table when the probe cannot tell whether the gateway is up, or says it is not.
fn probe_note(id: &str, probe: &ProbeView) -> Option<String> {
    let dash = |v: &Option<String>| v.clone().unwrap_or_else(|| "-".into());
    if probe.status.mode == ProbeMode::Unavailable {
        return Some(format!(
            "Probe of {id} unavailable: {} (the watchdog never stops a task it cannot see)",
            dash(&probe.status.reason)
        ));
    }
    match probe.status.last_outcome {
        Some(outcome @ (ProbeOutcome::Failed | ProbeOutcome::Unreachable)) => Some(format!(
            "Probe of {id} {} since {}: {}",
            outcome.as_str(),
            dash(&probe.since_utc),
            dash(&probe.status.last_detail)
        )),
        _ => None,
    }
}

/// The watchdog's view of a gateway it has state of.
fn seen(g: &GatewayStatus) -> Option<&WatchdogView> {
    match &g.watchdog {
        Watchdog::Seen(view) => Some(view),
        _ => None,
    }
}

fn status(v: &Value) -> String {
    let report: StatusReport = match serde_json::from_value(v.clone()) {
        Ok(report) => report,
        // An answer this CLI cannot read (a newer control function, say): show it as it came.
        Err(e) => return format!("status answer not understood ({e}):\n{v:#}"),
    };
    let rows: Vec<Vec<String>> = report
        .gateways
        .iter()
        .map(|g| {
            let newest = g
                .snapshots
                .get(0)
                .map(|n| format!("{} ({})", s(&n["name"]), size(n["archive_bytes"].as_u64().unwrap_or(0))))
                .unwrap_or_else(|| "-".into());
            let phase = match &g.watchdog {
                Watchdog::Seen(w) if w.owner_paused => format!("{} (paused by owner)", w.phase.as_str()),
                Watchdog::Seen(w) => w.phase.as_str().to_string(),
                Watchdog::Unseen { phase, .. } => phase.as_str().to_string(),
                Watchdog::Unreadable { .. } => "-".to_string(),
            };
            let w = seen(g);
            let probe = w.and_then(|w| w.probe.as_ref());
            vec![
                g.id.clone(),
                phase,
                ecs_words(&g.ecs),
                probe_words(probe),
                ready_words(probe),
                startup_words(probe),
                w.and_then(|w| w.incident.as_ref())
                    .map_or_else(|| "-".into(), |i| i.cause.clone()),
                w.and_then(|w| w.silenced_until_utc.clone())
                    .unwrap_or_else(|| "-".into()),
                newest,
            ]
        })
        .collect();
    let mut out = table(
        &[
            "GATEWAY",
            "PHASE",
            "ECS",
            "PROBE",
            "READY",
            "STARTUP",
            "INCIDENT",
            "SILENCED UNTIL",
            "NEWEST SNAPSHOT",
        ],
        &rows,
    );
    for g in &report.gateways {
        if let Some(note) = seen(g)
            .and_then(|w| w.probe.as_ref())
            .and_then(|p| probe_note(&g.id, p))
        {
            out.push_str(&format!("\n{note}"));
        }
    }
    for g in &report.gateways {
        let failing = seen(g)
            .and_then(|w| w.probe.as_ref())
            .map(|p| p.status.failing.clone())
            .unwrap_or_default();
        if !failing.is_empty() {
            out.push_str(&format!("\n/readyz of {} lists failing: {}", g.id, failing.join(", ")));
        }
    }
    for g in &report.gateways {
        if let Some(channels) = seen(g).and_then(|w| w.channels.as_ref()) {
            out.push_str(&format!("\n\n{}", channels_block(&g.id, channels)));
        }
    }
    for g in &report.gateways {
        if let Some(incident) = seen(g).and_then(|w| w.incident.as_ref()) {
            out.push_str(&format!("\n\nOpen incident of {} (newest last):", g.id));
            let skip = incident.timeline.len().saturating_sub(10);
            for e in &incident.timeline[skip..] {
                out.push_str(&format!("\n  {}  {}", format_utc(e.at), e.what));
            }
        }
    }
    out
}

fn history(v: &Value) -> String {
    let mut rows = Vec::new();
    for g in v["gateways"].as_array().into_iter().flatten() {
        for r in g["records"].as_array().into_iter().flatten() {
            if r["kind"] == "owner_action" {
                rows.push(vec![
                    s(&g["id"]).to_string(),
                    utc(&r["at"]),
                    format!("owner: {}", s(&r["action"])),
                    s(&r["detail"]).to_string(),
                    s(&r["by"]).to_string(),
                ]);
            } else {
                let closed = r["closed_at"]
                    .as_i64()
                    .map_or("open".to_string(), |t| format!("closed {}", format_utc(t)));
                rows.push(vec![
                    s(&g["id"]).to_string(),
                    utc(&r["id"]),
                    "incident".to_string(),
                    format!(
                        "{} ({closed}, {} stops)",
                        s(&r["cause"]),
                        r["evidence"].as_array().map_or(0, Vec::len)
                    ),
                    "-".to_string(),
                ]);
            }
        }
    }
    if rows.is_empty() {
        return format!("Nothing recorded since {}.", s(&v["since"]["utc"]));
    }
    table(&["GATEWAY", "WHEN", "WHAT", "DETAIL", "ASKED BY"], &rows)
}

fn snapshots(v: &Value) -> String {
    let mut rows = Vec::new();
    for g in v["gateways"].as_array().into_iter().flatten() {
        for n in g["snapshots"].as_array().into_iter().flatten() {
            rows.push(vec![
                s(&g["id"]).to_string(),
                s(&n["name"]).to_string(),
                s(&n["trigger"]).to_string(),
                size(n["archive_bytes"].as_u64().unwrap_or(0)),
                n["file_count"].to_string(),
                if n["consistency"]["quiescent"] == true {
                    "stopped"
                } else {
                    "live"
                }
                .to_string(),
                if n["verified"] == true { "yes" } else { "no" }.to_string(),
                n["warnings"].as_array().map_or(0, Vec::len).to_string(),
            ]);
        }
    }
    if rows.is_empty() {
        return "No snapshots yet. Take one: clawkeeper snapshot".into();
    }
    table(
        &[
            "GATEWAY",
            "NAME",
            "TRIGGER",
            "SIZE",
            "FILES",
            "TAKEN WHILE",
            "VERIFIED",
            "WARNINGS",
        ],
        &rows,
    )
}

fn snapshot(v: &Value) -> String {
    let n = &v["snapshot"];
    match s(&n["result"]) {
        "created" => format!(
            "Snapshot of {} taken: {} ({}, {} files).",
            s(&v["gateway"]),
            s(&n["archive_key"]),
            size(n["archive_bytes"].as_u64().unwrap_or(0)),
            n["file_count"]
        ),
        "unchanged" => format!(
            "Nothing changed since snapshot {}: no new archive.",
            s(&n["current_key"])
        ),
        _ => format!("Snapshot of {}: {n}", s(&v["gateway"])),
    }
}

fn restore(v: &Value) -> String {
    let mut out = format!("Restore of {} onto {}:", s(&v["snapshot"]), s(&v["gateway"]));
    for step in v["steps"].as_array().into_iter().flatten() {
        let mark = if step["ok"] == true { "ok  " } else { "FAIL" };
        out.push_str(&format!(
            "\n  [{mark}] {:<13} {} ({} s)",
            s(&step["step"]),
            s(&step["detail"]),
            step["secs"]
        ));
    }
    out.push_str(if v["ok"] == true {
        "\nRestored."
    } else {
        "\nStopped safely: the gateway is paused."
    });
    for line in v["next"].as_array().into_iter().flatten() {
        out.push_str(&format!("\n  {}", s(line)));
    }
    out
}

fn changed(action: &str, v: &Value) -> String {
    let mut out = format!(
        "{}: {action} done (phase {}), asked by {}.",
        s(&v["gateway"]),
        s(&v["phase"]),
        s(&v["by"])
    );
    if action == "silence" {
        out = match v["silenced_until"]["utc"].as_str() {
            Some(until) => format!(
                "{}: notices muted until {until}, asked by {}.",
                s(&v["gateway"]),
                s(&v["by"])
            ),
            None => format!("{}: notices unmuted, asked by {}.", s(&v["gateway"]), s(&v["by"])),
        };
    }
    out
}

/// What a gateway runs as: `service <name>` or `task family <name>`.
fn runs_as(g: &Value) -> String {
    match (g["service"].as_str(), g["task_family"].as_str()) {
        (Some(service), _) => format!("service {service}"),
        (None, Some(family)) => format!("task family {family}"),
        (None, None) => "-".into(),
    }
}

/// An owner's gateways, `a, b`; empty when none is left.
fn owned(owner: &Value) -> String {
    let ids: Vec<&str> = owner["gateways"].as_array().into_iter().flatten().map(s).collect();
    ids.join(", ")
}

/// The owner line of a `register` or `unregister` answer; none when the answer has no owner.
fn owner_line(owner: &Value) -> Option<String> {
    let email = owner["email"].as_str()?;
    let gateways = match owned(owner) {
        ids if ids.is_empty() => "no gateway left".to_string(),
        ids => format!("gateways {ids}"),
    };
    let status = s(&owner["subscription"]);
    let mut line = format!("Owner {email} ({gateways}), email subscription: {status}.");
    if status == "pending confirmation" {
        line.push_str(&format!(" Open the link AWS mailed to {email} to receive the notices."));
    }
    Some(line)
}

fn registered(v: &Value) -> String {
    let g = &v["registered"];
    let mut out = format!(
        "Registered {} (cluster {}, {}): watched from {}.",
        s(&g["id"]),
        s(&g["cluster"]),
        runs_as(g),
        s(&v["watched_from"])
    );
    if let Some(line) = owner_line(&v["owner"]) {
        out.push_str(&format!("\n{line}"));
    }
    out
}

fn unregistered(v: &Value) -> String {
    let mut out = format!(
        "Unregistered {}: no longer watched; kept: {}.",
        s(&v["unregistered"]),
        s(&v["kept"])
    );
    if let Some(line) = owner_line(&v["owner"]) {
        out.push_str(&format!("\n{line}"));
    }
    out
}

/// The `gateways` answer: a table of the watched gateways, then their owners.
fn gateways(v: &Value) -> String {
    let rows: Vec<Vec<String>> = v["gateways"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|g| {
            vec![
                s(&g["id"]).to_string(),
                s(&g["source"]).to_string(),
                s(&g["phase"]).to_string(),
                runs_as(g),
                s(&g["owner_email"]).to_string(),
            ]
        })
        .collect();
    if rows.is_empty() {
        return "No gateway is watched. Add one: clawkeeper gateways add ID --cluster C --service S".into();
    }
    let mut out = table(&["GATEWAY", "SOURCE", "PHASE", "RUNS AS", "OWNER"], &rows);
    let owners: Vec<Vec<String>> = v["owners"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|o| {
            let ids = owned(o);
            vec![
                s(&o["email"]).to_string(),
                if ids.is_empty() { "-".into() } else { ids },
                // Control knows the subscription, not whether the owner confirmed it (SNS says
                // that only to the topic's owner's console or a ListSubscriptions call).
                o["subscription_arn"]
                    .as_str()
                    .and_then(|arn| arn.rsplit(':').next())
                    .map_or_else(|| "-".to_string(), |id| format!("subscribed ({id})")),
            ]
        })
        .collect();
    if !owners.is_empty() {
        out.push_str("\n\nOwners:\n");
        out.push_str(&table(&["EMAIL", "GATEWAYS", "SUBSCRIPTION"], &owners));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn status_shows_how_each_gateway_is_probed() {
        let v = serde_json::json!({"gateways": [
            {"id": "home", "target": {"kind": "service", "name": "gw"}, "ecs": {"state": "service", "status": "ACTIVE", "desired": 1, "running": 1, "pending": 0},
             "watchdog": {"phase": "healthy", "probe": {"mode": "unavailable", "failures": 0,
                "reason": "the reconciler runs outside the VPC; set ProbeInVpc=true or a probe_url"}}},
            {"id": "lab", "target": {"kind": "service", "name": "gw"}, "ecs": {"state": "service", "status": "ACTIVE", "desired": 1, "running": 1, "pending": 0},
             "watchdog": {"phase": "healthy", "probe": {"mode": "task_ip", "last_outcome": "unreachable",
                "last_detail": "could not reach the gateway: connection refused", "since_utc": "2026-11-20 08:00:00 UTC",
                "failures": 0}}},
            {"id": "ui", "target": {"kind": "service", "name": "ui"}, "ecs": {"state": "missing", "reason": "MISSING"},
             "watchdog": {"phase": "healthy", "probe": {"mode": "probe_url", "last_outcome": "failed", "failures": 2}}},
            {"id": "new", "target": {"kind": "service", "name": "new"}, "ecs": {"state": "missing", "reason": "MISSING"}, "watchdog": {"phase": "unknown"}}
        ]});
        let text = status(&v);
        assert!(text.lines().next().is_some_and(|h| h.contains("PROBE")), "{text}");
        for needle in [
            "unavailable",
            "task_ip: unreachable",
            "probe_url: failed (2 in a row)",
            "Probe of home unavailable: the reconciler runs outside the VPC; set ProbeInVpc=true",
            "Probe of lab unreachable since 2026-11-20 08:00:00 UTC: could not reach the gateway",
        ] {
            assert!(text.contains(needle), "{needle}:\n{text}");
        }
        assert!(
            text.lines().any(|l| l.starts_with("new ") && l.contains(" - ")),
            "{text}"
        );
    }

    #[test]
    fn status_shows_readiness_startup_and_each_channels_lifecycle() {
        let v = serde_json::json!({"gateways": [
            {"id": "home", "target": {"kind": "service", "name": "gw"}, "ecs": {"state": "service", "status": "ACTIVE", "desired": 1, "running": 1, "pending": 0},
             "watchdog": {"phase": "healthy",
                "probe": {"mode": "probe_url", "last_outcome": "live", "failures": 0, "startup": "started",
                          "ready": false, "failing": ["channel:whatsapp:default"]},
                "channels": {"admin_rpc": {"state": "read"}, "accounts": [
                    {"channel": "whatsapp", "account": "default", "lifecycle": "ready", "since": 1_795_161_660,
                     "since_utc": "2026-11-20 08:01:00 UTC", "restarted_at_utc": "2026-11-20 08:00:00 UTC",
                     "restart_answer": {"result": "started", "outcome": "handed-off"}},
                    {"channel": "telegram", "account": "ops", "lifecycle": "blocked", "since": 1_795_161_000,
                     "since_utc": "2026-11-20 07:50:00 UTC", "trouble": "conflict"}]}}},
            {"id": "lab", "target": {"kind": "service", "name": "gw"}, "ecs": {"state": "service", "status": "ACTIVE", "desired": 1, "running": 1, "pending": 0},
             "watchdog": {"phase": "healthy",
                "probe": {"mode": "task_ip", "last_outcome": "live", "failures": 0, "ready": true},
                "channels": {"admin_rpc": {"state": "unavailable", "why": "admin RPC not enabled (enable OpenClaw's admin-http-rpc plugin)"}}}}
        ]});
        let text = status(&v);
        let header = text.lines().next().unwrap_or_default();
        assert!(header.contains("READY") && header.contains("STARTUP"), "{text}");
        let home = text.lines().find(|l| l.starts_with("home ")).unwrap_or_default();
        assert!(home.contains("not ready") && home.contains("started"), "{home}");
        let lab = text.lines().find(|l| l.starts_with("lab ")).unwrap_or_default();
        assert!(lab.contains(" ready "), "{lab}");
        for needle in [
            "/readyz of home lists failing: channel:whatsapp:default",
            "Channels of home (channels.status):",
            "  whatsapp  default  ready      2026-11-20 08:01:00 UTC  -         restarted by clawkeeper",
            "restarted by clawkeeper 2026-11-20 08:00:00 UTC (handed-off)",
            "  telegram  ops      blocked    2026-11-20 07:50:00 UTC  conflict",
            "Channels of lab: unknown: admin RPC not enabled (enable OpenClaw's admin-http-rpc plugin)",
        ] {
            assert!(text.contains(needle), "{needle}:\n{text}");
        }
    }

    #[test]
    fn sizes_and_tables_read_well() {
        assert_eq!(size(512), "512 B");
        assert_eq!(size(1536), "1.5 KB");
        assert_eq!(
            table(&["A", "LONGER"], &[vec!["xyz".into(), "1".into()]]),
            "A    LONGER\nxyz  1"
        );
    }

    /// A `gateways` answer as the contract gives it: a seed gateway without owner or phase yet,
    /// a registered service with an owner, a registered standalone task.
    fn gateways_answer() -> Value {
        serde_json::json!({
            "gateways": [
                {"id": "home", "cluster": "openclaw", "service": "openclaw-gateway", "source": "seed",
                 "owner_email": null, "registered_at": null, "registered_by": null, "phase": "healthy"},
                {"id": "lab", "cluster": "openclaw", "service": "openclaw-lab", "probe_url": "https://lab.example.com",
                 "source": "registered", "owner_email": "me@example.com", "registered_at": 1_795_161_600,
                 "registered_by": "arn:aws:iam::123456789012:user/me", "phase": "down"},
                {"id": "batch", "cluster": "openclaw", "task_family": "openclaw-batch", "source": "registered",
                 "owner_email": "me@example.com", "registered_at": 1_795_161_700, "registered_by": "me", "phase": "unknown"}
            ],
            "owners": [
                {"email": "me@example.com", "gateways": ["lab", "batch"],
                 "subscription_arn": "arn:aws:sns:us-east-1:123456789012:clawkeeper:1b2c"},
                {"email": "ops@example.com", "gateways": [], "subscription_arn": null}
            ]
        })
    }

    #[test]
    fn the_gateways_list_is_a_table_then_the_owners() {
        let text = answer("gateways", &gateways_answer());
        let expected = "\
GATEWAY  SOURCE      PHASE    RUNS AS                     OWNER
home     seed        healthy  service openclaw-gateway    -
lab      registered  down     service openclaw-lab        me@example.com
batch    registered  unknown  task family openclaw-batch  me@example.com

Owners:
EMAIL            GATEWAYS    SUBSCRIPTION
me@example.com   lab, batch  subscribed (1b2c)
ops@example.com  -           -";
        assert_eq!(text, expected, "\n{text}");
        assert_eq!(
            answer("gateways", &serde_json::json!({"gateways": [], "owners": []})),
            "No gateway is watched. Add one: clawkeeper gateways add ID --cluster C --service S"
        );
    }

    #[test]
    fn register_and_unregister_say_what_changed_and_who_is_told() {
        let registered = serde_json::json!({
            "registered": {"id": "lab", "cluster": "openclaw", "service": "openclaw-lab",
                           "state_root": "/mnt/openclaw", "state_dir": ".openclaw"},
            "owner": {"email": "me@example.com", "gateways": ["lab"], "subscription": "pending confirmation"},
            "watched_from": "the next event or reconciler tick"
        });
        assert_eq!(
            answer("register", &registered),
            "Registered lab (cluster openclaw, service openclaw-lab): watched from the next event or reconciler tick.\n\
             Owner me@example.com (gateways lab), email subscription: pending confirmation. \
             Open the link AWS mailed to me@example.com to receive the notices."
        );
        let standalone = serde_json::json!({
            "registered": {"id": "batch", "cluster": "openclaw", "task_family": "openclaw-batch"},
            "owner": null,
            "watched_from": "the next event or reconciler tick"
        });
        assert_eq!(
            answer("register", &standalone),
            "Registered batch (cluster openclaw, task family openclaw-batch): watched from the next event or reconciler tick."
        );
        let unregistered = serde_json::json!({
            "unregistered": "lab",
            "kept": "snapshots and history",
            "owner": {"email": "me@example.com", "gateways": [], "subscription": "confirmed"}
        });
        assert_eq!(
            answer("unregister", &unregistered),
            "Unregistered lab: no longer watched; kept: snapshots and history.\n\
             Owner me@example.com (no gateway left), email subscription: confirmed."
        );
        let without_owner = serde_json::json!({"unregistered": "lab", "kept": "snapshots and history", "owner": null});
        assert_eq!(
            answer("unregister", &without_owner),
            "Unregistered lab: no longer watched; kept: snapshots and history."
        );
    }
}
