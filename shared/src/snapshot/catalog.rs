//! Which snapshots a gateway has: the sidecars under `<gateway>/snapshots/`, newest first. A
//! snapshot exists only when its sidecar does (an archive is uploaded first, its sidecar last), so
//! every reader (the reconciler's freshness check, `control snapshots`, restore's `latest`,
//! retention) lists the same way, through here.

use crate::aws_error::AwsError;
use crate::snapshot::layout::{last_check_key, parse_snapshot_key, snapshots_prefix};
use crate::snapshot::store::{ObjectInfo, ObjectStore};

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

/// When the gateway's state was last known to be saved, in epoch seconds, from one listing: the
/// newest snapshot, or a later "unchanged since the newest snapshot" check (a gateway whose state
/// does not change gets no new archive, and is not stale for it). `None` when it has neither.
pub async fn last_saved_at<O: ObjectStore>(objects: &O, gateway: &str) -> Result<Option<i64>, AwsError> {
    Ok(last_saved_at_of(
        gateway,
        objects.list(&snapshots_prefix(gateway)).await?,
    ))
}

fn last_saved_at_of(gateway: &str, objects: Vec<ObjectInfo>) -> Option<i64> {
    let check_key = last_check_key(gateway);
    let checked = objects
        .iter()
        .find(|o| o.key == check_key)
        .and_then(|o| o.last_modified_millis);
    let newest = listed_newest_first(objects).first().map(|l| l.taken_at_millis);
    // A check only counts once a snapshot exists: "unchanged since" needs something to be since.
    let millis = match (newest, checked) {
        (Some(newest), Some(checked)) => Some(newest.max(checked)),
        (newest, _) => newest,
    };
    millis.map(|m| m.div_euclid(1000))
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

    #[test]
    fn an_unchanged_check_after_the_newest_snapshot_keeps_the_state_fresh() {
        let snapshot = object("home/snapshots/20261201T100000Z-scheduled.json", None);
        let taken = listed_newest_first(vec![snapshot.clone()])[0].taken_at_millis;
        let later = taken + 7_200_000;
        let check = object("home/snapshots/_status/last-check.json", Some(later));
        assert_eq!(
            last_saved_at_of("home", vec![snapshot.clone(), check]),
            Some(later / 1000)
        );
        assert_eq!(last_saved_at_of("home", vec![snapshot.clone()]), Some(taken / 1000));
        let stale_check = object("home/snapshots/_status/last-check.json", Some(taken - 1000));
        assert_eq!(
            last_saved_at_of("home", vec![snapshot, stale_check]),
            Some(taken / 1000)
        );
        let orphan_check = object("home/snapshots/_status/last-check.json", Some(later));
        assert_eq!(
            last_saved_at_of("home", vec![orphan_check]),
            None,
            "no snapshot, nothing saved"
        );
    }
}
