//! What each finding of the `test` action means for the owner: a [`Check`] with its verdict and,
//! when it is not ok, the fix. Pure, so every case is tested without AWS.

use clawkeeper_core::control::doctor::{Check, Verdict};
use clawkeeper_core::watch::health::{ProbeMode, ProbeOutcome, ProbeStatus};
use clawkeeper_core::watch::time::format_utc;

/// The heartbeat alarm fires after 10 minutes without one; the check says so a little earlier.
pub const HEARTBEAT_MAX_AGE_SECS: i64 = 5 * 60;

/// One subscription of the topic, as SNS lists it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Subscription {
    pub protocol: String,
    pub endpoint: String,
    /// `PendingConfirmation` until the owner follows the link in the confirmation email.
    pub arn: String,
}

impl Subscription {
    fn confirmed(&self) -> bool {
        self.arn.starts_with("arn:")
    }
}

/// One alarm of the stack, as CloudWatch describes it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Alarm {
    pub name: String,
    pub actions_enabled: bool,
    pub alarm_actions: Vec<String>,
    pub state: String,
}

pub fn notice(published: Result<String, String>, topic: &str) -> Check {
    match published {
        Ok(id) => Check::new(
            "notice",
            Verdict::Ok,
            format!("test notice sent to {topic} (message {id})"),
        ),
        Err(e) => Check::new("notice", Verdict::Fail, format!("the test notice was not sent: {e}")).fix(
            "the control function must be allowed sns:Publish on the topic and kms:GenerateDataKey on its key; \
             redeploy the stack unchanged to restore its role",
        ),
    }
}

pub fn subscriptions(found: Result<Vec<Subscription>, String>, topic: &str) -> Check {
    let subscribe = format!(
        "subscribe an address and confirm the email AWS sends: aws sns subscribe --topic-arn {topic} \
         --protocol email --notification-endpoint you@example.com (or redeploy with OwnerEmail set)"
    );
    let subs = match found {
        Ok(subs) => subs,
        Err(e) => {
            return Check::new(
                "subscriptions",
                Verdict::Fail,
                format!("the topic's subscriptions could not be read: {e}"),
            )
            .fix("the control function must be allowed sns:ListSubscriptionsByTopic on the topic");
        }
    };
    let (confirmed, pending): (Vec<_>, Vec<_>) = subs.iter().partition(|s| s.confirmed());
    let names = |list: &[&Subscription]| {
        list.iter()
            .map(|s| format!("{} {}", s.protocol, s.endpoint))
            .collect::<Vec<_>>()
            .join(", ")
    };
    match (confirmed.is_empty(), pending.is_empty()) {
        (true, true) => Check::new(
            "subscriptions",
            Verdict::Fail,
            "nobody is subscribed: no notice reaches anyone",
        )
        .fix(subscribe),
        (true, false) => Check::new(
            "subscriptions",
            Verdict::Fail,
            format!("not confirmed yet: {}; nobody receives notices", names(&pending)),
        )
        .fix("open the email \"AWS Notification - Subscription Confirmation\" (check spam) and follow its link"),
        (false, true) => Check::new(
            "subscriptions",
            Verdict::Ok,
            format!("confirmed: {}", names(&confirmed)),
        ),
        (false, false) => Check::new(
            "subscriptions",
            Verdict::Warn,
            format!("confirmed: {}; still pending: {}", names(&confirmed), names(&pending)),
        )
        .fix("follow the link of the pending confirmation email, or remove that subscription"),
    }
}

pub fn alarms(expected: &[String], found: Result<Vec<Alarm>, String>, topic: &str) -> Check {
    if expected.is_empty() {
        return Check::new(
            "alarms",
            Verdict::Skipped,
            "no alarms configured (CLAWKEEPER_ALARM_NAMES)",
        );
    }
    let found = match found {
        Ok(found) => found,
        Err(e) => {
            return Check::new("alarms", Verdict::Fail, format!("the alarms could not be read: {e}"))
                .fix("the control function must be allowed cloudwatch:DescribeAlarms on the stack's alarms");
        }
    };
    let mut problems = Vec::new();
    for name in expected {
        match found.iter().find(|a| &a.name == name) {
            None => problems.push(format!("{name} does not exist")),
            Some(a) if !a.actions_enabled => problems.push(format!("{name} has its actions disabled")),
            Some(a) if !a.alarm_actions.iter().any(|t| t == topic) => {
                problems.push(format!("{name} does not notify the topic"))
            }
            Some(_) => {}
        }
    }
    let firing: Vec<&str> = found
        .iter()
        .filter(|a| a.state == "ALARM")
        .map(|a| a.name.as_str())
        .collect();
    if !problems.is_empty() {
        return Check::new("alarms", Verdict::Fail, problems.join("; ")).fix(
            "redeploy the stack unchanged (sam deploy) to restore its alarms; \
             aws cloudwatch enable-alarm-actions --alarm-names NAME turns disabled actions back on",
        );
    }
    if !firing.is_empty() {
        return Check::new(
            "alarms",
            Verdict::Warn,
            format!(
                "{} alarms notify the topic; in alarm now: {}",
                expected.len(),
                firing.join(", ")
            ),
        )
        .fix("read the alarm's notice (or aws cloudwatch describe-alarms --alarm-names NAME) for what it saw");
    }
    Check::new(
        "alarms",
        Verdict::Ok,
        format!("{} alarms notify the topic, none in alarm", expected.len()),
    )
}

/// `newest`: epoch seconds of the reconciler's newest heartbeat in the last half hour.
pub fn heartbeat(newest: Result<Option<i64>, String>, now: i64) -> Check {
    let fix = "the reconciler runs every minute from its EventBridge schedule (<stack>-reconciler): check that \
               the schedule is ENABLED and read the reconciler's log (aws logs tail /aws/lambda/<ReconcilerFunction> \
               --since 15m)";
    match newest {
        Err(e) => Check::new(
            "heartbeat",
            Verdict::Fail,
            format!("the heartbeat metric could not be read: {e}"),
        )
        .fix("the control function must be allowed cloudwatch:GetMetricStatistics"),
        Ok(None) => Check::new(
            "heartbeat",
            Verdict::Fail,
            "no reconciler heartbeat in the last 30 minutes",
        )
        .fix(format!(
            "{fix}; right after a first deploy, wait two minutes and run this again"
        )),
        Ok(Some(at)) => {
            let age = (now - at).max(0);
            if age > HEARTBEAT_MAX_AGE_SECS {
                Check::new(
                    "heartbeat",
                    Verdict::Fail,
                    format!("the newest reconciler heartbeat is {age} s old"),
                )
                .fix(fix)
            } else {
                Check::new("heartbeat", Verdict::Ok, format!("the reconciler ran {age} s ago"))
            }
        }
    }
}

pub fn dead_letters(queue: Option<&str>, depth: Result<u64, String>) -> Check {
    let Some(queue) = queue else {
        return Check::new("dead_letters", Verdict::Skipped, "no dead-letter queue configured");
    };
    match depth {
        Err(e) => Check::new(
            "dead_letters",
            Verdict::Fail,
            format!("the dead-letter queue could not be read: {e}"),
        )
        .fix("the control function must be allowed sqs:GetQueueAttributes on the queue"),
        Ok(0) => Check::new("dead_letters", Verdict::Ok, "the dead-letter queue is empty"),
        Ok(n) => Check::new(
            "dead_letters",
            Verdict::Fail,
            format!("{n} events failed after every retry and wait in the queue"),
        )
        .fix(format!(
            "read them (aws sqs receive-message --queue-url {queue} --max-number-of-messages 10), find the \
                 failing function's error in its log, then aws sqs purge-queue --queue-url {queue}"
        )),
    }
}

/// `newest`: the newest snapshot (name, epoch seconds), `interval`: the schedule (0 = none).
pub fn snapshot(gateway: &str, interval: u64, newest: Result<Option<(String, i64)>, String>, now: i64) -> Check {
    if interval == 0 {
        return Check::new(
            "snapshot",
            Verdict::Skipped,
            "snapshots are off (no state volume configured)",
        )
        .of(gateway);
    }
    let take = format!("take one now: clawkeeper snapshot {gateway}");
    match newest {
        Err(e) => Check::new(
            "snapshot",
            Verdict::Fail,
            format!("the snapshots could not be listed: {e}"),
        )
        .fix("the control function must be allowed s3:ListBucket on the snapshot bucket")
        .of(gateway),
        Ok(None) => Check::new("snapshot", Verdict::Fail, "no snapshot yet")
            .fix(take)
            .of(gateway),
        Ok(Some((name, at))) => {
            let age = (now - at).max(0);
            let stale_after = i64::try_from(interval.saturating_mul(2)).unwrap_or(i64::MAX);
            let detail = format!("newest {name}, taken {} ({} min ago)", format_utc(at), age / 60);
            if age > stale_after {
                Check::new(
                    "snapshot",
                    Verdict::Fail,
                    format!("{detail}: older than twice the schedule"),
                )
                .fix(format!(
                    "{take}; if it fails, its notice and the snapshot function's log say why"
                ))
                .of(gateway)
            } else {
                Check::new("snapshot", Verdict::Ok, detail).of(gateway)
            }
        }
    }
}

/// `probe`: how the reconciler last probed the gateway (`None`: it has not seen the gateway yet).
pub fn probe(gateway: &str, probe: Option<&ProbeStatus>) -> Check {
    let Some(probe) = probe else {
        return Check::new(
            "probe",
            Verdict::Warn,
            "the reconciler has not checked this gateway yet",
        )
        .fix("wait a minute (it runs every minute) and run this again")
        .of(gateway);
    };
    let detail = probe.last_detail.as_deref().or(probe.reason.as_deref()).unwrap_or("");
    let since = probe
        .since
        .map(|t| format!(" since {}", format_utc(t)))
        .unwrap_or_default();
    let check = match (probe.mode, probe.last_outcome) {
        (ProbeMode::Unavailable, _) => Check::new(
            "probe",
            Verdict::Skipped,
            format!("not probed: {detail} (ECS state alone says whether it is up)"),
        ),
        (mode, Some(ProbeOutcome::Live)) => Check::new(
            "probe",
            Verdict::Ok,
            format!("/healthz answers ({}){since}", mode.as_str()),
        ),
        (mode, Some(ProbeOutcome::Failed)) => Check::new(
            "probe",
            Verdict::Fail,
            format!("/healthz reached but not live ({}){since}: {detail}", mode.as_str()),
        )
        .fix("the gateway is up but not answering: read its log; clawkeeper restart restarts it"),
        (mode, Some(ProbeOutcome::Unreachable)) => Check::new(
            "probe",
            Verdict::Fail,
            format!("/healthz unreachable ({}){since}: {detail}", mode.as_str()),
        )
        .fix(
            "the reconciler's security group must reach the task on 18789, and the task's security group must \
             let it in (SecurityGroupId); for a probe_url, check that the URL answers from the VPC",
        ),
        (mode, None) => Check::new(
            "probe",
            Verdict::Warn,
            format!("no probe made yet ({}): {detail}", mode.as_str()),
        )
        .fix("a probe needs one RUNNING task: clawkeeper status shows what ECS says"),
    };
    check.of(gateway)
}

#[cfg(test)]
mod tests {
    use super::*;

    const TOPIC: &str = "arn:aws:sns:us-east-1:123456789012:t";

    fn sub(arn: &str) -> Subscription {
        Subscription {
            protocol: "email".into(),
            endpoint: "owner@example.com".into(),
            arn: arn.into(),
        }
    }

    #[test]
    fn subscriptions_must_be_confirmed() {
        assert_eq!(subscriptions(Ok(vec![]), TOPIC).verdict, Verdict::Fail);
        let pending = subscriptions(Ok(vec![sub("PendingConfirmation")]), TOPIC);
        assert_eq!(pending.verdict, Verdict::Fail);
        assert!(
            pending
                .fix
                .as_deref()
                .is_some_and(|f| f.contains("Subscription Confirmation"))
        );
        assert_eq!(
            subscriptions(Ok(vec![sub(&format!("{TOPIC}:1"))]), TOPIC).verdict,
            Verdict::Ok
        );
        let both = subscriptions(Ok(vec![sub(&format!("{TOPIC}:1")), sub("PendingConfirmation")]), TOPIC);
        assert_eq!(both.verdict, Verdict::Warn);
        assert_eq!(subscriptions(Err("denied".into()), TOPIC).verdict, Verdict::Fail);
    }

    fn alarm(name: &str, enabled: bool, actions: &[&str], state: &str) -> Alarm {
        Alarm {
            name: name.into(),
            actions_enabled: enabled,
            alarm_actions: actions.iter().map(|a| a.to_string()).collect(),
            state: state.into(),
        }
    }

    #[test]
    fn every_alarm_must_exist_and_notify_the_topic() {
        let names = vec!["s-heartbeat".to_string(), "s-dead-letters".to_string()];
        let good = vec![
            alarm("s-heartbeat", true, &[TOPIC], "OK"),
            alarm("s-dead-letters", true, &[TOPIC], "OK"),
        ];
        assert_eq!(alarms(&names, Ok(good.clone()), TOPIC).verdict, Verdict::Ok);
        let missing = alarms(&names, Ok(good[..1].to_vec()), TOPIC);
        assert_eq!(missing.verdict, Verdict::Fail);
        assert!(
            missing.detail.contains("s-dead-letters does not exist"),
            "{}",
            missing.detail
        );
        let disabled = vec![good[0].clone(), alarm("s-dead-letters", false, &[TOPIC], "OK")];
        assert!(alarms(&names, Ok(disabled), TOPIC).detail.contains("disabled"));
        let elsewhere = vec![good[0].clone(), alarm("s-dead-letters", true, &["arn:other"], "OK")];
        assert_eq!(alarms(&names, Ok(elsewhere), TOPIC).verdict, Verdict::Fail);
        let firing = vec![good[0].clone(), alarm("s-dead-letters", true, &[TOPIC], "ALARM")];
        assert_eq!(alarms(&names, Ok(firing), TOPIC).verdict, Verdict::Warn);
        assert_eq!(alarms(&[], Ok(vec![]), TOPIC).verdict, Verdict::Skipped);
    }

    #[test]
    fn the_heartbeat_must_be_recent() {
        let now = 1_800_000_000;
        assert_eq!(heartbeat(Ok(Some(now - 90)), now).verdict, Verdict::Ok);
        assert_eq!(
            heartbeat(Ok(Some(now - HEARTBEAT_MAX_AGE_SECS - 1)), now).verdict,
            Verdict::Fail
        );
        assert_eq!(heartbeat(Ok(None), now).verdict, Verdict::Fail);
        assert_eq!(heartbeat(Err("x".into()), now).verdict, Verdict::Fail);
    }

    #[test]
    fn dead_letters_must_be_none() {
        assert_eq!(dead_letters(Some("q"), Ok(0)).verdict, Verdict::Ok);
        let waiting = dead_letters(Some("q"), Ok(3));
        assert_eq!(waiting.verdict, Verdict::Fail);
        assert!(waiting.fix.as_deref().is_some_and(|f| f.contains("purge-queue")));
        assert_eq!(dead_letters(None, Ok(0)).verdict, Verdict::Skipped);
    }

    #[test]
    fn a_snapshot_must_exist_and_be_fresh_when_snapshots_are_on() {
        let now = 1_800_000_000;
        let newest = |age: i64| Ok(Some(("20270115T080000Z-scheduled".to_string(), now - age)));
        assert_eq!(snapshot("home", 3600, newest(600), now).verdict, Verdict::Ok);
        assert_eq!(snapshot("home", 3600, newest(7201), now).verdict, Verdict::Fail);
        let none = snapshot("home", 3600, Ok(None), now);
        assert_eq!(none.verdict, Verdict::Fail);
        assert_eq!(none.fix.as_deref(), Some("take one now: clawkeeper snapshot home"));
        assert_eq!(snapshot("home", 0, Ok(None), now).verdict, Verdict::Skipped);
    }

    #[test]
    fn probes_say_whether_the_gateway_answers() {
        let status = |mode, outcome| ProbeStatus {
            mode,
            reason: None,
            last_outcome: outcome,
            last_detail: Some("connection refused".into()),
            since: Some(1_800_000_000),
            ..ProbeStatus::default()
        };
        assert_eq!(probe("home", None).verdict, Verdict::Warn);
        assert_eq!(
            probe("home", Some(&status(ProbeMode::TaskIp, Some(ProbeOutcome::Live)))).verdict,
            Verdict::Ok
        );
        let unreachable = probe(
            "home",
            Some(&status(ProbeMode::TaskIp, Some(ProbeOutcome::Unreachable))),
        );
        assert_eq!(unreachable.verdict, Verdict::Fail);
        assert!(unreachable.fix.as_deref().is_some_and(|f| f.contains("18789")));
        assert_eq!(
            probe("home", Some(&status(ProbeMode::Unavailable, None))).verdict,
            Verdict::Skipped
        );
        assert_eq!(
            probe("home", Some(&status(ProbeMode::ProbeUrl, None))).verdict,
            Verdict::Warn
        );
    }
}
