//! Which snapshots a gateway has: the sidecars under `<gateway>/snapshots/`, newest first. A
//! snapshot exists only when its sidecar does (an archive is uploaded first, its sidecar last), so
//! every reader (the reconciler's freshness check, `control snapshots`, restore's `latest`,
//! retention) lists the same way, through here.

use clawkeeper_core::aws_error::AwsError;
use clawkeeper_core::objects::ObjectInfo;
use clawkeeper_core::ports::ObjectStore;

use crate::layout::{archive_key_of_sidecar, parse_snapshot_key, snapshots_prefix};

/// One listed snapshot.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Listed {
    /// When it was taken (the stamp in its key), in epoch milliseconds.
    pub taken_at_millis: i64,
    /// `<stamp>-<trigger>`: what owners type to restore it.
    pub name: String,
    /// The sidecar's S3 key.
    pub sidecar_key: String,
}

/// The gateway's snapshots, newest first (ties broken by name, also newest first).
pub async fn newest_first<O: ObjectStore>(objects: &O, gateway: &str) -> Result<Vec<Listed>, AwsError> {
    Ok(listed_newest_first(objects.list(&snapshots_prefix(gateway)).await?))
}

/// Why [`resolve`] found no snapshot.
#[derive(Debug, thiserror::Error)]
pub enum Unresolved {
    /// What was asked can name no snapshot of this gateway (a key under another prefix, `..`).
    #[error("snapshot {wanted:?} must be `latest`, a snapshot name, or an archive or sidecar key under {prefix}")]
    Refused { wanted: String, prefix: String },
    /// It could, but the gateway has no such snapshot; `newest` names the newest few it has.
    #[error("unknown snapshot {wanted:?} of gateway {gateway}")]
    Unknown {
        wanted: String,
        gateway: String,
        newest: Vec<String>,
    },
    /// The store could not be listed.
    #[error(transparent)]
    Store(#[from] AwsError),
}

/// How many names an [`Unresolved::Unknown`] suggests.
const SUGGESTED: usize = 5;

/// What [`resolve`] found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Resolved {
    /// The snapshot's name (`<stamp>-<trigger>`), or the archive's file name without `.tar.gz`.
    pub name: String,
    /// The archive's key.
    pub archive_key: String,
    /// The listed snapshot (with its sidecar); `None` for an archive named by its key that has no
    /// sidecar, such as an OpenClaw backup copied under the prefix: its reader verifies it.
    pub listed: Option<Listed>,
}

/// The snapshot an owner asked for: `latest`, a name (`<stamp>-<trigger>`), or its archive or
/// sidecar key under the gateway's snapshots prefix. Every reader (control before it pauses
/// anything, the restore function before it downloads) resolves through here, by the same rules.
pub async fn resolve<O: ObjectStore>(objects: &O, gateway: &str, wanted: &str) -> Result<Resolved, Unresolved> {
    let name = wanted_name(gateway, wanted)?;
    let listed = newest_first(objects, gateway).await?;
    let found = match &name {
        None => listed.first(),
        Some(name) => listed.iter().find(|l| &l.name == name),
    };
    if let Some(found) = found {
        return Ok(Resolved {
            name: found.name.clone(),
            archive_key: archive_key_of_sidecar(&found.sidecar_key).unwrap_or_default(),
            listed: Some(found.clone()),
        });
    }
    if let Some(name) = name
        && wanted.contains('/')
        && wanted.ends_with(".tar.gz")
    {
        return Ok(Resolved {
            name,
            archive_key: wanted.to_string(),
            listed: None,
        });
    }
    Err(Unresolved::Unknown {
        wanted: wanted.to_string(),
        gateway: gateway.to_string(),
        newest: listed.iter().take(SUGGESTED).map(|l| l.name.clone()).collect(),
    })
}

/// The name `wanted` stands for (`None`: the newest), or why it names nothing of `gateway`.
fn wanted_name(gateway: &str, wanted: &str) -> Result<Option<String>, Unresolved> {
    if wanted == "latest" {
        return Ok(None);
    }
    let prefix = snapshots_prefix(gateway);
    let refused = || Unresolved::Refused {
        wanted: wanted.to_string(),
        prefix: prefix.clone(),
    };
    let file = if wanted.contains('/') {
        wanted.strip_prefix(&prefix).ok_or_else(refused)?
    } else {
        wanted
    };
    let name = file
        .strip_suffix(".tar.gz")
        .or_else(|| file.strip_suffix(".json"))
        .unwrap_or(file);
    if name.is_empty() || name.contains('/') || name == ".." || name.starts_with('_') {
        return Err(refused());
    }
    Ok(Some(name.to_string()))
}

fn listed_newest_first(objects: Vec<ObjectInfo>) -> Vec<Listed> {
    let mut listed: Vec<Listed> = objects
        .into_iter()
        .filter(|o| o.key.ends_with(".json"))
        .filter_map(|o| {
            let parsed = parse_snapshot_key(&o.key)?;
            let name = o.key.rsplit('/').next()?.strip_suffix(".json")?.to_string();
            Some(Listed {
                taken_at_millis: parsed.taken_at_millis,
                name,
                sidecar_key: o.key,
            })
        })
        .collect();
    listed.sort_by(|a, b| {
        b.taken_at_millis
            .cmp(&a.taken_at_millis)
            .then_with(|| b.name.cmp(&a.name))
    });
    listed
}

#[cfg(test)]
mod tests {
    use super::*;

    fn object(key: &str, last_modified_millis: Option<i64>) -> ObjectInfo {
        ObjectInfo {
            key: key.into(),
            size: 1,
            last_modified_millis,
        }
    }

    #[test]
    fn a_snapshot_is_named_by_name_key_or_latest_and_only_under_its_gateway() {
        let name = |w: &str| wanted_name("home", w).map_err(|e| e.to_string());
        assert_eq!(name("latest"), Ok(None));
        for wanted in [
            "20261201T100000Z-manual",
            "20261201T100000Z-manual.tar.gz",
            "home/snapshots/20261201T100000Z-manual.tar.gz",
            "home/snapshots/20261201T100000Z-manual.json",
        ] {
            assert_eq!(name(wanted), Ok(Some("20261201T100000Z-manual".into())), "{wanted}");
        }
        for refused in [
            "other/snapshots/20261201T100000Z-manual.tar.gz",
            "home/snapshots/../x.tar.gz",
            "home/snapshots/a/b.tar.gz",
            "home/snapshots/.tar.gz",
            "home/snapshots/_status/last-check.json",
            "",
        ] {
            assert!(name(refused).is_err(), "{refused:?} accepted");
        }
    }

    #[test]
    fn sidecars_only_newest_first() {
        let listed = listed_newest_first(vec![
            object("home/snapshots/20261201T100000Z-scheduled.json", None),
            object("home/snapshots/20261201T100000Z-scheduled.tar.gz", None),
            object("home/snapshots/20261201T110000Z-manual.json", None),
            object("home/snapshots/_status/last-failure.json", None),
            object("home/snapshots/_status/last-check.json", Some(1)),
        ]);
        let names: Vec<&str> = listed.iter().map(|l| l.name.as_str()).collect();
        assert_eq!(names, ["20261201T110000Z-manual", "20261201T100000Z-scheduled"]);
    }
}
