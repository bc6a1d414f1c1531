//! The gateway registry: which gateways one stack watches, beyond the seeds of its environment.
//!
//! The environment's `CLAWKEEPER_GATEWAYS` (the template's single gateway among them) is the
//! seed list; `control register` adds a gateway at run time, `control unregister` stops watching
//! one (a seed is hidden by a tombstone; its snapshots and history are kept). Every function reads
//! the registry through [`FleetCache`] (`crates/core/src/fleet.rs`) and watches [`merge`]'s result.
//!
//! Registry items live in the state table under the partition `REGISTRY` (one `Query` reads them
//! all), apart from the gateways' own `GW#` partitions so that IAM can let every function read
//! the registry and only `control` write it. Owners are items of the same partition: each owner
//! email has one SNS subscription whose filter policy lists exactly that owner's gateways.

use serde_json::Value;

use crate::config::parse_gateway_object;
use crate::gateway::Gateway;

/// Longest list of gateways one owner's filter policy may hold: SNS allows 150 values in a filter
/// policy in all (the combination of every key's values), and this policy has one key.
pub const MAX_GATEWAYS_PER_OWNER: usize = 150;

/// One gateway registered at run time, as stored.
#[derive(Debug, Clone, PartialEq)]
pub struct Registration {
    /// The gateway id (the item's sort key `GW#<id>`).
    pub id: String,
    /// The gateway object, in the shape of one `CLAWKEEPER_GATEWAYS` element.
    pub gateway: Value,
    /// The owner told about this gateway alone, if any.
    pub owner_email: Option<String>,
    /// Epoch seconds of the registration.
    pub registered_at: i64,
    /// Who registered it (the caller as `control` records it).
    pub by: String,
    /// A tombstone: the seed of this id is not watched (unregistered), though the environment lists it.
    pub removed: bool,
}

/// One owner's routing: their SNS e-mail subscription and the gateways its filter lists.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OwnerRecord {
    /// The e-mail address, lower-cased (the item's sort key `OWNER#<email>`).
    pub email: String,
    /// The subscription's ARN (SNS returns one while the subscription waits for confirmation too).
    pub subscription_arn: Option<String>,
    /// The gateways the filter policy lists, sorted.
    pub gateways: Vec<String>,
    /// Epoch seconds of the last change.
    pub updated_at: i64,
}

/// Everything the registry holds.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct RegistryContents {
    /// Registered gateways and tombstones.
    pub registrations: Vec<Registration>,
    /// Owners with a subscription of their own.
    pub owners: Vec<OwnerRecord>,
}

/// Where a watched gateway comes from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Source {
    /// The environment (`CLAWKEEPER_GATEWAYS`), the template's gateway among them.
    Seed,
    /// `control register`.
    Registered,
}

impl Source {
    /// The word in answers.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Seed => "seed",
            Self::Registered => "registered",
        }
    }
}

/// One watched gateway and where it came from.
#[derive(Debug, Clone, PartialEq)]
pub struct Member {
    /// The gateway.
    pub gateway: Gateway,
    /// Seed or registered.
    pub source: Source,
    /// Its registration, when it has one (owner, time, who).
    pub registration: Option<Registration>,
}

/// The gateways a stack watches now.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Fleet {
    /// Seeds first (in the environment's order), then registered gateways by id.
    pub members: Vec<Member>,
    /// Owners with a subscription of their own.
    pub owners: Vec<OwnerRecord>,
    /// Registry items that could not be read as a gateway, each with why (never silently dropped:
    /// the reconciler reports them).
    pub problems: Vec<String>,
}

impl Fleet {
    /// The gateways, in order.
    pub fn gateways(&self) -> Vec<Gateway> {
        self.members.iter().map(|m| m.gateway.clone()).collect()
    }

    /// The member of this id.
    pub fn member(&self, id: &str) -> Option<&Member> {
        self.members.iter().find(|m| m.gateway.id == id)
    }
}

/// The fleet of `seeds` and the registry: a registration replaces the seed of its id (so an owner
/// can change a seed's probe URL without a redeploy), a tombstone hides it, and a registry item that
/// is not a valid gateway is reported in [`Fleet::problems`] and leaves a seed of its id in place.
pub fn merge(seeds: &[Gateway], contents: &RegistryContents) -> Fleet {
    let mut problems = Vec::new();
    let mut registered: Vec<Member> = Vec::new();
    let mut hidden: Vec<&str> = Vec::new();
    for registration in &contents.registrations {
        if registration.removed {
            hidden.push(&registration.id);
            continue;
        }
        if registration.gateway.is_null() {
            problems.push(format!(
                "registry item GW#{} holds no gateway and is no tombstone (register it again)",
                registration.id
            ));
            continue;
        }
        match parse_gateway_object(registration.gateway.clone()) {
            Ok(gateway) if gateway.id == registration.id => registered.push(Member {
                gateway,
                source: Source::Registered,
                registration: Some(registration.clone()),
            }),
            Ok(gateway) => problems.push(format!(
                "registry item GW#{} holds gateway {:?}: ignored (register it again)",
                registration.id, gateway.id
            )),
            Err(why) => problems.push(format!(
                "registry item GW#{} is not a valid gateway: {why} (register it again)",
                registration.id
            )),
        }
    }
    registered.sort_by(|a, b| a.gateway.id.cmp(&b.gateway.id));
    let mut members: Vec<Member> = seeds
        .iter()
        .filter(|seed| !hidden.contains(&seed.id.as_str()))
        .filter(|seed| !registered.iter().any(|r| r.gateway.id == seed.id))
        .map(|seed| Member {
            gateway: seed.clone(),
            source: Source::Seed,
            registration: None,
        })
        .collect();
    members.extend(registered);
    Fleet {
        members,
        owners: contents.owners.clone(),
        problems,
    }
}

/// The gateways `email` owns in `registrations` (tombstones aside), sorted: what their filter
/// policy must list.
pub fn gateways_of_owner(registrations: &[Registration], email: &str) -> Vec<String> {
    let mut ids: Vec<String> = registrations
        .iter()
        .filter(|r| !r.removed && r.owner_email.as_deref().is_some_and(|e| e.eq_ignore_ascii_case(email)))
        .map(|r| r.id.clone())
        .collect();
    ids.sort();
    ids.dedup();
    ids
}

/// The SNS filter policy (scope: message attributes) that passes exactly these gateways' notices.
/// Messages without a `gateway` attribute (CloudWatch alarms about clawkeeper itself) never match.
pub fn filter_policy(gateways: &[String]) -> String {
    serde_json::json!({ "gateway": gateways }).to_string()
}

/// An owner e-mail address as the registry keys it, or why it is not one.
pub fn normalize_email(email: &str) -> Result<String, String> {
    let email = email.trim();
    let valid = email.len() <= 254
        && !email.chars().any(|c| c.is_whitespace() || c.is_control())
        && email.split_once('@').is_some_and(|(local, domain)| {
            !local.is_empty()
                && !domain.contains('@')
                && domain.contains('.')
                && !domain.starts_with('.')
                && !domain.ends_with('.')
        });
    if valid {
        Ok(email.to_ascii_lowercase())
    } else {
        Err(format!("`owner_email` {email:?} is not an e-mail address"))
    }
}

/// What a registration must satisfy beyond the environment's own rules: the stack can watch only
/// gateways in its watched clusters (its IAM grants and its event rule are scoped to them), and can
/// read only token secrets under its prefix.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Admission {
    /// Cluster names the stack watches (`CLAWKEEPER_WATCHED_CLUSTERS`); empty: the seeds' clusters.
    pub clusters: Vec<String>,
    /// ARN prefix of the token secrets the reconciler may read (`CLAWKEEPER_TOKEN_SECRET_PREFIX`).
    pub token_secret_prefix: Option<String>,
}

/// The cluster name of a name or a cluster ARN (`arn:aws:ecs:<region>:<account>:cluster/<name>`).
pub fn cluster_name(cluster: &str) -> &str {
    cluster.rsplit_once(":cluster/").map_or(cluster, |(_, name)| name)
}

impl Admission {
    /// Checks `gateway` for registration; `seeds` are the environment's gateways (their clusters
    /// and secrets are the stack's own), `watched` every gateway watched now: no two gateways may
    /// share a state path, or the snapshot function would archive one's state under the other's
    /// name and a restore of one would replace the other's.
    pub fn check(&self, gateway: &Gateway, seeds: &[Gateway], watched: &[Gateway]) -> Result<(), String> {
        if let Some(other) = watched
            .iter()
            .find(|o| o.id != gateway.id && o.state_path() == gateway.state_path())
        {
            return Err(format!(
                "its state path {} is gateway {:?}'s; give it a `state_root` (or `state_dir`) of its own",
                gateway.state_path().display(),
                other.id
            ));
        }
        let watched: Vec<&str> = if self.clusters.is_empty() {
            seeds.iter().map(|s| cluster_name(&s.cluster)).collect()
        } else {
            self.clusters.iter().map(|c| cluster_name(c)).collect()
        };
        let cluster = cluster_name(&gateway.cluster);
        if !watched.contains(&cluster) {
            return Err(format!(
                "cluster {cluster:?} is not watched by this stack (watched: {}); its events do not reach \
                 clawkeeper and its role may not act there. Deploy a stack for that cluster.",
                if watched.is_empty() {
                    "none".to_string()
                } else {
                    watched.join(", ")
                }
            ));
        }
        if let Some(arn) = &gateway.token_secret_arn {
            let own = seeds
                .iter()
                .any(|s| s.token_secret_arn.as_deref() == Some(arn.as_str()));
            let under_prefix = self.token_secret_prefix.as_deref().is_some_and(|p| arn.starts_with(p));
            if !own && !under_prefix {
                return Err(format!(
                    "`token_secret_arn` must name a secret the stack may read: {}",
                    self.token_secret_prefix
                        .as_deref()
                        .map_or("the stack's own gateway token".to_string(), |p| format!("{p}<name>"))
                ));
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;
    use crate::gateway::GatewayTarget;

    fn seed(id: &str) -> Gateway {
        parse_gateway_object(json!({"id": id, "cluster": "openclaw", "service": format!("svc-{id}")})).expect("valid")
    }

    fn registration(id: &str, gateway: Value, owner: Option<&str>) -> Registration {
        Registration {
            id: id.into(),
            gateway,
            owner_email: owner.map(str::to_string),
            registered_at: 1_800_000_000,
            by: "test".into(),
            removed: false,
        }
    }

    #[test]
    fn registrations_join_the_seeds_replace_a_seed_of_their_id_and_tombstones_hide_one() {
        let seeds = [seed("home"), seed("office")];
        let contents = RegistryContents {
            registrations: vec![
                registration(
                    "zoe",
                    json!({"id":"zoe","cluster":"openclaw","service":"zoe"}),
                    Some("z@example.com"),
                ),
                registration(
                    "home",
                    json!({"id":"home","cluster":"openclaw","service":"svc-home","probe_url":"https://home.example.com"}),
                    None,
                ),
                registration(
                    "anna",
                    json!({"id":"anna","cluster":"openclaw","task_family":"anna"}),
                    None,
                ),
                Registration {
                    removed: true,
                    ..registration("office", Value::Null, None)
                },
            ],
            owners: vec![],
        };
        let fleet = merge(&seeds, &contents);
        let ids: Vec<(&str, Source)> = fleet
            .members
            .iter()
            .map(|m| (m.gateway.id.as_str(), m.source))
            .collect();
        assert_eq!(
            ids,
            [
                ("anna", Source::Registered),
                ("home", Source::Registered),
                ("zoe", Source::Registered)
            ]
        );
        assert_eq!(
            fleet.member("home").and_then(|m| m.gateway.probe_url.as_deref()),
            Some("https://home.example.com")
        );
        assert_eq!(
            fleet.member("anna").map(|m| m.gateway.target.clone()),
            Some(GatewayTarget::Standalone { family: "anna".into() })
        );
        assert!(fleet.problems.is_empty(), "{:?}", fleet.problems);
    }

    #[test]
    fn an_unreadable_registration_is_reported_and_leaves_the_seed_of_its_id() {
        let seeds = [seed("home")];
        let contents = RegistryContents {
            registrations: vec![
                registration("home", json!({"id":"home","cluster":"openclaw"}), None),
                registration("other", json!({"id":"else","cluster":"c","service":"s"}), None),
            ],
            owners: vec![],
        };
        let fleet = merge(&seeds, &contents);
        assert_eq!(fleet.gateways(), vec![seed("home")]);
        assert_eq!(fleet.problems.len(), 2, "{:?}", fleet.problems);
        assert!(fleet.problems[0].contains("GW#home") && fleet.problems[0].contains("neither `service`"));
        assert!(fleet.problems[1].contains("\"else\""));
    }

    #[test]
    fn a_gateway_reads_back_from_its_object_unchanged() {
        for value in [
            json!({"id":"a","cluster":"c","service":"s"}),
            json!({"id":"b","cluster":"c","task_family":"f","probe_url":"https://b.example.com",
                   "token_secret_arn":"arn:aws:secretsmanager:us-east-1:123456789012:secret:t-AbCdEf",
                   "log_group":"/ecs/b","state_root":"/mnt/b","state_dir":"state"}),
        ] {
            let gateway = parse_gateway_object(value).expect("valid");
            assert_eq!(parse_gateway_object(gateway.to_object()).expect("reads back"), gateway);
        }
    }

    #[test]
    fn an_owner_gets_exactly_their_gateways_in_the_filter_policy() {
        let regs = vec![
            registration("b", Value::Null, Some("Ann@Example.com")),
            registration("a", Value::Null, Some("ann@example.com")),
            registration("c", Value::Null, Some("bob@example.com")),
            Registration {
                removed: true,
                ..registration("d", Value::Null, Some("ann@example.com"))
            },
        ];
        let ann = gateways_of_owner(&regs, "ann@example.com");
        assert_eq!(ann, ["a", "b"]);
        assert_eq!(filter_policy(&ann), r#"{"gateway":["a","b"]}"#);
        assert!(gateways_of_owner(&regs, "carl@example.com").is_empty());
    }

    #[test]
    fn emails_are_checked_and_lower_cased() {
        assert_eq!(normalize_email(" Ann@Example.COM ").as_deref(), Ok("ann@example.com"));
        for bad in [
            "",
            "ann",
            "ann@",
            "@example.com",
            "ann@example",
            "a b@example.com",
            "a@b@c.com",
            "ann@.com",
        ] {
            assert!(normalize_email(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn admission_keeps_registrations_to_the_watched_clusters_readable_secrets_and_own_state_paths() {
        let seeds = [seed("home")];
        let admission = Admission {
            clusters: vec!["openclaw".into()],
            token_secret_prefix: Some("arn:aws:secretsmanager:us-east-1:123456789012:secret:clawkeeper/ck/".into()),
        };
        let gw = |value: Value| parse_gateway_object(value).expect("valid");
        let own_path =
            |id: &str| json!({"id": id, "cluster": "openclaw", "service": id, "state_root": format!("/mnt/{id}")});
        let check = |value: Value| admission.check(&gw(value), &seeds, &seeds);

        let arn_cluster = json!({"id":"a","cluster":"arn:aws:ecs:us-east-1:123456789012:cluster/openclaw",
            "service":"a","state_root":"/mnt/a"});
        assert!(check(arn_cluster).is_ok());
        let e =
            check(json!({"id":"a","cluster":"elsewhere","service":"a","state_root":"/mnt/a"})).expect_err("cluster");
        assert!(
            e.contains("\"elsewhere\" is not watched") && e.contains("openclaw"),
            "{e}"
        );

        let mut with_secret = own_path("a");
        with_secret["token_secret_arn"] =
            json!("arn:aws:secretsmanager:us-east-1:123456789012:secret:clawkeeper/ck/a-AbCdEf");
        assert!(check(with_secret.clone()).is_ok());
        with_secret["token_secret_arn"] = json!("arn:aws:secretsmanager:us-east-1:123456789012:secret:prod/db-AbCdEf");
        let e = check(with_secret).expect_err("foreign secret");
        assert!(e.contains("clawkeeper/ck/<name>"), "{e}");

        // Two gateways on one state path: one's snapshot would be the other's state.
        let e = check(json!({"id":"a","cluster":"openclaw","service":"a"})).expect_err("the seed's path");
        assert!(e.contains("gateway \"home\"'s") && e.contains("`state_root`"), "{e}");
        assert!(
            check(json!({"id":"home","cluster":"openclaw","service":"svc-home"})).is_ok(),
            "its own path"
        );

        // Without a list, the seeds' clusters are the watched ones.
        assert!(Admission::default().check(&gw(own_path("a")), &seeds, &seeds).is_ok());
        let elsewhere = json!({"id":"a","cluster":"x","service":"a","state_root":"/mnt/a"});
        assert!(Admission::default().check(&gw(elsewhere), &seeds, &seeds).is_err());
    }
}
