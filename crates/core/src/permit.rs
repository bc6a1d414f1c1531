//! The stop permit: how the restore function knows, whoever invoked it, that no task of the
//! gateway runs.
//!
//! The restore function sits in the gateway's VPC to mount its volume, where asking ECS needs an
//! interface endpoint (about $7 a month per AZ) or a NAT gateway (about $32 a month). The state
//! table is reachable over a gateway endpoint, which is free. So `control`, after it paused the
//! service and saw ECS report no task that is running, pending or still stopping, writes a permit
//! to the table; only `control`'s role may write permits (the other roles' table grants are
//! scoped to the gateways' own items). The restore function takes the permit, deleting it in the
//! same call so it serves one restore only, and refuses unless it names the same gateway and
//! snapshot and is still fresh. A caller that can invoke the restore function but not write a
//! permit cannot make it restore onto a running gateway.

use serde::{Deserialize, Serialize};

/// How long a permit stays valid after `control` observed the stopped service: the restore
/// function is invoked right after, so anything older was left by a run that died.
pub const PERMIT_TTL_SECS: i64 = 120;

/// What `control` vouches for, and for what.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct StopPermit {
    /// The gateway whose tasks were all stopped.
    pub gateway: String,
    /// The one archive key this permit lets the restore function put in place.
    pub snapshot_key: String,
    /// Epoch seconds ECS was seen with no live task.
    pub observed_at: i64,
    /// Epoch seconds after which the permit is void.
    pub expires_at: i64,
    /// What was observed, in words (for the restore's log).
    pub observed: String,
    /// Who asked for the restore, as `control` recorded it.
    pub requested_by: String,
    /// The `control` invocation that issued it (its request id).
    pub issued_by_invocation: String,
}

impl StopPermit {
    /// A permit for restoring `snapshot_key` onto `gateway`, observed stopped at `now`.
    pub fn issue(
        gateway: &str,
        snapshot_key: &str,
        observed: impl Into<String>,
        requested_by: &str,
        invocation: &str,
        now: i64,
    ) -> Self {
        Self {
            gateway: gateway.to_string(),
            snapshot_key: snapshot_key.to_string(),
            observed_at: now,
            expires_at: now + PERMIT_TTL_SECS,
            observed: observed.into(),
            requested_by: requested_by.to_string(),
            issued_by_invocation: invocation.to_string(),
        }
    }

    /// Whether this permit lets a restore of `snapshot_key` onto `gateway` start at `now`.
    pub fn admits(&self, gateway: &str, snapshot_key: &str, now: i64) -> Result<(), PermitRefusal> {
        if self.gateway != gateway {
            return Err(PermitRefusal::OtherGateway {
                permit: self.gateway.clone(),
            });
        }
        if self.snapshot_key != snapshot_key {
            return Err(PermitRefusal::OtherSnapshot {
                permit: self.snapshot_key.clone(),
            });
        }
        if now > self.expires_at {
            return Err(PermitRefusal::Expired {
                observed_at: self.observed_at,
                age_secs: now - self.observed_at,
            });
        }
        // A permit from the future means clocks disagree by more than a lease's skew: not trusted.
        if self.observed_at > now + 5 {
            return Err(PermitRefusal::FromTheFuture {
                observed_at: self.observed_at,
            });
        }
        Ok(())
    }
}

/// Why the restore function will not start.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PermitRefusal {
    /// No permit (never issued, or already used).
    #[error(
        "no stop permit for this gateway: only `control` issues one, after it paused the service and ECS showed \
         no task running, pending or stopping; restore through `clawkeeper restore <gateway> <snapshot>`"
    )]
    Missing,
    /// The permit is for another gateway.
    #[error("the stop permit is for gateway {permit:?}")]
    OtherGateway { permit: String },
    /// The permit is for another snapshot.
    #[error("the stop permit is for snapshot {permit}, not this one: run the restore again through `control`")]
    OtherSnapshot { permit: String },
    /// The permit is too old to vouch for the service any more.
    #[error(
        "the stop permit is {age_secs} s old (observed at {observed_at}); a task may have started since: run the \
         restore again through `control`"
    )]
    Expired { observed_at: i64, age_secs: i64 },
    /// The permit says it was observed later than now.
    #[error("the stop permit was observed at {observed_at}, later than this function's clock: refused")]
    FromTheFuture { observed_at: i64 },
}

#[cfg(test)]
mod tests {
    use super::*;

    fn permit() -> StopPermit {
        StopPermit::issue("gw", "gw/snapshots/a.tar.gz", "no live task", "alice", "req-1", 1_000)
    }

    #[test]
    fn a_fresh_permit_for_the_same_gateway_and_snapshot_admits() {
        assert_eq!(permit().admits("gw", "gw/snapshots/a.tar.gz", 1_000), Ok(()));
        assert_eq!(
            permit().admits("gw", "gw/snapshots/a.tar.gz", 1_000 + PERMIT_TTL_SECS),
            Ok(())
        );
    }

    #[test]
    fn another_gateway_another_snapshot_an_old_or_future_permit_is_refused() {
        let p = permit();
        assert!(matches!(
            p.admits("other", "gw/snapshots/a.tar.gz", 1_000),
            Err(PermitRefusal::OtherGateway { .. })
        ));
        assert!(matches!(
            p.admits("gw", "gw/snapshots/b.tar.gz", 1_000),
            Err(PermitRefusal::OtherSnapshot { .. })
        ));
        assert!(matches!(
            p.admits("gw", "gw/snapshots/a.tar.gz", 1_001 + PERMIT_TTL_SECS),
            Err(PermitRefusal::Expired { age_secs: 121, .. })
        ));
        assert!(matches!(
            p.admits("gw", "gw/snapshots/a.tar.gz", 900),
            Err(PermitRefusal::FromTheFuture { .. })
        ));
    }

    #[test]
    fn a_permit_reads_back_as_written() {
        let p = permit();
        let back: StopPermit = serde_json::from_str(&serde_json::to_string(&p).expect("json")).expect("read");
        assert_eq!(back, p);
    }
}
